"""The training command a search writes into final_arc.txt keeps the shape it searched at."""

from __future__ import annotations

import pytest

from enas_tf2.configs import image as image_config
from enas_tf2.tasks.image_classification import ImageClassificationTask


@pytest.mark.parametrize("scale, expected", [(1, ""), (2, " --child_out_filters_scale=2")])
def test_final_command_keeps_depth_and_width(scale, expected):
    task = ImageClassificationTask(image_config.resolve(dict(
        search_for="macro", child_num_layers=3, child_out_filters=4, child_out_filters_scale=scale,
        child_num_branches=6, controller_search_whole_channels=True, data_path="/d", output_dir="/o")))
    assert task.final_command("0 1 0") == (
        "scripts/cifar10_macro_final.sh --data_path=/d --output_dir=/o/final --child_num_layers=3 "
        f"--child_out_filters=4{expected} '--child_fixed_arc=0 1 0'")


def test_final_command_carries_the_searchs_precision_and_grappler_setting():
    flags = dict(search_for="micro", child_num_layers=1, child_num_cells=2, child_out_filters=4,
                 child_num_branches=5, data_path="/d", output_dir="/o")
    default = ImageClassificationTask(image_config.resolve(flags)).final_command("0 1")
    assert "--precision" not in default and "--grappler" not in default
    chosen = ImageClassificationTask(image_config.resolve(
        {**flags, "precision": "mixed_bfloat16", "grappler": "off"})).final_command("0 1")
    assert "--precision=mixed_bfloat16 --grappler=off '--child_fixed_arc=0 1'" in chosen
