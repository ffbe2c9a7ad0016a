#!/usr/bin/env bash
# Search -> derive -> final training -> SavedModel export, each stage skipped when done and resumed
# when interrupted (enas_tf2/pipeline.py). Flags after the space reach every stage.
# Example: scripts/pipeline.sh macro --data_path=/path/to/cifar-10-batches-py --output_dir=outputs/macro_pipeline
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="${PWD}${PYTHONPATH:+:${PYTHONPATH}}"

python -m enas_tf2.pipeline "$@"
