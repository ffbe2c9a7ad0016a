#!/usr/bin/env bash
# ENAS micro (cell) search on CIFAR-10 with the original script's values
# (melodyguan/enas scripts/cifar10_micro_search.sh). Extra flags override: "$@".
# Example: scripts/cifar10_micro_search.sh --data_path=/path/to/cifar-10-batches-py --num_epochs=1
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="${PWD}${PYTHONPATH:+:${PYTHONPATH}}"

# The script's values are the preset cifar10_micro_search (enas_tf2/configs/presets.py); flags given here override them.
exec python -m enas_tf2.cifar10_main --preset=cifar10_micro_search "$@"
