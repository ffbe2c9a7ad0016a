"""End-to-end runs of `python -m enas_tf2.cifar10_main` on tiny generated data.

Each run is a subprocess (fresh absl flags, as a user runs it): a tiny macro
search that must leave TensorBoard events, a checkpoint and final_arc.txt; a
final run of the derived architecture; and the errors users meet (stops, kills and
resumes are in `test_resume.py` and `test_resume_main.py`).
"""

from __future__ import annotations

import time

import pytest
import tensorflow as tf
from fake_cifar import write_fake_cifar
from runs import dashboard, event_tags, run_main

from enas_tf2 import arch

TINY_SEARCH = [
    "--search_for=macro",
    "--child_num_layers=3",
    "--child_out_filters=4",
    "--child_num_branches=6",
    "--batch_size=16",
    "--num_valid_images=40",
    "--child_lr_cosine",
    "--child_lr_max=0.05",
    "--child_lr_min=0.0005",
    "--child_lr_T_0=1",
    "--child_lr_T_mul=2",
    "--child_keep_prob=0.9",
    "--child_l2_reg=0.00025",
    "--controller_search_whole_channels",
    "--controller_train_every=1",
    "--controller_train_steps=2",
    "--controller_num_aggregate=2",
    "--controller_tanh_constant=1.5",
    "--controller_entropy_weight=0.0001",
    "--controller_skip_target=0.4",
    "--controller_skip_weight=0.8",
    "--log_every=2",
    "--derive_samples=4",
    "--seed=3",
]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cifar") / "cifar-10-batches-py"
    write_fake_cifar(folder, images_per_file=24)  # 120 train (80 + 40 valid), 24 test
    return folder.parent


@pytest.mark.slow
def test_tiny_search_writes_events_checkpoint_and_final_arc_then_final_trains_it(data_dir, tmp_path):
    output_dir = tmp_path / "search"
    run_main(TINY_SEARCH + [f"--data_path={data_dir}", f"--output_dir={output_dir}", "--num_epochs=2"])

    tags = event_tags(output_dir)
    for tag in ("child/loss", "child/accuracy", "child/lr", "child/grad_norm", "controller/reward",
                "controller/baseline", "controller/entropy", "controller/log_prob", "controller/skip_rate",
                "eval/valid_accuracy", "eval/test_accuracy", "arc/sampled", "arc/derived"):
        assert tag in tags, f"{tag} missing from the TensorBoard events; found {sorted(tags)}"
    assert tf.train.latest_checkpoint(str(output_dir / "checkpoints")) is not None
    # The NAS dashboards: per-epoch pictures (the step slider shows the drift), the op distribution
    # heatmap and its diagnostics, and the run's flags in HParams.
    board = dashboard(output_dir)
    epoch_steps = board["scalars"]["eval/valid_accuracy"]
    assert len(epoch_steps) == 2
    for tag in ("arc/sampled_best_picture", "arc/op_distribution"):
        assert board["images"][tag] == epoch_steps, (tag, board["images"])
    assert board["images"]["arc/derived_picture"] == [epoch_steps[-1]]
    assert board["text"]["arc/op_distribution_text"] == epoch_steps
    for tag in ("controller/phase_entropy", "controller/phase_mean_reward", "controller/max_op_share"):
        assert board["scalars"][tag] == epoch_steps, tag
    assert board["scalars"]["controller/reward_trend"] == epoch_steps[1:]
    assert board["hparams"]["seed"] == 3 and board["hparams"]["child_num_layers"] == 3
    assert board["hparams"]["search_for"] == "macro" and "data_path" in board["hparams"]
    log = (output_dir / "stdout").read_text()
    assert "Epoch 2: Training controller" in log and "valid_accuracy" in log and "test_accuracy" in log
    assert "Grappler graph optimisation off (--grappler=auto" in log  # a search's supernet steps

    final_arc_lines = (output_dir / "final_arc.txt").read_text().splitlines()
    derived = arch.MacroArc.parse(final_arc_lines[0], num_layers=3)
    assert "scripts/cifar10_macro_final.sh" in final_arc_lines[-1]

    final_dir = tmp_path / "final"
    run_main([
        "--search_for=macro", f"--data_path={data_dir}", f"--output_dir={final_dir}", "--child_num_layers=3",
        "--child_out_filters=4", "--batch_size=16", "--num_epochs=1", "--nocontroller_training",
        "--controller_search_whole_channels",
        f"--child_fixed_arc={derived}", "--log_every=2",
    ])
    final_log = (final_dir / "stdout").read_text()
    assert "test_accuracy" in final_log and "valid_accuracy" not in final_log
    assert "Grappler graph optimisation on (--grappler=auto" in final_log  # a final network
    assert "eval/test_accuracy" in event_tags(final_dir)
    # A second row of the HParams table: the final run, told apart by its arc.
    final_hparams = dashboard(final_dir)["hparams"]
    assert final_hparams["child_fixed_arc"] == str(derived) and final_hparams["controller_training"] is False


def test_missing_data_path_fails_fast_and_keeps_the_previous_run(tmp_path):
    previous_run = tmp_path / "out"
    previous_run.mkdir()
    (previous_run / "final_arc.txt").write_text("0 1 0 0 1 1\n")
    start = time.time()
    result = run_main(TINY_SEARCH + [f"--data_path={tmp_path / 'nowhere'}", f"--output_dir={previous_run}",
                                     "--num_epochs=1", "--reset_output_dir"], check=False)
    assert result.returncode != 0
    assert "nowhere" in result.stderr and "data_batch_1" in result.stderr
    assert time.time() - start < 60  # mostly the TensorFlow import
    assert (previous_run / "final_arc.txt").exists(), "--reset_output_dir deleted a run before the data was found"


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--child_fixed_arc=0 1 0 0 1 1"], "--nocontroller_training"),
        (["--nocontroller_training", "--child_fixed_arc=0 1 0 7 1 1"], "token 3"),
        (["--nocontroller_training", "--child_fixed_arc=0 1 0"], "expected 6"),
        (["--search_for=bogus"], "--search_for='bogus'"),
        (["--child_num_branches=3"], "--child_num_branches=3"),
        (["--child_out_filters=5"], "even"),
        (["--nocontroller_search_whole_channels"], "whole_channels"),
        (["--export_dir=somewhere"], "this is a search (no --child_fixed_arc)"),
    ],
)
def test_bad_flags_give_a_clear_error(tmp_path, extra, message):
    args = [a for a in TINY_SEARCH if not any(a.startswith(e.split("=")[0] + "=") for e in extra)]
    result = run_main(args + extra + [f"--output_dir={tmp_path}", "--data_path=unused"], check=False)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr[-3000:]


def test_summary_only_prints_parameter_counts_without_data():
    result = run_main(["--search_for=macro", "--summary_only", "--child_num_layers=24", "--child_out_filters=96",
                       "--nocontroller_training", "--controller_search_whole_channels",
                       f"--child_fixed_arc={arch.MACRO_FINAL_ARC}"], timeout=300)
    assert result.stdout.strip().splitlines()[-1] == "trainable_params=42559392"
