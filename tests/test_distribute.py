"""tf.distribute: a 2-replica MirroredStrategy step equals a one-device step on the same global batch,
and two worker processes on 127.0.0.1 search in sync, stop together at a SIGTERM and resume exactly.

The CPU is split into 2 logical devices, which must happen before TensorFlow starts, so the
comparison runs in a fresh process (`tests/mirrored_equivalence.py`).
"""

from __future__ import annotations

import json
import os
import pathlib
import signal
import socket
import subprocess
import sys
import threading

import numpy as np
import pytest

from enas_tf2 import distribute
from enas_tf2.errors import FlagError
from fake_cifar import write_fake_cifar
from fake_ptb import write_fake_ptb

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def comparisons():
    """All comparisons in one process with one strategy (collective keys are process-wide state)."""
    # oneDNN's CPU kernels round differently for different batch sizes, and these tiny networks
    # (batch 8, 4 channels) amplify that to 1e-3 in three steps; TensorFlow's own kernels make the
    # comparison about the distribution logic alone.
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2", TF_ENABLE_ONEDNN_OPTS="0")
    result = subprocess.run(
        # The micro search (per-input batch norm, same global_batch_norm) passes too but costs 1.5 min more:
        # run `python tests/mirrored_equivalence.py micro_search` by hand after touching it.
        [sys.executable, str(REPO / "tests" / "mirrored_equivalence.py"), "macro_search", "macro_final",
         "macro_controller", "macro_controller_uneven", "micro_controller", "ptb_search", "ptb_final_original"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,  # a collective mismatch hangs
    )
    assert result.returncode == 0, result.stderr[-5000:]
    line = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def _assert_weights_equal(single: dict, mirrored: dict, rtol: float, atol: float) -> None:
    assert len(mirrored["child"]) == len(single["child"])
    for name, a, b in zip(single["names"], single["child"], mirrored["child"]):
        np.testing.assert_allclose(np.asarray(b, float), np.asarray(a, float), rtol=rtol, atol=atol, err_msg=name)


@pytest.mark.parametrize("kind", ["macro_search", "macro_final"])
@pytest.mark.slow
def test_two_mirrored_replicas_train_like_one_device(comparisons, kind):
    single, mirrored = comparisons[kind]["single"], comparisons[kind]["mirrored"]
    # Float tolerance only: the replicas sum the batch in two halves.
    np.testing.assert_allclose(mirrored["losses"], single["losses"], rtol=1e-5)
    # One architecture per step, the same on both replicas and as without distribution.
    assert mirrored["arcs"] == single["arcs"]
    if kind.endswith("search"):
        assert len({tuple(arc) for arc in single["arcs"]}) > 1, "the test should see several architectures"
    _assert_weights_equal(single, mirrored, rtol=1e-4, atol=5e-5)


@pytest.mark.parametrize("kind", ["macro_controller", "macro_controller_uneven", "micro_controller"])
@pytest.mark.slow
def test_controller_update_spread_over_two_replicas_equals_one_device(comparisons, kind):
    """4 samples (2 per replica) over two updates, and 3 samples (2 + 1) over one; micro: 2 samples whose
    rewards use per-input BN with batch statistics, which each replica takes from its own minibatch (a
    cross-replica sum would mix two architectures, and their different branches' collectives would hang)."""
    single, mirrored = comparisons[kind]["single"], comparisons[kind]["mirrored"]
    # loss, reward, accuracy, baseline and |g| of each update: the baseline moved through the
    # rewards in the single-device order, and each sample was scored on the same minibatch.
    np.testing.assert_allclose(mirrored["losses"], single["losses"], rtol=1e-5, atol=1e-7)
    assert mirrored["arcs"] == single["arcs"]
    assert single["iterations"] == mirrored["iterations"] == len(single["losses"])  # one apply per update
    assert single["moved"] > 1e-4, "the update should move the controller (1000 x the tolerance)"
    _assert_weights_equal(single, mirrored, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("kind", ["ptb_search", "ptb_final_original"])
@pytest.mark.slow
def test_ptb_window_rows_split_over_two_replicas_train_like_one_device(comparisons, kind):
    """Three windows (lengths 5, 7, 4) with the carried state: enas_lm supernet, original fixed cell."""
    single, mirrored = comparisons[kind]["single"], comparisons[kind]["mirrored"]
    # loss, cross-entropy, |g| and weight penalty per window.
    np.testing.assert_allclose(mirrored["losses"], single["losses"], rtol=1e-5, atol=1e-7)
    assert mirrored["arcs"] == single["arcs"]
    assert len(single["arcs"]) == (3 if kind == "ptb_search" else 0)
    assert single["moved"] > 1e-3, "the updates should move the weights (10^4 x the tolerance)"
    # The state each replica carried for its rows, put back together, is the one device's state.
    np.testing.assert_allclose(np.asarray(mirrored["state"]), np.asarray(single["state"]), rtol=1e-4, atol=1e-9)
    _assert_weights_equal(single, mirrored, rtol=1e-5, atol=1e-7)


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


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


def _log_lines(text: str, marker: str) -> list[str]:
    """The log lines holding `marker`, without absl's time/thread prefix."""
    lines = [line.split("] ", 1)[-1] for line in text.splitlines() if marker in line]
    return [line.split(" mins=")[0] for line in lines]  # wall-clock minutes differ


def _start_workers(args: list[str], count: int = 2) -> list[subprocess.Popen]:
    """Starts `count` cifar10_main workers on 127.0.0.1 under multi_worker."""
    workers = [f"localhost:{port}" for port in _free_ports(count)]
    processes = []
    for index in range(count):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2", TF_CONFIG=json.dumps(tf_config))
        processes.append(subprocess.Popen([sys.executable, "-m", "enas_tf2.cifar10_main", *args], cwd=REPO, env=env,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    return processes


def _collect(processes: list[subprocess.Popen], status: int = 0, signal_worker: int | None = None,
             after: str = "") -> list[str]:
    """The workers' logs once they end with `status`; SIGTERM to worker `signal_worker` at its first `after` line."""
    logs: list[list[str]] = [[] for _ in processes]

    def read(index: int) -> None:
        for line in processes[index].stderr:
            logs[index].append(line)
            if index == signal_worker and after in line and processes[index].poll() is None:
                processes[index].send_signal(signal.SIGTERM)

    readers = [threading.Thread(target=read, args=(i,), daemon=True) for i in range(len(processes))]
    for reader in readers:
        reader.start()
    for process, reader in zip(processes, readers):
        process.wait(timeout=600)  # a collective mismatch hangs
        reader.join()
    texts = ["".join(lines) for lines in logs]
    for process, text in zip(processes, texts):
        assert process.returncode == status, text[-5000:]
    return texts


@pytest.mark.slow
def test_two_workers_stop_together_at_sigterm_and_resume_exactly(tmp_path):
    """SIGTERM to one worker of two: both save at the same step and stop; the rerun ends as an uninterrupted run."""
    data = tmp_path / "data"
    write_fake_cifar(data / "cifar-10-batches-py", images_per_file=24)
    args = [
        "--search_for=macro", "--child_num_layers=3", "--child_out_filters=4", "--child_num_branches=6",
        "--batch_size=16", "--num_valid_images=40", "--controller_search_whole_channels",
        "--controller_train_steps=2", "--controller_num_aggregate=3", "--derive_samples=4", "--log_every=1",
        "--seed=3", f"--data_path={data}", "--distribution=multi_worker", "--num_epochs=1",
        "--controller_train_every=1",
    ]
    reference = _collect(_start_workers([*args, f"--output_dir={tmp_path / 'reference'}"]))
    output_dir = tmp_path / "search"
    run_args = [*args, f"--output_dir={output_dir}"]
    # The non-chief worker gets SIGTERM during the child steps (5 an epoch); the chief, which got none, stops
    # with it.
    stopped = _collect(_start_workers(run_args), status=128 + signal.SIGTERM, signal_worker=1, after="ch_step=2 ")
    where = [_log_lines(log, "Stopped by") for log in stopped]
    assert "Stopped by SIGTERM on another worker at" in where[0][0] and "Stopped by SIGTERM at" in where[1][0]
    assert where[0][0].split(" at ")[1].split(";")[0] == where[1][0].split(" at ")[1].split(";")[0]  # same position
    logs = _collect(_start_workers(run_args))
    resumed = [_log_lines(log, "Resumed from") for log in logs]
    assert resumed[0] and resumed[0] == resumed[1]

    # Both workers end in sync, with the weights, architectures and log values of the uninterrupted run.
    digests = {line.split(": ")[-1] for log in [*logs, *reference] for line in _log_lines(log, "Weights digest")}
    assert len(digests) == 1
    for marker in ("ctrl_step=", "val_acc=", "Derived architecture"):
        lines = [_log_lines(log, marker) for log in logs]
        assert lines[0] and lines[0] == lines[1] == _log_lines(reference[0], marker), marker
    child = _log_lines(logs[0], "ch_step=")
    assert child and child == _log_lines(reference[0], "ch_step=")[-len(child):]
    assert "2 replicas in sync" in logs[0] and "not the chief" in logs[1]
    # Only the chief wrote the run; the other worker's temporary folder is gone.
    assert (output_dir / "final_arc.txt").exists() and (output_dir / "checkpoints").is_dir()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "reference", "search"]


@pytest.mark.slow
def test_ptb_search_on_two_mirrored_replicas_end_to_end(tmp_path):
    """enas_lm search: child windows split by rows, controller samples spread with one reward window each."""
    data = write_fake_ptb(tmp_path / "ptb", vocab_size=40)
    output_dir = tmp_path / "search"
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2")
    result = subprocess.run(
        [sys.executable, "-m", "enas_tf2.ptb_main", f"--data_path={data}", f"--output_dir={output_dir}",
         "--batch_size=8", "--child_hidden_size=16", "--log_every=5", "--seed=1", "--num_epochs=2",
         "--child_rhn_depth=4", "--controller_train_steps=2", "--controller_num_aggregate=3", "--derive_samples=5",
         "--distribution=mirrored", "--cpu_replicas=2"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    log = result.stderr
    assert "2 replicas in sync, global batch 8 stream rows (4 per replica)" in log
    assert len(_log_lines(log, "ctrl_step=")) == 4 and "valid_ppl=" in log  # 2 updates after each epoch
    assert len(_log_lines(log, "Weights digest (local 0)")) == 1
    assert (output_dir / "final_arc.txt").exists() and list((output_dir / "checkpoints").glob("*.index"))
