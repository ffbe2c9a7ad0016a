"""Does the search's shared-weight score rank architectures as training them from scratch does?

    python -m enas_tf2.rank_correlation --search_dir=outputs/macro_search --num_archs=8 \\
        --final_epochs=10 --json_out=outputs/macro_rank.json [--arch_source=uniform] [final-run flags]

Sciuto et al. (2020) found weak correlation between ENAS's shared-weight and stand-alone
rankings. This measures it for any finished (or checkpointed) search of any space:

1. draws `--num_archs` distinct architectures from the search's policy (its trained controller,
   or uniform samples for `--arch_source=uniform` or a random-policy search), seeded by `--seed`;
2. scores each with the search checkpoint's shared weights on the whole validation split
   (`Task.shared_score`), cached in `<runs_dir>/shared_scores.json`;
3. trains each from scratch for `--final_epochs` epochs with the space's final script and the
   search's shape, as `final_arc.txt`'s command does (every other flag given here reaches these
   runs), each in its own run folder `<runs_dir>/arc_<i>` (a killed tool resumes where it
   stopped: finished runs are skipped, an interrupted one resumes from its checkpoint);
4. reports Kendall's tau-b and Spearman's rho between the two scores with percentile-bootstrap
   95 % intervals, and the stand-alone regret of the shared-weight top-1, in `--json_out`
   (`kendall_tau`, `spearman_rho`, `*_interval`, `top1_regret`, `archs`: `arc`, `shared`,
   `standalone`), a scatter plot beside it (`.png`) and in TensorBoard (`<runs_dir>`).

Stand-alone runs are ranked by their final metric: test accuracy for images (a final run trains
on all training images and has no validation split), validation perplexity for a language model.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shlex
import subprocess
import sys
from typing import Sequence

import numpy as np

from enas_tf2 import ranking, run_record, startup
from enas_tf2.errors import EnasError, FlagError
from enas_tf2.pipeline import REPO

SHARED_FILE = "shared_scores.json"
ARC_SOURCES = ("policy", "controller", "uniform")
#: Flags the tool sets for each stand-alone run.
RESERVED_FLAGS = ("child_fixed_arc", "output_dir", "num_epochs", "export_dir")
USAGE = ("usage: python -m enas_tf2.rank_correlation --search_dir=DIR --num_archs=K --final_epochs=E "
         "--json_out=FILE [--arch_source=policy|controller|uniform] [--seed=0] [--runs_dir=DIR] "
         "[flags for the stand-alone runs]")


class RankCorrelationError(EnasError):
    """A stand-alone run failed or the search folder cannot be scored."""


@dataclasses.dataclass(frozen=True)
class RankPlan:
    search_dir: str
    num_archs: int
    final_epochs: int
    json_out: str
    arch_source: str = "policy"
    seed: int = 0
    runs_dir: str = ""
    run_flags: tuple[str, ...] = ()

    @property
    def runs(self) -> str:
        return self.runs_dir or os.path.join(self.search_dir, "rank_correlation")


def _positive(values: dict, name: str, minimum: int) -> int:
    try:
        value = int(values.get(name, ""))
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise FlagError(f"--{name} must be an integer >= {minimum}; got {values.get(name)!r}.\n{USAGE}")
    return value


def plan(argv: Sequence[str]) -> RankPlan:
    """The tool's flags; every other `--flag` reaches the stand-alone runs."""
    own = ("search_dir", "num_archs", "final_epochs", "json_out", "arch_source", "seed", "runs_dir")
    values, run_flags = {}, []
    for arg in argv:
        if not arg.startswith("--"):
            raise FlagError(f"Unexpected positional argument {arg!r}: every setting is a --flag.\n{USAGE}")
        name = arg[2:].split("=", 1)[0]
        if name in own:
            values[name] = arg.split("=", 1)[1] if "=" in arg else ""
        elif name in RESERVED_FLAGS:
            raise FlagError(f"--{name} is set by the tool for each stand-alone run (use --final_epochs for the "
                            "length); leave it out.")
        else:
            run_flags.append(arg)
    for name in ("search_dir", "json_out"):
        if not values.get(name):
            raise FlagError(f"--{name} is required.\n{USAGE}")
    source = values.get("arch_source", "policy")
    if source not in ARC_SOURCES:
        raise FlagError(f"--arch_source must be one of {', '.join(ARC_SOURCES)}; got {source!r}.")
    return RankPlan(values["search_dir"], _positive(values, "num_archs", 2), _positive(values, "final_epochs", 1),
                    values["json_out"], source, int(values.get("seed", 0) or 0), values.get("runs_dir", ""),
                    tuple(run_flags))


# -- 1 and 2: architectures and their shared-weight scores (in this process, with TensorFlow) ----------


