"""End-to-end runs of the PTB scripts (`python -m enas_tf2.ptb_main`) on a tiny generated corpus.

Each run is a subprocess, as a user runs it: a tiny enas_lm search that must leave TensorBoard
events, a checkpoint and final_arc.txt, then the final run of the derived cell; both original
scripts for a few steps; a resumed final run; the parameter counts of the four scripts; and the
errors users meet.
"""

from __future__ import annotations

import json
import shlex

import pytest

from enas_tf2 import arch
from fake_ptb import write_fake_ptb
from runs import event_tags, run_module, run_script

VOCAB = 40
TINY = ["--batch_size=8", "--child_hidden_size=16", "--log_every=10", "--seed=1"]
TINY_SEARCH = TINY + ["--num_epochs=2", "--child_rhn_depth=4", "--controller_train_steps=2",
                      "--controller_num_aggregate=2", "--derive_samples=5"]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return write_fake_ptb(tmp_path_factory.mktemp("ptb"), vocab_size=VOCAB)


@pytest.mark.slow
def test_tiny_search_then_final_training_of_the_derived_cell(data_dir, tmp_path):
    # The corpus given as any three text files (its own vocabulary); the final command the search writes keeps them.
    files = ",".join(str(data_dir / f"ptb.{split}.txt") for split in ("train", "valid", "test"))
    out = tmp_path / "search"
    run_script("ptb_search.sh", [f"--data_path={files}", f"--output_dir={out}", *TINY_SEARCH])
    vocabulary = (out / "vocab.txt").read_text().splitlines()
    assert len(vocabulary) == VOCAB and vocabulary[0] == "<eos>"
    assert json.loads((out / "run.json").read_text())["data"]["vocab_size"] == VOCAB
    tags = event_tags(out)
    for tag in ("child/train_ppl", "child/lr", "controller/reward", "controller/ppl", "controller/baseline",
                "controller/entropy", "eval/valid_ppl", "arc/sampled", "arc/derived"):
        assert tag in tags, tag
    assert list((out / "checkpoints").glob("ckpt-*.index"))
    lines = (out / "final_arc.txt").read_text().splitlines()
    derived = arch.PtbArc.parse(lines[0], arc_format="enas_lm", num_nodes=4)
    command = shlex.split(lines[-1].lstrip("# "))
    assert command[0] == "scripts/ptb_final.sh" and f"--child_fixed_arc={derived.format('enas_lm')}" in command
    log = (out / "stdout").read_text()
    assert log.count("ctrl_step=") == 4 and "valid_ppl=" in log

    final = tmp_path / "final"
    command = [a for a in command[1:] if not a.startswith("--output_dir")]
    run_script("ptb_final.sh", [*command, f"--output_dir={final}", *TINY, "--num_epochs=3"])
    metrics = json.loads((final / "final_metrics.json").read_text())
    # A uniform model scores exactly the vocabulary size; three epochs on the Markov corpus beat it.
    assert metrics["test_ppl"] < VOCAB and metrics["valid_ppl"] < VOCAB
    assert {"eval/test_ppl", "eval/valid_ppl", "child/train_ppl"} <= event_tags(final)

    # The search's shared weights rank two uniform cells (perplexity: lower is better), each trained alone.
    report_path = tmp_path / "rank.json"
    run_module("rank_correlation", [f"--search_dir={out}", "--num_archs=2", "--final_epochs=1", "--arch_source=uniform",
                                    f"--json_out={report_path}", *TINY], timeout=600)
    report = json.loads(report_path.read_text())
    assert report["standalone_metric"] == "valid_ppl" and report["arch_source"] == "uniform"
    for row in report["archs"]:
        arch.PtbArc.parse(row["arc"], arc_format="enas_lm", num_nodes=4)
        assert 1.0 < row["shared"] < 10 * VOCAB and 1.0 < row["standalone"] < 10 * VOCAB
    shared, alone = [r["shared"] for r in report["archs"]], [r["standalone"] for r in report["archs"]]
    top = report["top1_index"]
    assert shared[top] == min(shared) and report["top1_regret"] == pytest.approx(alone[top] - min(alone))


