"""tf.distribute: a 2-replica MirroredStrategy step equals a one-device step on the same global batch.

The CPU is split into 2 logical devices, which must happen before TensorFlow starts, so the
comparison runs in a fresh process (`tests/mirrored_equivalence.py`).
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

from enas_tf2 import distribute
from enas_tf2.errors import FlagError

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def comparisons():
    """All comparisons in one process with one strategy (collective keys are process-wide state)."""
    # oneDNN's CPU kernels round differently for different batch sizes, and these tiny networks
    # (batch 8, 4 channels) amplify that to 1e-3 in three steps; TensorFlow's own kernels make the
    # comparison about the distribution logic alone.
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2", TF_ENABLE_ONEDNN_OPTS="0")
    result = subprocess.run(
        [sys.executable, str(REPO / "tests" / "mirrored_equivalence.py"), "macro_search", "micro_search", "macro_final"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    line = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


@pytest.mark.parametrize("kind", ["macro_search", "micro_search", "macro_final"])
@pytest.mark.slow
def test_two_mirrored_replicas_train_like_one_device(comparisons, kind):
    single, mirrored = comparisons[kind]["single"], comparisons[kind]["mirrored"]
    # Float tolerance only: the replicas sum the batch in two halves.
    np.testing.assert_allclose(mirrored["losses"], single["losses"], rtol=1e-5)
    # One architecture per step, the same on both replicas and as without distribution.
    assert mirrored["arcs"] == single["arcs"]
    if kind.endswith("search"):
        assert len({tuple(arc) for arc in single["arcs"]}) > 1, "the test should see several architectures"
    assert len(mirrored["child"]) == len(single["child"])
    for name, a, b in zip(single["names"], single["child"], mirrored["child"]):
        np.testing.assert_allclose(np.asarray(b, float), np.asarray(a, float), rtol=1e-4, atol=5e-5, err_msg=name)


def test_strategy_flags_are_checked():
    with pytest.raises(FlagError, match="--distribution='ring' is unknown"):
        distribute.make_strategy("ring")
    with pytest.raises(FlagError, match="--cpu_replicas splits the CPU"):
        distribute.make_strategy("none", cpu_replicas=2)
    env_backup = os.environ.pop("TF_CONFIG", None)
    try:
        with pytest.raises(FlagError, match="needs TF_CONFIG"):
            distribute.make_strategy("multi_worker")
    finally:
        if env_backup is not None:
            os.environ["TF_CONFIG"] = env_backup


def test_chief_and_worker_folders(monkeypatch, tmp_path):
    strategy = distribute.make_strategy("none")
    assert distribute.is_chief(strategy)
    assert distribute.worker_output_dir(str(tmp_path), strategy) == str(tmp_path)