def _search_task(search_dir: str):
    """The search's task rebuilt from its run.json, networks built and restored from its newest checkpoint."""
    startup.import_tensorflow_quietly()
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    from enas_tf2.controllers.uniform import UniformPolicy  # pylint: disable=import-outside-toplevel
    from enas_tf2.train.state import CHECKPOINT_SUBDIR, with_all_weights  # pylint: disable=import-outside-toplevel

    try:
        record = run_record.read_run_record(search_dir)
    except run_record.RunRecordError as error:
        raise RankCorrelationError(f"{search_dir} is not a run folder of this project: {error}") from None
    if record.mode != "search":
        raise RankCorrelationError(f"{search_dir} is a final run; give a search's --output_dir as --search_dir.")
    latest = tf.train.latest_checkpoint(os.path.join(search_dir, CHECKPOINT_SUBDIR))
    if latest is None:
        raise RankCorrelationError(f"{search_dir} has no checkpoint: run (or resume) the search first.")
    flags = dict(record.flags, output_dir=search_dir)
    if record.space == "ptb":
        from enas_tf2.configs import language_model  # pylint: disable=import-outside-toplevel
        from enas_tf2.tasks.language_model import LanguageModelTask  # pylint: disable=import-outside-toplevel

        task = LanguageModelTask(language_model.resolve(flags))
    else:
        from enas_tf2.configs import image  # pylint: disable=import-outside-toplevel
        from enas_tf2.tasks.image_classification import ImageClassificationTask  # pylint: disable=import-outside-toplevel

        task = ImageClassificationTask(image.resolve(flags))
    task.load_data()
    strategy = tf.distribute.get_strategy()
    task.prepare(strategy)
    child = task.build_child()
    controller = task.build_controller()
    rng = tf.random.Generator.from_seed(0)
    trainer = task.build_child_trainer(child, lambda: controller.sample(rng)["arc"], strategy)
    trackables = {"child": child}
    if task.controller_config.policy == "controller":
        trackables["controller"] = controller
    status = tf.train.Checkpoint(**with_all_weights(trackables)).restore(latest)
    status.assert_existing_objects_matched().expect_partial()
    policy = controller if task.controller_config.policy == "controller" else UniformPolicy.like(controller)
    del trainer  # the task keeps it (`task.trainer`) for its scores
    return task, controller, policy, UniformPolicy.like(controller), latest


def draw_archs(sampler, num: int, seed: int, max_draws_per_arc: int = 50) -> list[np.ndarray]:
    """`num` distinct architectures from `sampler.sample(rng)`; an error if the space has fewer."""
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    rng = tf.random.Generator.from_seed(seed)
    sample = tf.function(lambda: sampler.sample(rng)["arc"])
    arcs, seen = [], set()
    for _ in range(num * max_draws_per_arc):
        arc = sample().numpy()
        if tuple(arc) not in seen:
            seen.add(tuple(arc))
            arcs.append(arc)
            if len(arcs) == num:
                return arcs
    raise RankCorrelationError(f"Only {len(arcs)} distinct architectures in {num * max_draws_per_arc} draws: the "
                               "policy has (nearly) collapsed; lower --num_archs or use --arch_source=uniform.")


def shared_scores(rank: RankPlan) -> dict:
    """Steps 1-2, cached: the drawn architectures, their shared-weight scores and their training commands."""
    path = os.path.join(rank.runs, SHARED_FILE)
    if os.path.isfile(path):
        with open(path) as f:
            cached = json.load(f)
        if cached.get("num_archs") == rank.num_archs and cached.get("seed") == rank.seed and \
                cached.get("arch_source") == rank.arch_source:
            print(f"[rank_correlation] shared-weight scores: done ({path}), skipped", flush=True)
            return cached
    task, controller, policy, uniform, checkpoint = _search_task(rank.search_dir)
    sampler = {"policy": policy, "controller": controller, "uniform": uniform}[rank.arch_source]
    rows = []
    for index, arc in enumerate(draw_archs(sampler, rank.num_archs, rank.seed)):
        score = task.shared_score(arc)
        arc_string = task.arc_string(arc)
        rows.append({"arc": arc_string, "shared": score, "command": task.final_command(arc_string)})
        print(f"[rank_correlation] arc {index}: {task.metric.name}={score:{task.metric.fmt}} (shared weights): "
              f"{arc_string}", flush=True)
    result = {
        "search_dir": rank.search_dir, "checkpoint": os.path.basename(checkpoint), "arch_source": rank.arch_source,
        "policy": task.controller_config.policy, "num_archs": rank.num_archs, "seed": rank.seed,
        "shared_metric": f"valid {task.metric.name}", "standalone_metric": task.standalone_metric,
        "higher_is_better": task.metric.higher_is_better, "archs": rows,
    }
    os.makedirs(rank.runs, exist_ok=True)
    run_record.write_text_atomically(path, json.dumps(result, indent=2) + "\n")
    return result


# -- 3: stand-alone training (subprocesses, one run folder each) -----------------------------------------


