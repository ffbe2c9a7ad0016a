"""Search -> derive -> final training -> export in one command: `scripts/pipeline.sh {macro|micro|ptb} [flags]`.

    scripts/pipeline.sh macro --data_path=... --output_dir=outputs/macro_pipeline [--num_epochs=1 ...]

Each stage runs the space's own script (the authors' hyperparameters, as a user
would run it) in a subprocess, into one folder under `--output_dir`:

    search/   the search run; done when it has derived `final_arc.txt`
    final/    the derived architecture trained from scratch; done with `final_metrics.json`
    export/   the SavedModel; done when it holds an enas_tf2 export
    pipeline.json   the summary written at the end

`--model_base=BASE` (the pipeline's own flag) also publishes the export as the next version of a
TensorFlow Serving model base, `BASE/<version>/saved_model.pb`, once (`pipeline.json` records
the version, so a rerun does not publish it again).

A stage that is done is skipped; one that was interrupted resumes from its
checkpoint (the pipeline appends `--noreset_output_dir` to the scripts, which
reset by default as the originals do). Every flag after the space name reaches
the search and the final stage, e.g. `--num_epochs=1` for a quick try; the final
stage then gets the arguments the search wrote into `final_arc.txt` (the
derived arc and the shape it was searched at), which win over the same flags.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import shlex
import subprocess
import sys
from typing import Sequence

from enas_tf2 import run_record
from enas_tf2.errors import EnasError, FlagError

REPO = pathlib.Path(__file__).resolve().parents[1]
SPACES = ("macro", "micro", "ptb")
SUMMARY_FILE = "pipeline.json"
#: Flags the pipeline sets per stage; a user value would break the stage layout.
RESERVED_FLAGS = ("child_fixed_arc", "export_dir", "summary_only")
USAGE = (
    "usage: scripts/pipeline.sh {macro|micro|ptb} --output_dir=DIR [--data_path=...] [flags for every stage]\n"
    "  macro/micro: CIFAR-10 (--data_path=<cifar-10-batches-py> or --data_source=tfds); ptb: --data_path=<ptb>;\n"
    "  add --ptb_impl=original to run the original repository's PTB scripts;\n"
    "  --model_base=BASE also publishes the export as the next version BASE/<n>/ for TensorFlow Serving."
)


class PipelineError(EnasError):
    """A stage failed or left its folder without the result the next stage needs."""


@dataclasses.dataclass(frozen=True)
class PipelinePlan:
    """The stages' scripts and folders for one space."""

    space: str
    search_script: str
    output_dir: str
    stage_flags: tuple[str, ...]
    model_base: str | None = None

    @property
    def search_dir(self) -> str:
        return os.path.join(self.output_dir, "search")

    @property
    def final_dir(self) -> str:
        return os.path.join(self.output_dir, "final")

    @property
    def export_dir(self) -> str:
        return os.path.join(self.output_dir, "export")


def _flag_name(arg: str) -> str | None:
    if not arg.startswith("--"):
        return None
    return arg[2:].split("=", 1)[0]


def plan(argv: Sequence[str]) -> PipelinePlan:
    """Reads `{space} --output_dir=DIR [flags]`.

    Raises:
        FlagError: no or an unknown space, no --output_dir, a positional argument, or a flag the
            pipeline sets itself.
    """
    if not argv or argv[0] not in SPACES:
        got = argv[0] if argv else "nothing"
        raise FlagError(f"The first argument must be the space, one of {', '.join(SPACES)}; got {got}.\n{USAGE}")
    space, rest = argv[0], list(argv[1:])
    output_dir, model_base, stage_flags = None, None, []
    for arg in rest:
        name = _flag_name(arg)
        if name is None:
            raise FlagError(f"Unexpected positional argument {arg!r}: every setting is a --flag.\n{USAGE}")
        if name in RESERVED_FLAGS:
            raise FlagError(f"--{name} is set by the pipeline for each stage; leave it out.")
        if name == "output_dir":
            output_dir = arg.split("=", 1)[1] if "=" in arg else ""
            continue
        if name == "model_base":
            model_base = arg.split("=", 1)[1] if "=" in arg else ""
            if not model_base:
                raise FlagError("--model_base needs a folder: --model_base=BASE publishes BASE/<version>/.")
            continue
        stage_flags.append(arg)
    if not output_dir:
        raise FlagError(f"--output_dir=DIR is required: the pipeline's stages go to DIR/search, DIR/final, DIR/export.\n{USAGE}")
    if space == "ptb":
        impl = [arg.split("=", 1)[1] for arg in stage_flags if arg.startswith("--ptb_impl=")]
        original = bool(impl) and impl[-1] == "original"
        search_script = "ptb_search_original.sh" if original else "ptb_search.sh"
    else:
        search_script = f"cifar10_{space}_search.sh"
    return PipelinePlan(space, search_script, output_dir, tuple(stage_flags), model_base)


