#!/bin/sh
# Builds or updates .venv from a lock: `scripts/setup_venv.sh runtime|dev` (the Makefile runs it).
#
#   runtime  requirements.lock: what `make run` serves with (about 50 packages)
#   dev      requirements-dev.lock (runtime + tools, same versions) and HipFix itself,
#            editable, for `hipfix`, the tests and the tools
#
# uv installs when it can be had: on PATH, or bootstrapped once into .tools/uv with pip (the
# version and hashes pinned in requirements-dev.lock); it fetches and installs the runtime
# lock in a few seconds where pip takes over a minute. pip does the same job otherwise.
set -eu

kind=${1:?usage: setup_venv.sh runtime|dev}
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv}
TOOLS=.tools
case "$kind" in
  runtime) lock=requirements.lock ;;
  dev) lock=requirements-dev.lock ;;
  *) echo "setup_venv.sh: runtime or dev, not $kind" >&2; exit 2 ;;
esac

"$PYTHON" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "HipFix needs Python 3.11 or newer (set PYTHON=python3.11)")'

uv=$(command -v uv || true)
if [ -z "$uv" ] && [ ! -x "$TOOLS/uv/bin/uv" ]; then
  mkdir -p "$TOOLS"
  # uv's own entry of the dev lock: its pinned version and hashes.
  awk '/^[^ #]/ { on = /^uv==/ } on' requirements-dev.lock >"$TOOLS/uv.lock"
  # -qq: errors only (this machine's pip configuration warns about its index folders).
  "$PYTHON" -m pip install -qq --disable-pip-version-check --require-hashes --no-deps \
    --target "$TOOLS/uv" -r "$TOOLS/uv.lock" ||
    echo "setup: could not bootstrap uv; installing with pip (slower)"
fi
[ -z "$uv" ] && [ -x "$TOOLS/uv/bin/uv" ] && uv="$TOOLS/uv/bin/uv"

if [ -n "$uv" ]; then
  [ -x "$VENV/bin/python" ] || "$uv" venv --quiet --seed --python "$PYTHON" "$VENV"
  install() { "$uv" pip install --quiet --python "$VENV/bin/python" "$@"; }
else
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  install() { "$VENV/bin/python" -m pip install -qq --disable-pip-version-check "$@"; }
fi

echo "setup: installing $lock into $VENV${uv:+ (uv)}"
install --require-hashes --no-deps -r "$lock"
if [ "$kind" = dev ]; then
  # No build isolation: setuptools is in the lock, so nothing is fetched to build HipFix.
  install --no-deps --no-build-isolation --editable .
fi
