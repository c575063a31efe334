#!/usr/bin/env bash
# Creates (or refreshes) the Python virtual environment the integration tests
# and the demo use, at .cache/venv, from tests/requirements.txt. Re-installs
# only when the requirements file changed. Prints nothing when up to date.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${PLACEHUB_CACHE:-$REPO/.cache}/venv"
REQUIREMENTS="$REPO/tests/requirements.txt"
STAMP="$VENV/.requirements.sha256"

want="$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)"
if [ -x "$VENV/bin/python" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  exit 0
fi
if ! python3 -m venv --help >/dev/null 2>&1; then
  echo "pyenv: python3 with the venv module is needed: run scripts/install-deps.sh" >&2
  exit 1
fi
echo "pyenv: installing test dependencies into $VENV" >&2
python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
"$VENV/bin/python" -m pip install -q -r "$REQUIREMENTS"
echo "$want" > "$STAMP"
