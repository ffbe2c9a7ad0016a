#!/usr/bin/env bash
# The original melodyguan/enas scripts/ptb_search.sh, with its exact values, on the original's
# language model (--ptb_impl=original; its README declares this model wrong, ENAS_PTB_SPEC.md 3).
# Differences: the original's script forwards no extra flags and passes the undefined
# --nochild_lstm_e_skip (accepted here, no effect); this one passes "$@".
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="${PWD}${PYTHONPATH:+:${PYTHONPATH}}"

# The script's values are the preset ptb_search_original (enas_tf2/configs/presets.py); flags given here override them.
exec python -m enas_tf2.ptb_main --preset=ptb_search_original "$@"
