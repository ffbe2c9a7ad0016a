"""Runs survive anything: stopped or killed at any phase and rerun, they end exactly as an uninterrupted run.

Each test runs a tiny search or final run once uninterrupted (the reference) and once as a
chain of faults, each followed by a rerun of the same configuration in the same folder: a
SIGTERM inside a child epoch (the loop saves at the next step and stops), a kill (no save)
inside the controller phase (a final run: in the child epoch), a kill during an evaluation, a kill inside the derivation. The
newest checkpoint of both runs must agree in every value (weights, optimizer slots, batch-norm
statistics, RNG states, stream positions, counters) and both must derive the same architecture.
A rerun with another shape flag is an error naming it.
"""

from __future__ import annotations

import json
import os
import pathlib

import pytest
from absl import logging
from fake_cifar import write_fake_cifar
from fake_ptb import write_fake_ptb
from faults import (
    Killed,
    assert_same_checkpoint,
    fault_at_boundary,
    kill_in_derivation,
    kill_in_evaluation,
    run_expecting,
)

from enas_tf2 import run as run_lib
from enas_tf2.configs import image as image_config
from enas_tf2.configs import language_model as lm_config
from enas_tf2.configs import presets
from enas_tf2.tasks.image_classification import ImageClassificationTask
from enas_tf2.tasks.language_model import LanguageModelTask
from enas_tf2.train.interrupt import RunInterrupted
from enas_tf2.train.state import CheckpointMismatchError

MACRO_SEARCH = dict(
    search_for="macro", child_num_layers=3, child_out_filters=4, child_num_branches=6, batch_size=16,
    num_valid_images=40, child_lr_cosine=True, child_lr_max=0.05, child_lr_min=0.0005, child_lr_T_0=1,
    child_lr_T_mul=2, child_keep_prob=0.9, child_l2_reg=0.00025, controller_search_whole_channels=True,
    controller_train_every=1, controller_train_steps=3, controller_num_aggregate=2, controller_tanh_constant=1.5,
    controller_entropy_weight=0.0001, controller_skip_target=0.4, controller_skip_weight=0.8, log_every=2,
    derive_samples=4, seed=7, num_epochs=1, checkpoint_every_mins=0.0,
)
MICRO_FINAL = dict(
    search_for="micro", child_num_layers=1, child_num_branches=5, child_num_cells=2, child_out_filters=4, child_fixed_arc="0 1 1 3 0 2 1 4 1 0 0 2 0 2 1 1",
    child_use_aux_heads=True, child_drop_path_keep_prob=0.6, child_keep_prob=0.8, batch_size=16, num_epochs=1,
    child_lr_cosine=True, child_lr_max=0.05, child_lr_min=0.0005, child_lr_T_0=1, child_lr_T_mul=2,
    controller_training=False, log_every=2, seed=11, checkpoint_every_mins=0.0,
)
MICRO_SEARCH = dict(
    search_for="micro", child_num_layers=1, child_num_branches=5, child_num_cells=1, child_out_filters=4,
    child_drop_path_keep_prob=0.6, child_keep_prob=0.9, batch_size=16, num_epochs=1, num_valid_images=40, controller_train_every=1, controller_train_steps=3, controller_num_aggregate=2, controller_tanh_constant=1.1,
    controller_entropy_weight=0.0001, log_every=2, derive_samples=3, seed=5, checkpoint_every_mins=0.0,
)
PTB_SEARCH = dict(batch_size=8, child_hidden_size=16, log_every=10, seed=1, num_epochs=1, child_rhn_depth=4,
                  controller_train_steps=3, controller_num_aggregate=2, derive_samples=4, checkpoint_every_mins=0.0)
PTB_FINAL = dict(batch_size=8, child_hidden_size=16, log_every=10, seed=2, num_epochs=1, checkpoint_every_mins=0.0)


@pytest.fixture(scope="module")
def cifar_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cifar") / "cifar-10-batches-py"
    write_fake_cifar(folder, images_per_file=24)  # 120 train (80 + 40 valid): 5 steps per search epoch
    return folder.parent


@pytest.fixture(scope="module")
def ptb_dir(tmp_path_factory):
    return write_fake_ptb(tmp_path_factory.mktemp("ptb"), vocab_size=30, train_words=1500, eval_words=600)


def _image_task(values: dict, data_dir: pathlib.Path, output_dir: pathlib.Path) -> ImageClassificationTask:
    return ImageClassificationTask(image_config.resolve(dict(values, data_path=str(data_dir),
                                                             output_dir=str(output_dir))))


def _ptb_task(values: dict, data_dir: pathlib.Path, output_dir: pathlib.Path, preset: str) -> LanguageModelTask:
    values = dict(values, data_path=str(data_dir), output_dir=str(output_dir))
    return LanguageModelTask(lm_config.resolve(presets.with_preset(values, set(values), preset, "ptb_main")))


