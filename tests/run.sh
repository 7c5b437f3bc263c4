#!/usr/bin/env bash
# Set up a virtual environment for the tests (once) and run them all.
#   bash tests/run.sh [pytest arguments, e.g. tests/test_history.py -k delete]
# Set FOOOCUS_DIR and FOOOCUS_PY to a real Fooocus 2.5.5 checkout and its Python to
# also run the tests that need real Fooocus (see README.md).
set -euo pipefail
cd "$(dirname "$0")/.."

# The cluster tests start a real redis-server from the distribution's package.
if ! command -v redis-server >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 \
   && [ "$(id -u)" = 0 ]; then
  (apt-get install -y -qq redis-server || (apt-get update -qq && apt-get install -y -qq redis-server)) \
    >/dev/null 2>&1 || echo "could not install redis-server; the cluster tests will say so" >&2
fi

venv=${TEST_VENV:-.venv}
python=${PYTHON:-python3}
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/requirements.txt

# The whole suite, unless the arguments name test files or folders of their own.
targets=(tests)
for argument in "$@"; do
  if [ -e "${argument%%::*}" ]; then targets=(); fi
done

set +e
"$venv/bin/python" -m pytest "${targets[@]}" "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: treating that as a failure" >&2
  exit 1
fi
exit "$status"
