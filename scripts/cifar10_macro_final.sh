#!/usr/bin/env bash
# Final training of the paper's macro architecture on CIFAR-10 with the original
# script's values (melodyguan/enas scripts/cifar10_macro_final.sh). Extra flags
# override: "$@" (e.g. --child_fixed_arc="$(head -1 outputs/final_arc.txt)" --child_num_layers=12).
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="${PWD}${PYTHONPATH:+:${PYTHONPATH}}"

# The script's values are the preset cifar10_macro_final (enas_tf2/configs/presets.py); flags given here override them.
exec python -m enas_tf2.cifar10_main --preset=cifar10_macro_final "$@"
