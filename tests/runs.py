"""Running the programs and scripts as a user does (a subprocess each), and reading their events."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import tensorflow as tf

REPO = pathlib.Path(__file__).resolve().parents[1]


def _check(result: subprocess.CompletedProcess, check: bool) -> subprocess.CompletedProcess:
    if check and result.returncode != 0:
        raise AssertionError(f"exit {result.returncode}\nSTDOUT:\n{result.stdout}\nSTDERR:\n{result.stderr[-6000:]}")
    return result


def run_module(module: str, args: list[str], timeout: float = 300, check: bool = True,
               env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m enas_tf2.<module> args...` from the repository root."""
    env = dict(os.environ, PYTHONPATH=str(REPO), TF_CPP_MIN_LOG_LEVEL="2", **(env or {}))
    result = subprocess.run([sys.executable, "-m", f"enas_tf2.{module}", *args], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=timeout)
    return _check(result, check)


def run_main(args: list[str], timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
    """`python -m enas_tf2.cifar10_main args...`."""
    return run_module("cifar10_main", args, timeout, check)


def run_script(script: str, args: list[str], timeout: float = 400, check: bool = True) -> subprocess.CompletedProcess:
    """`scripts/<script> args...` with this interpreter's `python` first on the PATH."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PATH=f"{pathlib.Path(sys.executable).parent}:{os.environ['PATH']}")
    result = subprocess.run(["bash", str(REPO / "scripts" / script), *args], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=timeout)
    return _check(result, check)


def event_tags(output_dir: pathlib.Path) -> set[str]:
    """Every summary tag in a run folder's TensorBoard events."""
    tags = set()
    for path in pathlib.Path(output_dir).glob("events.out.tfevents.*"):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            tags.update(value.tag for value in event.summary.value)
    return tags


def dashboard(output_dir: pathlib.Path) -> dict:
    """What TensorBoard's dashboards read from a run folder, through TensorBoard's own event reader.

    Returns `{"images": {tag: [steps]}, "scalars": {tag: [steps]}, "text": {tag: [steps]},
    "hparams": {name: value}, "trial_id": the HParams row's name}` (the HParams of the run's
    session start, empty if none).
    """
    from tensorboard.backend.event_processing import plugin_event_accumulator as pea
    from tensorboard.plugins.hparams import plugin_data_pb2

    accumulator = pea.EventAccumulator(str(output_dir), size_guidance={pea.TENSORS: 0})
    accumulator.Reload()
    def tags(plugin: str) -> dict:
        try:
            return accumulator.PluginTagToContent(plugin)
        except KeyError:  # no summary of that plugin in the run
            return {}

    out = {plugin: {tag: [event.step for event in accumulator.Tensors(tag)] for tag in tags(plugin)}
           for plugin in ("images", "scalars", "text")}
    hparams, trial_id = {}, None
    for content in tags("hparams").values():
        data = plugin_data_pb2.HParamsPluginData.FromString(content)
        if data.HasField("session_start_info"):
            trial_id = data.session_start_info.group_name
            for name, value in data.session_start_info.hparams.items():
                hparams[name] = getattr(value, value.WhichOneof("kind"))
    out["hparams"] = hparams
    out["trial_id"] = trial_id
    return out
