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
