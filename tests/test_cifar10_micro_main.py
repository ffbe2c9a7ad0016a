"""End-to-end micro runs of `cifar10_main` and the micro scripts on tiny generated data."""

from __future__ import annotations


import pytest
import tensorflow as tf

from enas_tf2 import arch
from fake_cifar import write_fake_cifar
from runs import event_tags, run_main, run_script

TINY_MICRO_SEARCH = [
    "--search_for=micro",
    "--child_num_layers=1",
    "--child_num_cells=2",
    "--child_out_filters=4",
    "--child_num_branches=5",
    "--child_use_aux_heads",
    "--batch_size=16",
    "--num_valid_images=40",
    "--child_lr_cosine",
    "--child_lr_max=0.05",
    "--child_lr_min=0.0005",
    "--child_lr_T_0=1",
    "--child_lr_T_mul=2",
    "--child_keep_prob=0.9",
    "--child_l2_reg=1e-4",
    "--controller_train_every=1",
    "--controller_train_steps=2",
    "--controller_num_aggregate=2",
    "--controller_lr=0.0035",
    "--controller_tanh_constant=1.10",
    "--controller_op_tanh_reduce=2.5",
    "--controller_entropy_weight=0.0001",
    "--log_every=2",
    "--derive_samples=3",
    "--seed=5",
]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cifar") / "cifar-10-batches-py"
    write_fake_cifar(folder, images_per_file=24)  # 120 train (80 + 40 valid), 24 test
    return folder.parent


@pytest.mark.slow
def test_tiny_micro_search_then_final_script_trains_the_derived_arc(data_dir, tmp_path):
    output_dir = tmp_path / "search"
    run_main(TINY_MICRO_SEARCH + [f"--data_path={data_dir}", f"--output_dir={output_dir}", "--num_epochs=1"],
             timeout=600)
    tags = event_tags(output_dir)
    for tag in ("child/loss", "child/accuracy", "controller/reward", "controller/entropy",
                "eval/valid_accuracy", "eval/test_accuracy", "arc/sampled", "arc/derived"):
        assert tag in tags, f"{tag} missing from the TensorBoard events; found {sorted(tags)}"
    assert tf.train.latest_checkpoint(str(output_dir / "checkpoints")) is not None
    final_arc_lines = (output_dir / "final_arc.txt").read_text().splitlines()
    derived = arch.MicroArc.parse(final_arc_lines[0], num_blocks=2)
    assert "scripts/cifar10_micro_final.sh" in final_arc_lines[-1]
    assert "--child_num_cells=2" in final_arc_lines[-1] and "--child_out_filters=4" in final_arc_lines[-1]

    # The final script with the original values, shrunk by overrides: drop path, aux head, cutout.
    final_dir = tmp_path / "final"
    run_script("cifar10_micro_final.sh", [
        f"--data_path={data_dir}", f"--output_dir={final_dir}", "--child_num_layers=3", "--child_num_cells=2",
        "--child_out_filters=4", "--batch_size=16", "--num_epochs=1", "--log_every=2",
        "--child_cutout_size=16", f"--child_fixed_arc={derived}",
    ])
    final_log = (final_dir / "stdout").read_text()
    assert "test_accuracy" in final_log and "valid_accuracy" not in final_log
    assert "eval/test_accuracy" in event_tags(final_dir)
    assert tf.train.latest_checkpoint(str(final_dir / "checkpoints")) is not None


def test_micro_final_summary_has_the_original_parameter_counts():
    result = run_main(["--search_for=micro", "--summary_only", "--child_num_layers=15", "--child_out_filters=36",
                       "--child_num_branches=5", "--child_use_aux_heads", "--nocontroller_training",
                       f"--child_fixed_arc={arch.MICRO_FINAL_ARC}"], timeout=300)
    lines = result.stdout.strip().splitlines()
    assert "trainable_params=3894372" in lines
    assert "aux_head_params=494848 (not trained, Q-10)" in lines


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--child_num_branches=4"], "exactly 5 ops"),
        (["--nocontroller_training", "--child_fixed_arc=0 0 0 9 " + "0 0 0 0 " * 3], "token 3"),
        (["--nocontroller_training", "--child_fixed_arc=0 0 0 0"], "expected 16"),
        (["--child_drop_path_keep_prob=0"], "--child_drop_path_keep_prob"),
    ],
)
def test_bad_micro_flags_give_a_clear_error(tmp_path, extra, message):
    args = [a for a in TINY_MICRO_SEARCH if not any(a.startswith(e.split("=")[0] + "=") for e in extra)]
    result = run_main(args + extra + [f"--output_dir={tmp_path}", "--data_path=unused"], check=False)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr[-3000:]
