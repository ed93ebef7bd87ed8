#!/usr/bin/env bash
# Installs the Python SDK packages of the conformance suite into <repo>/.cache/pyenv (a venv).
# Runs outside the test network namespace (it needs PyPI): .ci/run calls it before `npm test`.
# Idempotent: skips the install when the venv already holds exactly requirements.txt.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
venv="$root/.cache/pyenv"
stamp="$venv/.requirements"
if [[ -x "$venv/bin/python" ]] && cmp -s "$here/requirements.txt" "$stamp"; then
  echo "python conformance venv up to date: $venv"
  exit 0
fi
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
cp "$here/requirements.txt" "$stamp"
echo "python conformance venv ready: $venv"
