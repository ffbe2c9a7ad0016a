#!/usr/bin/env bash
# Recurrent-cell search on Penn Treebank with the authors' corrected language model
# (google-research enas_lm search.py / child.py / controller.py values, ENAS_PTB_SPEC.md 1.1-1.3).
# Extra flags override: "$@", e.g. --num_epochs=1 --child_hidden_size=64 for a short try.
# --data_path: ptb.pkl (data/ptb/process.py) or a folder with ptb.{train,valid,test}.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="${PWD}${PYTHONPATH:+:${PYTHONPATH}}"

python -m enas_tf2.ptb_main \
  --ptb_impl="enas_lm" \
  --search_for="enas" \
  --reset_output_dir \
  --data_path="data/ptb/ptb.pkl" \
  --output_dir="outputs" \
  --batch_size=128 \
  --child_bptt_steps=35 \
  --num_epochs=600 \
  --log_every=200 \
  --child_rhn_depth=10 \
  --child_lstm_hidden_size=200 \
  --child_init_range=0.04 \
  --child_lr=20.0 \
  --child_grad_bound=0.1 \
  --child_l2_reg=8e-7 \
  --child_rnn_l2_reg=0.0 \
  --child_rnn_slowness_reg=1.0 \
  --child_drop_e=0.10 \
  --child_drop_i=0.20 \
  --child_drop_x=0.75 \
  --child_drop_l=0.25 \
  --child_drop_o=0.75 \
  --child_drop_w=0.0 \
  --controller_training \
  --controller_lr=5e-5 \
  --controller_bl_dec=0.999 \
  --controller_entropy_weight=1e-5 \
  --controller_temperature=5.0 \
  --controller_tanh_constant=2.25 \
  --controller_num_aggregate=10 \
  --controller_train_steps=25 \
  --controller_train_every=1 \
  --eval_every_epochs=1 \
  "$@"
