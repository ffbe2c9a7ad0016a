"""Any image data, end to end: a macro search and a micro final run on a folder of 4 classes of 48x48 PNGs,
then the export serving 48x48 images with 4 classes in a clean process."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from enas_tf2 import arch, export, run_record
from export_check import TOLERANCE, run_clean_check
from fake_images import write_image_folder
from runs import event_tags, run_main, run_module

CLASSES = ("cat", "dog", "fish", "owl")
FOLDER = ["--data_source=folder", "--batch_size=8", "--log_every=2", "--seed=2"]


@pytest.fixture(scope="module")
def image_dir(tmp_path_factory):
    return write_image_folder(tmp_path_factory.mktemp("images") / "pets", CLASSES, per_class=12, test_per_class=4,
                              size=48)


@pytest.mark.slow
def test_macro_search_on_an_image_folder_derives_an_arc_for_its_data(image_dir, tmp_path):
    out = tmp_path / "search"
    run_main(FOLDER + [
        f"--data_path={image_dir}", f"--output_dir={out}", "--preset=cifar10_macro_search", "--child_num_layers=3",
        "--child_out_filters=4", "--num_epochs=1", "--num_valid_images=8", "--controller_train_steps=2",
        "--controller_num_aggregate=2", "--derive_samples=3",
    ])
    record = run_record.read_run_record(str(out))
    assert record.data["class_names"] == list(CLASSES) and record.data["image_shape"] == [48, 48, 3]
    assert record.model["num_classes"] == 4 and record.model["image_size"] == 48
    assert {"eval/valid_accuracy", "eval/test_accuracy", "controller/reward"} <= event_tags(out)
    lines = (out / "final_arc.txt").read_text().splitlines()
    arch.MacroArc.parse(lines[0], num_layers=3)
    # The final command trains on the same data.
    assert "--data_source=folder" in lines[-1] and f"--data_path={image_dir}" in lines[-1]


@pytest.mark.slow
def test_micro_final_on_an_image_folder_exports_a_48x48_four_class_classifier(image_dir, tmp_path):
    out, export_dir = tmp_path / "final", tmp_path / "model"
    arc = "0 1 1 3 2 0 1 4 " + "1 0 0 2 0 2 1 1"
    run_main(FOLDER + [
        f"--data_path={image_dir}", f"--output_dir={out}", "--search_for=micro", "--child_num_layers=1",
        "--child_num_cells=2", "--child_out_filters=4", "--child_num_branches=5", "--child_use_aux_heads",
        "--num_epochs=1", "--nocontroller_training", f"--child_fixed_arc={arc}", f"--export_dir={export_dir}",
    ])
    metrics = json.loads((out / "final_metrics.json").read_text())
    assert 0.0 <= metrics["test_accuracy"] <= 1.0

    # In this process: the network the export was made from, on raw 48x48 images.
    record = run_record.read_run_record(str(out))
    model = export.build_fixed_child(record)
    export.restore_weights(model, tf.train.latest_checkpoint(str(out / "checkpoints")))
    images = np.random.default_rng(0).integers(0, 256, size=(3, 48, 48, 3), dtype=np.uint8)
    mean, std = np.float32(record.data["mean"]), np.float32(record.data["std"])
    expected = tf.nn.softmax(model((images.astype(np.float32) / 255.0 - mean) / std, training=False)).numpy()
    report = run_clean_check(export_dir, {"images": images, "probabilities": expected}, tmp_path)
    assert report["input_shape"] == [None, 48, 48, 3] and report["num_outputs"] == 4
    assert report["class_names"] == list(CLASSES)
    assert report["max_diff"] < TOLERANCE and report["float_diff"] < TOLERANCE


@pytest.mark.parametrize("break_it, message", [
    (lambda root: [p.unlink() for p in (root / "train" / "owl").iterdir()], "holds no image"),
    (lambda root: (root / "test" / "dog" / "000.png").write_bytes(b"garbage"), "Cannot decode image"),
], ids=["empty_class", "unreadable_image"])
def test_bad_image_data_fails_within_seconds_and_deletes_nothing(tmp_path, break_it, message):
    root = write_image_folder(tmp_path / "pets", CLASSES, per_class=2, test_per_class=1, size=8)
    break_it(root)
    previous = tmp_path / "previous_run"
    previous.mkdir()
    (previous / "keep.txt").write_text("an earlier run")
    result = run_module("cifar10_main", [
        "--data_source=folder", f"--data_path={root}", f"--output_dir={previous}", "--search_for=macro",
        "--controller_search_whole_channels", "--reset_output_dir", "--num_valid_images=2",
    ], timeout=120, check=False)
    assert result.returncode != 0 and message in result.stderr
    assert (previous / "keep.txt").exists()
