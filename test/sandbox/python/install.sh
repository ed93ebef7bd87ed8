#!/usr/bin/env bash
# Installs the Python SDK packages of the conformance suite into <repo>/.cache/pyenv (a venv).
# Runs outside the test network namespace (it needs PyPI): .ci/run calls it before `npm test`.
# With --with-azure-cli it also installs the Azure CLI (azure-cli.txt) into .cache/azcli, which the
# docs/sandbox-cli.md test (test/integration/sandbox/azure-cli-docs.test.ts) runs.
# Idempotent: a venv that already holds exactly its requirements file is left as it is.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"

install_venv() { # <venv dir> <requirements file>
  local venv="$1" reqs="$2"
  if [[ -x "$venv/bin/python" ]] && cmp -s "$reqs" "$venv/.requirements"; then
    echo "venv up to date: $venv"
    return
  fi
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$reqs"
  cp "$reqs" "$venv/.requirements"
  echo "venv ready: $venv"
}

install_venv "$root/.cache/pyenv" "$here/requirements.txt"
if [[ "${1:-}" == "--with-azure-cli" ]]; then
  install_venv "$root/.cache/azcli" "$here/azure-cli.txt"
fi