def _run(make_task):
    return run_lib.run(make_task())


def _log(output_dir: pathlib.Path) -> str:
    return (output_dir / "stdout").read_text()


ALL_FAULTS = ("term_child", "kill_boundary", "kill_evaluation", "kill_derivation")


def _faulted_chain(make_task, output_dir: pathlib.Path, search: bool, faults=ALL_FAULTS) -> None:
    """In order, those of `faults` asked for: SIGTERM in a child epoch; a kill at the next run's third step
    boundary (search: in the controller phase; final: in the child epoch); a kill in evaluation; a kill in
    the derivation (search). Each is followed by a rerun; the last rerun goes to the end."""
    if "term_child" in faults:
        with fault_at_boundary(3, "term"):
            stopped = run_expecting(lambda: _run(make_task), RunInterrupted)
        assert stopped is not None and "Rerun the same command to resume" in str(stopped), stopped
        assert "stopped by SIGTERM" in _log(output_dir)
    if "kill_boundary" in faults:
        # Boundaries of the resumed run: child steps 4 and 5 of epoch 1, then (search) controller update 1.
        with fault_at_boundary(3 if search else 2, "kill"):
            assert isinstance(run_expecting(lambda: _run(make_task), Killed), Killed)
    if "kill_evaluation" in faults:
        task = make_task()
        kill_in_evaluation(task)
        assert isinstance(run_expecting(lambda: run_lib.run(task), Killed), Killed)
    if search and "kill_derivation" in faults:
        with kill_in_derivation():
            assert isinstance(run_expecting(lambda: _run(make_task), Killed), Killed)
    _run(make_task)
    log = _log(output_dir)
    assert log.count("Resumed from") >= len(faults) - 1


def _make(kind: str, data_dirs: dict, output_dir: pathlib.Path):
    """A factory of the task `kind` (a key of `KINDS`) writing into `output_dir`."""
    values = KINDS[kind]
    if kind.startswith("ptb"):
        return lambda: _ptb_task(values, data_dirs["ptb"], output_dir, kind)
    return lambda: _image_task(values, data_dirs["cifar"], output_dir)


KINDS = dict(macro_search=MACRO_SEARCH, micro_search=MICRO_SEARCH, micro_final=MICRO_FINAL, ptb_search=PTB_SEARCH,
             ptb_final=PTB_FINAL)


# Every fault for three kinds; for the other two (whose stops and kills go through the same loop and
# search code) the faults their own state adds to: the micro search's controller phase and its per-input
# batch norm, the PTB final's carried state (suite time: a micro supernet costs ~20 s a run).
CHAINS = [("macro_search", 50, ALL_FAULTS), ("micro_final", 50, ALL_FAULTS), ("ptb_search", 20, ALL_FAULTS),
          ("micro_search", 50, ("term_child", "kill_boundary")), ("ptb_final", 10, ("term_child", "kill_evaluation"))]


@pytest.mark.slow
@pytest.mark.parametrize("kind, min_values, faults", CHAINS, ids=[chain[0] for chain in CHAINS])
def test_a_run_stopped_and_killed_at_every_phase_ends_as_the_uninterrupted_one(kind, min_values, faults, request,
                                                                                 tmp_path):
    """Macro and micro search; micro final with drop path and aux head; PTB (enas_lm) search and final."""
    logging.set_verbosity(logging.INFO)
    data_dirs = {"ptb": request.getfixturevalue("ptb_dir")} if kind.startswith("ptb") else {
        "cifar": request.getfixturevalue("cifar_dir")}
    reference, faulted = tmp_path / "reference", tmp_path / "faulted"
    want = _run(_make(kind, data_dirs, reference))
    search = kind.endswith("search")
    _faulted_chain(_make(kind, data_dirs, faulted), faulted, search=search, faults=faults)
    assert assert_same_checkpoint(faulted, reference) > min_values
    if search:
        first_line = [(folder / "final_arc.txt").read_text().splitlines()[0] for folder in (faulted, reference)]
        assert first_line[0] == first_line[1]
    else:
        assert json.loads((faulted / "final_metrics.json").read_text()) == want
    if kind == "macro_search":  # a rerun with another shape flag names it, and leaves the checkpoints as they are
        before = sorted(os.listdir(reference / "checkpoints"))
        with pytest.raises(CheckpointMismatchError, match=r"cannot resume.*--child_out_filters=8 \(run.json: 4\)"):
            _run(lambda: _image_task(dict(MACRO_SEARCH, child_out_filters=8), data_dirs["cifar"], reference))
        assert sorted(os.listdir(reference / "checkpoints")) == before
