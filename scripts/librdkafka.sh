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
# The source is the upstream release tree as vendored in the rdkafka-sys
# crate. cargo fetches it: tools/librdkafka/ is a manifest that depends on
# nothing but that crate, and its committed Cargo.lock holds the SHA-256 of
# every crate fetched, which cargo checks (`--locked`: it refuses to change
# the lock). No registry address is written here: cargo's own configuration
# decides where crates come from, so a mirror or vendored source set up for
# cargo is used as is.
#
# Usage: scripts/librdkafka.sh [--print-prefix | --help]
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VERSION=2.12.1
# The rdkafka-sys release that vendors $VERSION; Cargo.lock must resolve to
# exactly this (checked below, so a half-done bump fails loudly).
CRATE_VERSION="4.10.0+$VERSION"
MANIFEST="$REPO/tools/librdkafka/Cargo.toml"
CARGO="${CARGO:-cargo}"
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

Builds librdkafka $VERSION into
  $PREFIX
as a static library (lib/librdkafka.a, include/librdkafka/). Does nothing if
that is already done.

The source is the librdkafka/ folder of the rdkafka-sys $CRATE_VERSION crate,
fetched by cargo through tools/librdkafka/Cargo.toml with
'cargo fetch --locked': cargo checks each crate it downloads against the
SHA-256 in tools/librdkafka/Cargo.lock and refuses a lock that does not
match the manifest. 'cargo metadata' then says where the crate was unpacked.
Crates come from wherever cargo is configured to take them (its default
registry, or a mirror or vendored source set in CARGO_HOME/config.toml).

Needs cargo, a C compiler, make, python3 and the -dev packages of OpenSSL,
zlib and zstd (scripts/install-deps.sh installs them all).

  --print-prefix   print the install folder and exit
Settings:
  PLACEHUB_CACHE   holds the build (default .cache in the repository);
                   delete $PREFIX to rebuild
  CARGO_HOME       where cargo keeps what it downloads (cargo's default:
                   ~/.cargo)
  CARGO            the cargo to run (default: cargo on PATH)
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

if ! command -v "$CARGO" >/dev/null 2>&1; then
  echo "librdkafka: cargo not found ('$CARGO'); it fetches librdkafka's source." \
    "Run scripts/install-deps.sh (installs Debian's cargo) or set CARGO" >&2
  exit 1
fi
if ! command -v python3 >/dev/null 2>&1; then
  echo "librdkafka: python3 not found (it reads cargo metadata's JSON);" \
    "run scripts/install-deps.sh" >&2
  exit 1
fi

# Debian 12's cargo (1.65) predates the sparse protocol (stable in 1.68) and
# would clone crates.io's whole git index, hundreds of MB, from GitHub, to
# fetch 20 small crates. It has the protocol behind an unstable switch:
# turn that on for these cargo runs only, unless the user chose a protocol.
cargo_env=()
cargo_minor="$("$CARGO" --version 2>/dev/null | sed -n 's/^cargo 1\.\([0-9]*\)\..*/\1/p' || true)"
if [ -n "$cargo_minor" ] && [ "$cargo_minor" -lt 68 ] &&
  [ -z "${CARGO_REGISTRIES_CRATES_IO_PROTOCOL:-}" ]; then
  cargo_env=(RUSTC_BOOTSTRAP=1 CARGO_UNSTABLE_SPARSE_REGISTRY=true)
fi
run_cargo() {
  env "${cargo_env[@]}" "$CARGO" "$@" --manifest-path "$MANIFEST" --locked
}

echo "librdkafka: fetching rdkafka-sys $CRATE_VERSION with cargo into" \
  "${CARGO_HOME:-$HOME/.cargo} (about 7 MB, checked against" \
  "tools/librdkafka/Cargo.lock; seconds if already there)" >&2
if ! run_cargo fetch; then
  echo "librdkafka: cargo could not fetch rdkafka-sys $CRATE_VERSION (its" \
    "message above). Check the network and proxy (cargo reads" \
    "https_proxy and CARGO_HTTP_PROXY), that CARGO_HOME" \
    "(${CARGO_HOME:-$HOME/.cargo}) is writable, and, after a checksum or lock" \
    "file error, that tools/librdkafka/Cargo.lock is the committed one" >&2
  exit 1
fi

# The crate's folder, from cargo itself rather than a guess at its layout.
if ! metadata="$(run_cargo metadata --offline --format-version 1)"; then
  echo "librdkafka: cargo metadata failed after a successful fetch (above)" >&2
  exit 1
fi
crate_manifest="$(printf '%s' "$metadata" | python3 -c '
import json, sys
want = sys.argv[1]
for package in json.load(sys.stdin)["packages"]:
    if package["name"] == "rdkafka-sys":
        if package["version"] != want:
            sys.exit("librdkafka: tools/librdkafka/Cargo.lock resolves rdkafka-sys "
                     + package["version"] + ", scripts/librdkafka.sh expects " + want
                     + ": bump both together")
        print(package["manifest_path"])
        break
else:
    sys.exit("librdkafka: cargo metadata lists no rdkafka-sys package")
' "$CRATE_VERSION")"
crate_source="$(dirname "$crate_manifest")/librdkafka"
if [ ! -x "$crate_source/configure" ]; then
  echo "librdkafka: $crate_source/configure is missing: the crate's unpacked" \
    "copy under CARGO_HOME is incomplete; delete" \
    "$(dirname "$crate_manifest") and run again" >&2
  exit 1
fi

# Built in a copy: configure and make write into the tree, and cargo's
# unpacked crates must stay as cargo checked them.
mkdir -p "$PLACEHUB_CACHE"
work="$(mktemp -d "$PLACEHUB_CACHE/librdkafka-build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
cp -R "$crate_source" "$work/librdkafka"
src="$work/librdkafka"

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
