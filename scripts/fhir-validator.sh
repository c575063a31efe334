#!/usr/bin/env bash
# Builds and runs tools/fhir-validator: HAPI FHIR's R4 instance validator,
# offline, as a long-running process the integration tests start once
# (tests/integration/fhir_validator.py). Run with --help for the commands.
#
# The jars are fetched by Maven (through tools/fhir-validator/pom.xml, into
# Maven's own local repository, ~/.m2, as scripts/kafka.sh does for Kafka)
# and the result is cached under $PLACEHUB_CACHE/fhir-validator:
#   lib-<checksum of pom.xml>/   the dependencies (~145 MB), per pom
#   <checksum of the project>.jar the validator itself, per pom and sources
# so a fresh clone builds once, and later runs need neither Maven nor the
# network.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PROJECT="$REPO/tools/fhir-validator"
PLACEHUB_CACHE="${PLACEHUB_CACHE:-$REPO/.cache}"
CACHE="$PLACEHUB_CACHE/fhir-validator"
PROG="scripts/fhir-validator.sh"
MAIN_CLASS="org.placehub.fhirvalidator.Main"

usage() {
  cat <<EOF
Usage: $PROG <command> [FILE...]

Commands:
  build       Build the validator with Maven into the cache, unless it is
              there already; print the classpath. Safe to run concurrently.
  run [FILE]  build if needed, then validate: each FILE (one JSON answer
              line each, exit 1 if any has an error), or without FILE one
              resource per line of standard input, one answer per line.
  help        This text.

An answer: {"ok":bool,"millis":N,"errors":[{"location":..,"message":..}],
"warnings":[...]}. Base FHIR R4 only (no UK Core profiles).

Settings: PLACEHUB_CACHE (default .cache), JAVA_HOME (Java 17 or newer),
FHIR_VALIDATOR_JAVA_OPTS (default -Xmx1g -XX:+UseSerialGC -XX:TieredStopAtLevel=1).
EOF
}

die() {
  echo "fhir-validator: $*" >&2
  exit 1
}

sum_of() { cat "$@" | sha256sum | cut -c1-16; }

set_paths() {
  [ -f "$PROJECT/pom.xml" ] || die "no $PROJECT/pom.xml"
  local sources
  mapfile -t sources < <(find "$PROJECT/src" -type f | LC_ALL=C sort)
  LIB="$CACHE/lib-$(sum_of "$PROJECT/pom.xml")"
  JAR="$CACHE/$(sum_of "$PROJECT/pom.xml" "${sources[@]}").jar"
}

need_java() {
  JAVA="java"
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
    JAVA="$JAVA_HOME/bin/java"
  fi
  command -v "$JAVA" >/dev/null 2>&1 ||
    die "java not found: Java 17 or newer is needed. On Debian run scripts/install-deps.sh, or set JAVA_HOME."
}

built() { [ -f "$JAR" ] && [ -f "$LIB/.complete" ]; }

cmd_build() {
  set_paths
  need_java
  if ! built; then
    mkdir -p "$CACHE"
    # Test workers starting together share the cache: one builds, the others
    # wait for it and then find the result.
    exec 8>"$CACHE/.build.lock"
    flock 8
    built || build_now
    exec 8>&-
  fi
  echo "$JAR:$LIB/*"
}

build_now() { # under the lock
  command -v mvn >/dev/null 2>&1 ||
    die "mvn not found: it fetches HAPI FHIR. On Debian run scripts/install-deps.sh (installs maven)."
  local work out start=$SECONDS
  # Built in a copy, so the source tree gets no target/ folder and two
  # checkouts sharing the cache do not build in each other's way.
  work="$(mktemp -d "$CACHE/build.XXXXXX")"
  out="$CACHE/build.log"
  echo "fhir-validator: building with Maven (HAPI FHIR; the first time fetches ~145 MB)" >&2
  cp -r "$PROJECT/pom.xml" "$PROJECT/src" "$work/"
  if ! mvn -q -B -f "$work/pom.xml" package dependency:copy-dependencies >"$out" 2>&1; then
    tail -n 40 "$out" >&2
    rm -rf "$work"
    die "the Maven build failed (full output: $out)"
  fi
  if [ ! -f "$LIB/.complete" ]; then
    rm -rf "$LIB"
    mv "$work/target/lib" "$LIB"
    touch "$LIB/.complete"
  fi
  mv "$work/target/fhir-validator.jar" "$JAR"
  rm -rf "$work"
  echo "fhir-validator: built in $((SECONDS - start)) s: $JAR" >&2
}

cmd_run() {
  local classpath
  classpath="$(cmd_build)"
  need_java
  # The client compiler only: on the 2-core machine the first validation
  # comes sooner and a test session's Bundles cost a fifth less CPU
  # than with the server compiler, for a few more milliseconds each.
  # shellcheck disable=SC2086  # several flags
  exec "$JAVA" ${FHIR_VALIDATOR_JAVA_OPTS:--Xmx1g -XX:+UseSerialGC -XX:TieredStopAtLevel=1} \
    -Dorg.slf4j.simpleLogger.defaultLogLevel=warn \
    -cp "$classpath" "$MAIN_CLASS" "$@"
}

case "${1:-}" in
  build) cmd_build ;;
  run) shift; cmd_run "$@" ;;
  ""|-h|--help|help) usage ;;
  *)
    echo "fhir-validator: unknown command '$1'" >&2
    usage >&2
    exit 2
    ;;
esac
