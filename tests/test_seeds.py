"""`python -m enas_tf2.seeds`: 2 seeds x 2 policies of a tiny macro search, each derived arc trained.

Also the random search policy end to end (`--search_policy=random`: no controller updates,
uniform printed and derived architectures, recorded in run.json) and the HParams rows of
the four searches (TensorBoard's own event reader).
"""

from __future__ import annotations

import json
import statistics

import pytest
from fake_cifar import write_fake_cifar
from runs import dashboard, run_module
from test_cifar10_main import TINY_SEARCH

from enas_tf2 import run_record, seeds
from enas_tf2.errors import FlagError


def test_plan_reads_the_tool_flags_and_passes_the_rest():
    plan = seeds.plan(["--space=ptb", "--seeds=2", "--output_dir=out", "--final_flags=--num_epochs=3 --seed_x=1",
                       "--", "--data_path=p", "--num_epochs=1"])
    assert plan.space == "ptb" and plan.seeds == 2 and plan.policies == ("controller", "random")
    assert plan.run_flags == ("--data_path=p", "--num_epochs=1")
    assert plan.final_flags == ("--num_epochs=3", "--seed_x=1")
    assert plan.run_dir("random", 2).endswith("random_seed2")


@pytest.mark.parametrize("argv, message", [
    (["--seeds=2", "--output_dir=o"], "--space must be one of"),
    (["--space=macro", "--seeds=0", "--output_dir=o"], "--seeds must be a positive integer"),
    (["--space=macro", "--seeds=1", "--policies=controller,greedy", "--output_dir=o"], "--policies must list"),
    (["--space=macro", "--seeds=1"], "--output_dir=DIR is required"),
    (["--space=macro", "--seeds=1", "--output_dir=o", "--", "--seed=4"], "--seed is set by the tool"),
    (["--space=macro", "--seeds=1", "--output_dir=o", "--data_path=x"], "Unknown flag --data_path"),
])
def test_bad_command_lines_say_what_to_fix(argv, message):
    with pytest.raises(FlagError, match=message):
        seeds.plan(argv)


def test_summary_is_mean_and_sample_std_per_policy():
    summary = seeds.summarize({"controller": [0.5, 0.7], "random": [0.4]}, "test_accuracy")
    assert summary["controller"]["mean"] == pytest.approx(0.6)
    assert summary["controller"]["std"] == pytest.approx(statistics.stdev([0.5, 0.7]))
    assert summary["random"] == {"values": [0.4], "mean": 0.4, "std": 0.0, "metric": "test_accuracy"}
    assert "| controller | 2 | 0.6 ± 0.14 |" in seeds.markdown("macro", summary)


@pytest.mark.slow
def test_two_seeds_two_policies_search_train_and_summarize(tmp_path):
    data = tmp_path / "cifar" / "cifar-10-batches-py"
    write_fake_cifar(data, images_per_file=24)
    out = tmp_path / "seeds"
    search_flags = [a for a in TINY_SEARCH if not a.startswith("--seed=")]
    argv = ["--space=macro", "--seeds=2", f"--output_dir={out}", "--final_flags=--num_epochs=1", "--",
            f"--data_path={data.parent}", "--num_epochs=1", *search_flags]
    result = run_module("seeds", argv, timeout=900)

    summary = json.loads((out / "summary.json").read_text())
    assert set(summary) == {"controller", "random"}
    for policy in ("controller", "random"):
        values = [run_record.read_final_metrics(str(out / f"{policy}_seed{s}" / "final"))["test_accuracy"]
                  for s in (1, 2)]
        assert summary[policy]["values"] == pytest.approx(values)
        assert summary[policy]["mean"] == pytest.approx(statistics.fmean(values))
        assert summary[policy]["std"] == pytest.approx(statistics.stdev(values))
    assert "| controller | 2 |" in (out / "summary.md").read_text() and "[seeds] done" in result.stdout

    # The random policy: no controller update, uniform samples, the policy in run.json and final_arc.txt.
    random_search = out / "random_seed1" / "search"
    log = (random_search / "stdout").read_text()
    assert "Training controller" not in log and "ctrl_step=" not in log
    assert "uniform samples: --search_policy=random" in log
    assert run_record.read_run_record(str(random_search)).flags["search_policy"] == "random"
    assert "uniformly sampled (--search_policy=random)" in (random_search / "final_arc.txt").read_text()
    assert "Training controller" in (out / "controller_seed1" / "search" / "stdout").read_text()

    # One HParams row per run, named apart, with its seed and policy (`tensorboard --logdir DIR`).
    rows = {}
    for policy in ("controller", "random"):
        for seed in (1, 2):
            for stage in ("search", "final"):
                board = dashboard(out / f"{policy}_seed{seed}" / stage)
                rows[board["trial_id"]] = board["hparams"]
                assert board["hparams"]["seed"] == seed
                if stage == "search":
                    assert board["hparams"]["search_policy"] == policy
                    assert "arc/sampled_best_picture" in board["images"]
    assert len(rows) == 8 and "random_seed2/search" in rows

    # A rerun skips every finished run.
    again = run_module("seeds", argv, timeout=300)
    assert again.stdout.count("done, skipped") == 8
    assert json.loads((out / "summary.json").read_text()) == summary