@pytest.mark.slow
def test_original_scripts_run_a_few_steps(data_dir, tmp_path):
    tiny = [f"--data_path={data_dir}", "--batch_size=8", "--child_lstm_hidden_size=16", "--log_every=10",
            "--seed=2", "--child_rhn_depth=4"]
    search = tmp_path / "search"
    run_script("ptb_search_original.sh", [*tiny, f"--output_dir={search}", "--num_epochs=1",
                                          "--controller_train_steps=2", "--controller_num_aggregate=2",
                                          "--derive_samples=3"])
    first = (search / "final_arc.txt").read_text().splitlines()[0]
    assert arch.PtbArc.parse(first, arc_format="original", num_nodes=4)
    assert "scripts/ptb_final_original.sh" in (search / "final_arc.txt").read_text()
    final = tmp_path / "final"
    result = run_script("ptb_final_original.sh", [*tiny, f"--output_dir={final}", "--num_epochs=1",
                                                  "--child_fixed_arc=0 0 0 1 1 2 0"])
    metrics = json.loads((final / "final_metrics.json").read_text())
    assert metrics["test_ppl"] > 1.0
    assert "--controller_selection_threshold" in result.stderr  # the inert flag is reported, not silently used


@pytest.mark.slow
def test_a_rerun_resumes_from_the_checkpoint(data_dir, tmp_path):
    out = tmp_path / "final"
    args = [f"--data_path={data_dir}", f"--output_dir={out}", *TINY, "--child_fixed_arc=0 2 1 0"]
    run_script("ptb_final.sh", [*args, "--num_epochs=1"])
    first = json.loads((out / "final_metrics.json").read_text())
    run_script("ptb_final.sh", [*args, "--num_epochs=2", "--noreset_output_dir"])
    log = (out / "stdout").read_text()
    assert "Resumed from" in log and "at epoch 1" in log
    steps = sorted(int(p.stem.split("-")[1]) for p in (out / "checkpoints").glob("ckpt-*.index"))
    assert len(steps) == 2 and steps[1] > steps[0]
    assert json.loads((out / "final_metrics.json").read_text()) != first


@pytest.mark.parametrize(
    "script, args, expected",
    [
        ("ptb_search.sh", [], ["controller_trainable_params=41344", "trainable_params=16560000",
                               "params_per_child=2880000"]),
        ("ptb_final.sh", [f"--child_fixed_arc={arch.PTB_ENAS_LM_ARC}"], ["trainable_params=20800000"]),
        ("ptb_final.sh", [], ["trainable_params=24640000"]),
        ("ptb_final_original.sh", [], ["trainable_params=22027104"]),
    ],
)
def test_summary_only_prints_the_reference_parameter_counts(script, args, expected):
    result = run_script(script, ["--summary_only", *args])
    for line in expected:
        assert line in result.stdout.splitlines(), (line, result.stdout[-2000:])


def test_missing_data_and_bad_arcs_fail_with_clear_errors(tmp_path):
    result = run_script("ptb_final.sh", [f"--data_path={tmp_path / 'nothing'}", f"--output_dir={tmp_path / 'o'}"],
                        check=False)
    assert result.returncode != 0 and "error:" in result.stderr and "nothing" in result.stderr
    assert not (tmp_path / "o").exists()  # nothing is created before the data is found
    result = run_script("ptb_final.sh", ["--summary_only", "--child_fixed_arc=0 2 1 9"], check=False)
    assert result.returncode != 0 and "9" in result.stderr and "node 2" in result.stderr
    result = run_script("ptb_search.sh", ["--summary_only", "--child_fixed_arc=0 2"], check=False)
    assert result.returncode != 0 and "--nocontroller_training" in result.stderr
    result = run_script("ptb_search.sh", [f"--data_path={tmp_path}", f"--output_dir={tmp_path / 'o'}", "extra"],
                        check=False)
    assert result.returncode != 0 and "positional" in result.stderr

