"""`python -m enas_tf2.rank_correlation` over 4 architectures of a tiny macro search."""

from __future__ import annotations

import json

import pytest
from fake_cifar import write_fake_cifar
from runs import dashboard, run_main, run_module
from test_cifar10_main import TINY_SEARCH

from enas_tf2 import arch, rank_correlation, ranking, run_record
from enas_tf2.errors import FlagError


@pytest.mark.parametrize("argv, message", [
    (["--num_archs=4", "--final_epochs=1", "--json_out=x.json"], "--search_dir is required"),
    (["--search_dir=s", "--num_archs=1", "--final_epochs=1", "--json_out=x.json"], "--num_archs must be an integer >= 2"),
    (["--search_dir=s", "--num_archs=4", "--json_out=x.json"], "--final_epochs must be"),
    (["--search_dir=s", "--num_archs=4", "--final_epochs=1", "--json_out=x", "--num_epochs=3"], "use --final_epochs"),
    (["--search_dir=s", "--num_archs=4", "--final_epochs=1", "--json_out=x", "--arch_source=best"], "--arch_source"),
])
def test_bad_command_lines_say_what_to_fix(argv, message):
    with pytest.raises(FlagError, match=message):
        rank_correlation.plan(argv)


def test_a_final_run_folder_is_refused(tmp_path):
    record = run_record.RunRecord(space="macro", mode="final", arc="0", model={}, data={}, flags={})
    run_record.write_run_record(str(tmp_path), record)
    result = run_module("rank_correlation", [f"--search_dir={tmp_path}", "--num_archs=2", "--final_epochs=1",
                                             f"--json_out={tmp_path / 'r.json'}"], check=False)
    assert result.returncode == 1 and "is a final run" in result.stderr


@pytest.mark.slow
def test_four_architectures_scored_trained_correlated_and_resumed(tmp_path):
    data = tmp_path / "cifar" / "cifar-10-batches-py"
    write_fake_cifar(data, images_per_file=24)
    search_dir = tmp_path / "search"
    run_main(TINY_SEARCH + [f"--data_path={data.parent}", f"--output_dir={search_dir}", "--num_epochs=1"])
    json_out = tmp_path / "rank.json"
    argv = [f"--search_dir={search_dir}", "--num_archs=4", "--final_epochs=1", f"--json_out={json_out}",
            "--batch_size=16"]
    result = run_module("rank_correlation", argv, timeout=600)

    report = json.loads(json_out.read_text())
    rows = report["archs"]
    assert len(rows) == 4 and len({row["arc"] for row in rows}) == 4
    for index, row in enumerate(rows):
        arch.MacroArc.parse(row["arc"], num_layers=3)
        assert 0.0 <= row["shared"] <= 1.0
        run_dir = search_dir / "rank_correlation" / f"arc_{index}"
        # Each architecture trained from scratch as a final run of its own, at the search's shape.
        flags = run_record.read_run_record(str(run_dir)).flags
        assert flags["child_fixed_arc"] == row["arc"] and flags["num_epochs"] == 1
        assert flags["child_num_layers"] == 3 and flags["child_out_filters"] == 4 and flags["batch_size"] == 16
        assert row["standalone"] == run_record.read_final_metrics(str(run_dir))["test_accuracy"]
    shared, standalone = [r["shared"] for r in rows], [r["standalone"] for r in rows]
    assert report["standalone_metric"] == "test_accuracy" and report["policy"] == "controller"
    if len(set(shared)) > 1 and len(set(standalone)) > 1:
        assert report["kendall_tau"] == pytest.approx(ranking.kendall_tau(shared, standalone))
        assert report["spearman_rho"] == pytest.approx(ranking.spearman_rho(shared, standalone))
    top = report["top1_index"]
    assert shared[top] == max(shared) and report["top1_regret"] == pytest.approx(max(standalone) - standalone[top])
    assert len(report["kendall_tau_interval"]) == 2 and len(report["spearman_rho_interval"]) == 2
    assert (tmp_path / "rank.png").stat().st_size > 1000
    assert "rank_correlation/scatter" in dashboard(search_dir / "rank_correlation")["images"]
    assert "[rank_correlation] done: Kendall tau" in result.stdout

    # A rerun (as after a kill) skips the scoring and every finished run, and reports the same.
    again = run_module("rank_correlation", argv, timeout=300)
    assert again.stdout.count("done (") == 5
    assert json.loads(json_out.read_text())["archs"] == rows
