"""Searches over seeds and policies, each derived architecture trained from scratch, in one table.

    python -m enas_tf2.seeds --space=macro --seeds=3 --policies=controller,random \\
        --output_dir=outputs/seeds -- --data_path=DIR --num_epochs=10 --child_num_layers=6

For every policy (`--search_policy`: the ENAS controller, or uniform random sampling with the
same weight sharing) and seed 1..N this runs the space's search script into
`DIR/<policy>_seed<n>/search` and then, as the pipeline does, the final script on the
architecture it derived into `DIR/<policy>_seed<n>/final`. The flags after `--` reach both
stages (the final stage's arc and shape come from `final_arc.txt`, as in the pipeline; give the
final budget, e.g. `--num_epochs`, with `--final_flags="..."`). `DIR/summary.json` holds, per
policy, the final metric of every seed (`values`), their `mean` and `std` (sample standard
deviation, ddof=1) and the `metric`'s name, and `DIR/summary.md` the same as a table. Finished runs are skipped on a
rerun, an interrupted one resumes from its checkpoint. Every run writes its flags to
TensorBoard's HParams dashboard (`tensorboard --logdir DIR`: one row per run, `seed` and
`search_policy` among the columns).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import statistics
import subprocess
import sys
from typing import Sequence

from enas_tf2 import run_record
from enas_tf2.errors import EnasError, FlagError
from enas_tf2.pipeline import REPO, final_stage_args

SPACES = ("macro", "micro", "ptb")
POLICIES = ("controller", "random")
#: The final metric a seeds table reports, per space (what papers report: test accuracy / perplexity).
FINAL_METRIC = {"macro": "test_accuracy", "micro": "test_accuracy", "ptb": "test_ppl"}
SEARCH_SCRIPT = {"macro": "cifar10_macro_search.sh", "micro": "cifar10_micro_search.sh", "ptb": "ptb_search.sh"}
#: Flags the tool sets for each run.
RESERVED_FLAGS = ("seed", "search_policy", "output_dir", "child_fixed_arc")
USAGE = ("usage: python -m enas_tf2.seeds --space={macro|micro|ptb} --seeds=N [--policies=controller,random] "
         "--output_dir=DIR [--final_flags='--num_epochs=E ...'] -- [flags for every search and final run]")


class SeedsError(EnasError):
    """A run failed or left its folder without the result the table needs."""


@dataclasses.dataclass(frozen=True)
class SeedsPlan:
    space: str
    seeds: int
    policies: tuple[str, ...]
    output_dir: str
    run_flags: tuple[str, ...]
    final_flags: tuple[str, ...] = ()

    def run_dir(self, policy: str, seed: int) -> str:
        return os.path.join(self.output_dir, f"{policy}_seed{seed}")


def plan(argv: Sequence[str]) -> SeedsPlan:
    """Reads the tool's flags (before `--`) and the runs' flags (after it)."""
    argv = list(argv)
    own, run_flags = (argv[: argv.index("--")], argv[argv.index("--") + 1:]) if "--" in argv else (argv, [])
    values = {}
    for arg in own:
        if not arg.startswith("--") or "=" not in arg:
            raise FlagError(f"Unexpected argument {arg!r}: the tool's flags are --name=value; the runs' flags go "
                            f"after --.\n{USAGE}")
        name, value = arg[2:].split("=", 1)
        if name not in ("space", "seeds", "policies", "output_dir", "final_flags"):
            raise FlagError(f"Unknown flag --{name} (a flag for the runs goes after --).\n{USAGE}")
        values[name] = value
    space = values.get("space")
    if space not in SPACES:
        raise FlagError(f"--space must be one of {', '.join(SPACES)}; got {space!r}.\n{USAGE}")
    try:
        seeds = int(values.get("seeds", ""))
    except ValueError:
        seeds = 0
    if seeds < 1:
        raise FlagError(f"--seeds must be a positive integer (runs use seeds 1..N); got {values.get('seeds')!r}.")
    policies = tuple(p for p in values.get("policies", ",".join(POLICIES)).split(",") if p)
    if not policies or any(p not in POLICIES for p in policies):
        raise FlagError(f"--policies must list some of {', '.join(POLICIES)}; got {values.get('policies')!r}.")
    if not values.get("output_dir"):
        raise FlagError(f"--output_dir=DIR is required.\n{USAGE}")
    for arg in run_flags:
        name = arg[2:].split("=", 1)[0] if arg.startswith("--") else None
        if name is None:
            raise FlagError(f"Unexpected positional argument {arg!r} after --: every setting is a --flag.")
        if name in RESERVED_FLAGS:
            raise FlagError(f"--{name} is set by the tool for each run; leave it out.")
    final_flags = tuple(shlex.split(values.get("final_flags", "")))
    return SeedsPlan(space, seeds, policies, values["output_dir"], tuple(run_flags), final_flags)


def _run(name: str, command: list[str]) -> None:
    print(f"[seeds] {name}: {' '.join(shlex.quote(c) for c in command)}", flush=True)
    result = subprocess.run(command, cwd=REPO)
    if result.returncode != 0:
        raise SeedsError(f"{name} failed (exit {result.returncode}); its log says why. Fix it and rerun the same "
                         "command: finished runs are skipped and this one resumes from its checkpoint.")


def run_one(seeds: SeedsPlan, policy: str, seed: int) -> float:
    """The search and the final run of one (policy, seed); returns the final metric."""
    folder = seeds.run_dir(policy, seed)
    search_dir, final_dir = os.path.join(folder, "search"), os.path.join(folder, "final")
    scripts = REPO / "scripts"
    common = [*seeds.run_flags, f"--seed={seed}", "--noreset_output_dir"]
    if run_record.read_final_arc(search_dir) is None:
        _run(f"{policy} seed {seed} search", ["bash", str(scripts / SEARCH_SCRIPT[seeds.space]), *common,
                                              f"--search_policy={policy}", f"--output_dir={search_dir}"])
    else:
        print(f"[seeds] {policy} seed {seed} search: done, skipped", flush=True)
    if run_record.read_final_arc(search_dir) is None:
        raise SeedsError(f"{search_dir} ended without {run_record.FINAL_ARC_FILE}: was --derive_samples=0 given?")
    if run_record.read_final_metrics(final_dir) is None:
        script, final_args = final_stage_args(search_dir)
        _run(f"{policy} seed {seed} final", ["bash", str(scripts / script), *common, *final_args,
                                             *seeds.final_flags, f"--output_dir={final_dir}"])
    else:
        print(f"[seeds] {policy} seed {seed} final: done, skipped", flush=True)
    metrics = run_record.read_final_metrics(final_dir) or {}
    key = FINAL_METRIC[seeds.space]
    if key not in metrics:
        raise SeedsError(f"{final_dir}/{run_record.FINAL_METRICS_FILE} has no {key}: {metrics}")
    return float(metrics[key])


def summarize(values: dict[str, list[float]], metric: str) -> dict[str, dict]:
    """Per policy: the values by seed, their mean and sample standard deviation (0 for one seed)."""
    return {policy: {"values": v, "mean": statistics.fmean(v), "std": statistics.stdev(v) if len(v) > 1 else 0.0,
                     "metric": metric} for policy, v in values.items()}


def markdown(space: str, summary: dict[str, dict]) -> str:
    key = FINAL_METRIC[space]
    lines = [f"| policy | seeds | {key} mean ± std | per seed |", "|---|---:|---|---|"]
    for policy, row in summary.items():
        per_seed = ", ".join(f"{v:.4g}" for v in row["values"])
        lines.append(f"| {policy} | {len(row['values'])} | {row['mean']:.4g} ± {row['std']:.2g} | {per_seed} |")
    return "\n".join(lines) + "\n"


def run(seeds: SeedsPlan) -> dict:
    os.makedirs(seeds.output_dir, exist_ok=True)
    values = {policy: [run_one(seeds, policy, seed) for seed in range(1, seeds.seeds + 1)] for policy in seeds.policies}
    summary = summarize(values, FINAL_METRIC[seeds.space])
    run_record.write_text_atomically(os.path.join(seeds.output_dir, "summary.json"),
                                     json.dumps(summary, indent=2) + "\n")
    table = markdown(seeds.space, summary)
    run_record.write_text_atomically(os.path.join(seeds.output_dir, "summary.md"), table)
    print("[seeds] done\n" + table, flush=True)
    return summary


def main(argv: Sequence[str]) -> int:
    try:
        run(plan(argv))
    except EnasError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
