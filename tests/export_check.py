"""Loading an export in a clean process (no enas_tf2 importable, as a server would) and comparing its outputs."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np

TOLERANCE = 1e-5


#: Runs in a fresh interpreter: loads the export with TensorFlow alone and compares it with the
#: in-memory network's outputs saved by the test.
CLEAN_PROCESS_CHECK = textwrap.dedent(
    """
    import importlib.util, json, os, sys
    import numpy as np
    assert importlib.util.find_spec("enas_tf2") is None, "enas_tf2 must not be importable here"
    import tensorflow as tf

    export_dir, expected_path, tolerance = sys.argv[1], sys.argv[2], float(sys.argv[3])
    expected = np.load(expected_path)
    loaded = tf.saved_model.load(export_dir)
    metadata = json.loads(loaded.signatures["metadata"]()["metadata_json"].numpy())
    with open(os.path.join(export_dir, "assets.extra", "enas_metadata.json")) as f:
        assert json.load(f) == metadata
    report = {"space": metadata["space"], "arc": metadata["arc"], "signatures": sorted(loaded.signatures)}
    if metadata["space"] == "ptb":
        serve, initial = loaded.signatures["serving_default"], loaded.signatures["initial_state"]
        ids = expected["token_ids"]
        state = initial(batch_size=tf.constant(ids.shape[0], tf.int32))["state"]
        assert not np.any(state.numpy())
        whole = serve(token_ids=tf.constant(ids), state=state)
        report["max_diff"] = float(np.max(np.abs(whole["log_probs"].numpy() - expected["log_probs"])))
        report["state_diff"] = float(np.max(np.abs(whole["state"].numpy() - expected["state"])))
        pieces, carried = [], state
        for start, stop in ((0, 3), (3, 4), (4, ids.shape[1])):
            out = serve(token_ids=tf.constant(ids[:, start:stop]), state=carried)
            pieces.append(out["log_probs"].numpy())
            carried = out["state"]
        report["window_diff"] = float(np.max(np.abs(np.concatenate(pieces, 1) - whole["log_probs"].numpy())))
        words = tf.constant([[w.decode() for w in expected["words"]]])
        report["token_ids"] = loaded.signatures["tokenize"](words=words)["token_ids"].numpy().tolist()
    else:
        out = loaded.signatures["serving_default"](images=tf.constant(expected["images"]))
        report["max_diff"] = float(np.max(np.abs(out["probabilities"].numpy() - expected["probabilities"])))
        report["class_ids"] = out["class_ids"].numpy().tolist()
        as_float = loaded.signatures["classify_float"](images=tf.constant(expected["images"].astype(np.float32)))
        report["float_diff"] = float(np.max(np.abs(as_float["probabilities"].numpy() - out["probabilities"].numpy())))
        spec = loaded.signatures["serving_default"].structured_input_signature[1]["images"]
        report["input_shape"] = spec.shape.as_list()
        report["num_outputs"] = int(out["probabilities"].shape[-1])
        report["class_names"] = metadata.get("class_names")
    print(json.dumps(report))
    """
)


def run_clean_check(export_dir: pathlib.Path, expected: dict[str, np.ndarray], tmp_path: pathlib.Path) -> dict:
    """Runs CLEAN_PROCESS_CHECK in `python -I` from an empty folder (no PYTHONPATH, no cwd on sys.path)."""
    expected_path = tmp_path / "expected.npz"
    np.savez(expected_path, **expected)
    script = tmp_path / "check_export.py"
    script.write_text(CLEAN_PROCESS_CHECK)
    workdir = tmp_path / "clean"
    workdir.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    result = subprocess.run(
        [sys.executable, "-I", str(script), str(export_dir), str(expected_path), str(TOLERANCE)],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=240,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


