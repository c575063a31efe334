#!/usr/bin/env bash
# Installs every system package placehub needs to build, test and run on a
# fresh Debian 12 (bookworm) machine. Idempotent: packages already present are
# skipped, so the README commands can call it every time.
#
# Usage: scripts/install-deps.sh [--check] [--browser]
#   --check     only report what is missing; exit 1 if anything is.
#   --browser   the packages of the browser tests instead (the console and
#               the status pages
#               in headless Chromium: chromium, chromium-driver).
#               Only the test set-up that runs those tests asks for them;
#               building, `make demo` and the other tests never need a browser.
set -euo pipefail

check=0 browser=0
for argument in "$@"; do
  case "$argument" in
    --check) check=1 ;;
    --browser) browser=1 ;;
    -h|--help) awk 'NR > 1 && /^#/ {sub(/^# ?/, ""); print; next} NR > 1 {exit}' "$0"; exit 0 ;;
    *) echo "install-deps: unknown option '$argument' (try --help)" >&2; exit 2 ;;
  esac
done

PACKAGES=(
  # toolchain
  build-essential clang pkg-config make
  # libraries the C code links against
  libavro-dev libcurl4-openssl-dev libjansson-dev libyaml-dev
  libmicrohttpd-dev uuid-dev libssl-dev libsqlite3-dev
  # librdkafka is built from a pinned release by scripts/librdkafka.sh (Debian
  # 12's 2.0.2 starves consumers, see that script); these are what it needs,
  # cargo to fetch its source (tools/librdkafka/Cargo.toml)
  zlib1g-dev libzstd-dev cargo
  # unit tests, sanitizers, fuzzing
  libcmocka-dev libclang-rt-14-dev valgrind clang-format
  # the real Kafka broker is a Java program fetched through Maven
  openjdk-17-jre-headless maven
  # integration tests are driven from Python
  python3 python3-venv python3-pip
  curl ca-certificates openssl
  # promtool, for `make test-alerts` (the alert rules and their unit tests);
  # Debian ships it in the server's package, whose service is stopped below
  prometheus
)
# Debian 12's browser and its WebDriver, for the browser tests alone.
BROWSER_PACKAGES=(chromium chromium-driver)
if [ "$browser" = 1 ]; then PACKAGES=("${BROWSER_PACKAGES[@]}"); fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done

# Java, Maven and cargo may come from outside Debian (SDKMAN, Temurin,
# rustup): accept them.
filtered=()
for pkg in "${missing[@]}"; do
  case "$pkg" in
    openjdk-17-jre-headless) command -v java >/dev/null 2>&1 && continue ;;
    maven) command -v mvn >/dev/null 2>&1 && continue ;;
    # A cargo of the user's own (rustup) is used by scripts/librdkafka.sh.
    cargo) command -v cargo >/dev/null 2>&1 && continue ;;
    python3|python3-venv|python3-pip) command -v python3 >/dev/null 2>&1 && python3 -m venv --help >/dev/null 2>&1 && continue ;;
    # Only promtool is used: one from prometheus.io's tarball will do.
    prometheus) command -v promtool >/dev/null 2>&1 && continue ;;
  esac
  filtered+=("$pkg")
done
missing=("${filtered[@]}")

if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

if [ "$check" = 1 ]; then
  echo "missing packages: ${missing[*]}" >&2
  exit 1
fi

echo "install-deps: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
# The package lists of a fresh machine are empty or stale: refresh once.
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"

# The prometheus package starts a Prometheus server where systemd runs; we
# wanted promtool only, and the server would hold port 9090, which
# docker-compose.yml's Prometheus publishes. Stop what we just installed.
if [[ " ${missing[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
  $SUDO systemctl disable --now prometheus.service >/dev/null 2>&1 || true
fi
