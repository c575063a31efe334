#!/usr/bin/env bash
# Builds the librdkafka that placehub links, a pinned upstream release, into
# the cache as a static library. The Makefile runs it before the first
# compile; once built it is reused.
#
# Why not Debian 12's librdkafka-dev (2.0.2): once a partition's local queue
# reaches queued.max.messages.kbytes, that consumer's broker thread stops
# fetching it until its next fixed one-second turn, however fast the queue is
# drained. A dispatch partner then gets events for 300-500 ms and none for
# 400-700 ms (measured, docs/performance.md). librdkafka 2.3.0 added
# fetch.queue.backoff.ms, which dispatch sets to a few milliseconds.
#
# The source is the upstream release tree as vendored in the rdkafka-sys crate
# on crates.io, a registry every placehub build machine can reach, checked
# against the SHA-256 below before anything of it is built.
#
# Usage: scripts/librdkafka.sh [--print-prefix | --help]
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION=2.12.1
CRATE="rdkafka-sys-4.10.0+$VERSION"
SHA256=e234cf318915c1059d4921ef7f75616b5219b10b46e9f3a511a15eb4b56a3f77
URL="https://static.crates.io/crates/rdkafka-sys/$CRATE.crate"
PLACEHUB_CACHE="${PLACEHUB_CACHE:-$REPO/.cache}"
PREFIX="$PLACEHUB_CACHE/librdkafka-$VERSION"
# Written last: a half-finished build is redone, never used.
DONE="$PREFIX/.complete"

case "${1:-}" in
  --print-prefix)
    echo "$PREFIX"
    exit 0
    ;;
  -h | --help)
    cat <<EOF
Usage: scripts/librdkafka.sh [--print-prefix]

Downloads librdkafka $VERSION (the source tree vendored in the crates.io crate
$CRATE), checks its SHA-256, and builds it into
  $PREFIX
as a static library (lib/librdkafka.a, include/librdkafka/). Does nothing if
that is already done. Needs a C compiler, make, and the -dev packages of
OpenSSL, zlib and zstd (scripts/install-deps.sh installs them).

  --print-prefix   print the install folder and exit
Settings: PLACEHUB_CACHE (default .cache in the repository) holds the
download and the build. Delete $PREFIX to rebuild.
EOF
    exit 0
    ;;
  "") ;;
  *)
    echo "librdkafka.sh: unknown argument '$1' (try --help)" >&2
    exit 2
    ;;
esac

if [ -f "$DONE" ]; then
  exit 0
fi

downloads="$PLACEHUB_CACHE/downloads"
archive="$downloads/$CRATE.crate"
mkdir -p "$downloads"
if [ ! -f "$archive" ]; then
  echo "librdkafka: downloading $VERSION from $URL" >&2
  curl --fail --silent --show-error --location --retry 3 --retry-delay 2 \
    -o "$archive.part" "$URL"
  mv "$archive.part" "$archive"
fi
actual="$(sha256sum "$archive" | cut -d' ' -f1)"
if [ "$actual" != "$SHA256" ]; then
  rm -f "$archive"
  echo "librdkafka: $archive has SHA-256 $actual, expected $SHA256;" \
    "the download was deleted, run again to fetch it anew" >&2
  exit 1
fi

work="$(mktemp -d "$PLACEHUB_CACHE/librdkafka-build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
tar -xzf "$archive" -C "$work" "$CRATE/librdkafka"
src="$work/$CRATE/librdkafka"

echo "librdkafka: building $VERSION into $PREFIX (about a minute on 2 cores)" >&2
rm -rf "$PREFIX"
log="$work/build.log"
# SSL for TLS and SCRAM, zstd so events compressed that way by any producer
# can be read; lz4 and snappy are built in. No GSSAPI (placehub offers PLAIN
# and SCRAM) and no libcurl inside librdkafka (only its OIDC token fetch uses
# it, which placehub does not offer).
if ! (cd "$src" &&
  ./configure --prefix="$PREFIX" --enable-ssl --enable-zstd --disable-gssapi \
    --disable-curl --disable-lz4-ext &&
  make -j"$(nproc)" libs &&
  make -C src install) >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  echo "librdkafka: the build failed (above: the end of its log). Missing" \
    "headers usually mean missing -dev packages: run scripts/install-deps.sh" >&2
  exit 1
fi
# Static linking only: the services must not pick up an older shared
# librdkafka from the system at run time.
rm -f "$PREFIX"/lib/librdkafka*.so*
touch "$DONE"
echo "librdkafka: $VERSION ready in $PREFIX" >&2
