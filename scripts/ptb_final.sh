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

python -m enas_tf2.ptb_main \
  --ptb_impl="enas_lm" \
  --search_for="enas" \
  --reset_output_dir \
  --data_path="data/ptb/ptb.pkl" \
  --output_dir="outputs" \
  --batch_size=64 \
  --child_bptt_steps=35 \
  --num_epochs=3000 \
  --log_every=200 \
  --child_fixed_arc="0 0 0 1 1 2 1 2 0 2 0 5 1 1 0 6 1 8 1 8 1 8 1" \
  --child_lstm_hidden_size=800 \
  --child_init_range=0.05 \
  --child_lr=20.0 \
  --child_grad_bound=0.25 \
  --child_l2_reg=8e-7 \
  --child_rnn_l2_reg=0.7 \
  --child_rnn_slowness_reg=0.0 \
  --child_drop_e=0.125 \
  --child_drop_i=0.175 \
  --child_drop_x=0.725 \
  --child_drop_l=0.225 \
  --child_drop_o=0.75 \
  --child_drop_w=0.0 \
  --child_average_weights \
  --child_average_nonmono=10 \
  --nocontroller_training \
  --eval_every_epochs=1 \
  "$@"
