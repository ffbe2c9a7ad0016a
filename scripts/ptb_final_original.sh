#!/usr/bin/env bash
# The original melodyguan/enas scripts/ptb_final.sh, with its exact values, on the original's
# language model (--ptb_impl=original; its README declares this model wrong, ENAS_PTB_SPEC.md 3).
# 22,027,104 parameters, as the original. The evaluation is the fixed one (no per-token cap,
# ENAS_PTB_SPEC.md 3.3). The controller flags are inert in a final run, as in the original.
# Differences: the original forwards no extra flags and passes the undefined
# --nochild_lstm_e_skip and --controller_selection_threshold (accepted, no effect); this one
# passes "$@".
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="${PWD}${PYTHONPATH:+:${PYTHONPATH}}"

# The script's values are the preset ptb_final_original (enas_tf2/configs/presets.py); flags given here override them.
exec python -m enas_tf2.ptb_main --preset=ptb_final_original "$@"