def standalone_score(rank: RankPlan, index: int, row: dict, metric: str) -> float:
    """Trains architecture `index` from scratch (or skips a finished run); its final `metric`."""
    run_dir = os.path.join(rank.runs, f"arc_{index}")
    if run_record.read_final_metrics(run_dir) is None:
        words = shlex.split(row["command"])
        script = REPO / "scripts" / os.path.basename(words[0])
        args = [w for w in words[1:] if not w.startswith("--output_dir=")]
        command = ["bash", str(script), *args, *rank.run_flags, f"--num_epochs={rank.final_epochs}",
                   f"--output_dir={run_dir}", "--noreset_output_dir"]
        print(f"[rank_correlation] stand-alone {index}: {' '.join(shlex.quote(c) for c in command)}", flush=True)
        result = subprocess.run(command, cwd=REPO)
        if result.returncode != 0:
            raise RankCorrelationError(
                f"The stand-alone run {run_dir} failed (exit {result.returncode}); its stdout says why. Rerun the "
                "same command: finished runs are skipped and this one resumes from its checkpoint.")
    else:
        print(f"[rank_correlation] stand-alone {index}: done ({run_dir}), skipped", flush=True)
    metrics = run_record.read_final_metrics(run_dir) or {}
    if metric not in metrics:
        raise RankCorrelationError(f"{run_dir}/{run_record.FINAL_METRICS_FILE} has no {metric}: {metrics}")
    return float(metrics[metric])


# -- 4: the statistics, the JSON, the picture --------------------------------------------------------------


def correlation_report(shared: Sequence[float], standalone: Sequence[float], higher_is_better: bool,
                       seed: int = 0) -> dict:
    """Kendall tau and Spearman rho with bootstrap 95 % intervals, and the shared-weight top-1's regret."""
    sign = 1.0 if higher_is_better else -1.0
    x, y = sign * np.asarray(shared, np.float64), sign * np.asarray(standalone, np.float64)
    top, regret = ranking.top1_regret(x, y)
    return {
        "kendall_tau": ranking.kendall_tau(x, y),
        "kendall_tau_interval": list(ranking.bootstrap_interval(ranking.kendall_tau, x, y, seed=seed)),
        "spearman_rho": ranking.spearman_rho(x, y),
        "spearman_rho_interval": list(ranking.bootstrap_interval(ranking.spearman_rho, x, y, seed=seed)),
        "top1_index": top,
        "top1_regret": regret,
    }


def _write_picture(rank: RankPlan, report: dict, shared: list[float], standalone: list[float]) -> str:
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    from enas_tf2 import pictures  # pylint: disable=import-outside-toplevel

    title = (f"Kendall tau {report['kendall_tau']:.3f} [{report['kendall_tau_interval'][0]:.2f}, "
             f"{report['kendall_tau_interval'][1]:.2f}], n={len(shared)}")
    image = pictures.draw_scatter(shared, standalone, f"shared weights: {report['shared_metric']}",
                                  f"stand-alone: {report['standalone_metric']}", title=title,
                                  highlight=report["top1_index"])
    path = os.path.splitext(rank.json_out)[0] + ".png"
    pictures.write_png(image, path)
    writer = tf.summary.create_file_writer(rank.runs)
    with writer.as_default():
        tf.summary.image("rank_correlation/scatter", image[None], step=0)
        for name in ("kendall_tau", "spearman_rho", "top1_regret"):
            tf.summary.scalar(f"rank_correlation/{name}", report[name], step=0)
    writer.close()
    return path


def run(rank: RankPlan) -> dict:
    shared = shared_scores(rank)
    rows = shared["archs"]
    standalone = [standalone_score(rank, i, row, shared["standalone_metric"]) for i, row in enumerate(rows)]
    report = correlation_report([row["shared"] for row in rows], standalone, shared["higher_is_better"], rank.seed)
    report.update(
        search_dir=rank.search_dir, policy=shared["policy"], arch_source=rank.arch_source,
        final_epochs=rank.final_epochs, shared_metric=shared["shared_metric"],
        standalone_metric=shared["standalone_metric"], top1_arc=rows[report["top1_index"]]["arc"],
        archs=[{"arc": row["arc"], "shared": row["shared"], "standalone": score,
                "run_dir": os.path.join(rank.runs, f"arc_{i}")} for i, (row, score) in enumerate(zip(rows, standalone))],
    )
    report["picture"] = _write_picture(rank, report, [row["shared"] for row in rows], standalone)
    os.makedirs(os.path.dirname(os.path.abspath(rank.json_out)), exist_ok=True)
    run_record.write_text_atomically(rank.json_out, json.dumps(report, indent=2) + "\n")
    low, high = report["kendall_tau_interval"]
    print(f"[rank_correlation] done: Kendall tau {report['kendall_tau']:.3f} (95 % bootstrap [{low:.3f}, {high:.3f}]), "
          f"Spearman rho {report['spearman_rho']:.3f}, top-1 regret {report['top1_regret']:.4g} "
          f"({report['standalone_metric']}) over {len(rows)} architectures -> {rank.json_out}", flush=True)
    return report


def main(argv: Sequence[str]) -> int:
    try:
        run(plan(argv))
    except EnasError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
