#!/usr/bin/env bash
# Recurrent-cell search on Penn Treebank with the authors' corrected language model
# (google-research enas_lm search.py / child.py / controller.py values, ENAS_PTB_SPEC.md 1.1-1.3).
# Extra flags override: "$@", e.g. --num_epochs=1 --child_hidden_size=64 for a short try.
# --data_path: ptb.pkl (data/ptb/process.py) or a folder with ptb.{train,valid,test}.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="${PWD}${PYTHONPATH:+:${PYTHONPATH}}"

# The script's values are the preset ptb_search (enas_tf2/configs/presets.py); flags given here override them.
exec python -m enas_tf2.ptb_main --preset=ptb_search "$@"
