#!/usr/bin/env bash
# Final training of a recurrent cell on Penn Treebank with the authors' corrected language model
# (google-research enas_lm fixed.py values, ENAS_PTB_SPEC.md 2.1).
#
# By default it trains the cell of the original ENAS README / ptb_final.sh (12 nodes, original
# encoding), keeping that cell's own output rule: the mean of its loose ends.
# enas_lm's README cell (8 nodes, mean of all nodes; 57.3 +- 0.1 test perplexity on GPU after the
# full 3000 epochs, ENAS_PTB_SPEC.md 5.7) is one flag away:
#   scripts/ptb_final.sh --child_fixed_arc="0 2 1 0 2 1 2 2 4 0 5 0 3 2 6 2"
# Extra flags override: "$@" (e.g. --num_epochs=1, --output_dir=..., --data_path=...).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="${PWD}${PYTHONPATH:+:${PYTHONPATH}}"

# The script's values are the preset ptb_final (enas_tf2/configs/presets.py); flags given here override them.
exec python -m enas_tf2.ptb_main --preset=ptb_final "$@"