def final_stage_args(search_dir: str) -> tuple[str, list[str]]:
    """The final script and the arguments the search wrote into `final_arc.txt` (minus --output_dir).

    `final_arc.txt` ends with the command that trains the derived architecture (the search's
    `final_command`): its script, the arc and the shape flags it was searched at.
    """
    path = os.path.join(search_dir, run_record.FINAL_ARC_FILE)
    with open(path) as f:
        lines = [line.strip() for line in f]
    commands = [line[1:].strip() for line in lines if line.startswith("#") and "scripts/" in line]
    if not commands:
        raise PipelineError(f"{path} has no training command; rerun the search stage (delete {search_dir}).")
    words = shlex.split(commands[-1])
    script = os.path.basename(words[0])
    return script, [word for word in words[1:] if _flag_name(word) != "output_dir"]


def _run_stage(name: str, command: list[str]) -> None:
    print(f"[pipeline] {name}: {' '.join(shlex.quote(c) for c in command)}", flush=True)
    result = subprocess.run(command, cwd=REPO)
    if result.returncode != 0:
        raise PipelineError(
            f"The {name} stage failed (exit {result.returncode}); its log says why. Fix it and rerun the same "
            "pipeline command: finished stages are skipped and this one resumes from its checkpoint."
        )


def _published_before(pipeline: PipelinePlan) -> str | None:
    """The version folder an earlier run of this pipeline published into the same model base, if it still exists."""
    try:
        with open(os.path.join(pipeline.output_dir, SUMMARY_FILE)) as f:
            published = json.load(f).get("published")
    except (OSError, ValueError):
        return None
    if not published or not pipeline.model_base:
        return None
    same_base = os.path.abspath(os.path.dirname(published)) == os.path.abspath(pipeline.model_base)
    return published if same_base and os.path.isdir(published) else None


def run(pipeline: PipelinePlan) -> dict:
    """Runs the stages that are not done; returns the summary (also written to pipeline.json)."""
    os.makedirs(pipeline.output_dir, exist_ok=True)
    scripts = REPO / "scripts"
    resume = ["--noreset_output_dir"]

    if run_record.read_final_arc(pipeline.search_dir) is None:
        _run_stage("search", ["bash", str(scripts / pipeline.search_script), *pipeline.stage_flags,
                              f"--output_dir={pipeline.search_dir}", *resume])
    else:
        print(f"[pipeline] search: done ({pipeline.search_dir}/{run_record.FINAL_ARC_FILE}), skipped", flush=True)
    arc = run_record.read_final_arc(pipeline.search_dir)
    if arc is None:
        raise PipelineError(f"The search ended without {run_record.FINAL_ARC_FILE}: was --derive_samples=0 given?")
    print(f"[pipeline] derived architecture: {arc}", flush=True)

    from enas_tf2.export import export_run, is_export, publish_export  # TensorFlow only from here on

    final_script, final_args = final_stage_args(pipeline.search_dir)
    if run_record.read_final_metrics(pipeline.final_dir) is None:
        _run_stage("final", ["bash", str(scripts / final_script), *pipeline.stage_flags, *final_args,
                             f"--output_dir={pipeline.final_dir}", f"--export_dir={pipeline.export_dir}", *resume])
    else:
        print(f"[pipeline] final: done ({pipeline.final_dir}/{run_record.FINAL_METRICS_FILE}), skipped", flush=True)
    if not is_export(pipeline.export_dir):
        print("[pipeline] export", flush=True)
        export_run(pipeline.final_dir, pipeline.export_dir, overwrite=True)
    else:
        print(f"[pipeline] export: done ({pipeline.export_dir}), skipped", flush=True)
    published = _published_before(pipeline)
    if pipeline.model_base and published is None:
        published = publish_export(pipeline.export_dir, pipeline.model_base)
        print(f"[pipeline] published: {published}", flush=True)
    elif pipeline.model_base:
        print(f"[pipeline] published: done ({published}), skipped", flush=True)

    summary = {
        "space": pipeline.space,
        "derived_arc": arc,
        "final_metrics": run_record.read_final_metrics(pipeline.final_dir),
        "search_dir": pipeline.search_dir,
        "final_dir": pipeline.final_dir,
        "export_dir": pipeline.export_dir,
        **({"published": published} if published else {}),
        "pictures": [path for path in (os.path.join(pipeline.search_dir, "final_arc.png"),
                                       os.path.join(pipeline.final_dir, "arc.png")) if os.path.isfile(path)],
    }
    run_record.write_text_atomically(
        os.path.join(pipeline.output_dir, SUMMARY_FILE), json.dumps(summary, indent=2) + "\n"
    )
    print("[pipeline] done\n" + "\n".join(f"  {key}: {value}" for key, value in summary.items()), flush=True)
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
