"""What a run folder says about itself: `run.json`, `final_metrics.json`, `vocab.txt`.

A run writes `run.json` when it starts: the space, search or final mode, the
architecture (final runs, original encoding), the keyword arguments that rebuild
its child network, the data statistics the network was trained with (CIFAR-10
mean and std) and every flag value. Export (`enas_tf2/export.py`) and the
pipeline (`enas_tf2/pipeline.py`) read it back, so they never have to re-parse a
command line, and the file stays readable with any JSON tool. Every file here is
written to a temporary name first and then renamed, so a killed process never
leaves half a file behind.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Mapping, Sequence

from enas_tf2.errors import EnasError

RUN_FILE = "run.json"
FINAL_METRICS_FILE = "final_metrics.json"
FINAL_ARC_FILE = "final_arc.txt"
VOCAB_FILE = "vocab.txt"
#: The derived architecture drawn (search runs) and the trained one (final runs).
FINAL_ARC_PICTURE = "final_arc.png"
ARC_PICTURE = "arc.png"
#: Bumped when a field changes meaning; readers reject newer formats.
RUN_FORMAT = 1
SPACES = ("macro", "micro", "ptb")
MODES = ("search", "final")


class RunRecordError(EnasError):
    """A run folder lacks a record or holds one this version cannot read."""


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """The self-description of one run folder.

    Attributes:
        space: "macro", "micro" or "ptb".
        mode: "search" or "final".
        arc: the final run's architecture in the original encoding; None in search.
        model: keyword arguments that rebuild the child (space-specific, JSON types only).
        data: what the network expects of its inputs (CIFAR: `mean`, `std` on the [0, 1]
            scale; PTB: `vocab_size`).
        flags: every flag value of the run, for reference.
        format: `RUN_FORMAT` of the writer.
    """

    space: str
    mode: str
    arc: str | None
    model: dict[str, Any]
    data: dict[str, Any]
    flags: dict[str, Any]
    format: int = RUN_FORMAT

    def __post_init__(self) -> None:
        if self.space not in SPACES:
            raise RunRecordError(f"Unknown space {self.space!r} in the run record; expected one of {SPACES}.")
        if self.mode not in MODES:
            raise RunRecordError(f"Unknown mode {self.mode!r} in the run record; expected one of {MODES}.")


def write_text_atomically(path: str, text: str) -> None:
    """Writes `path` through a temporary file and a rename (never half-written)."""
    tmp_path = path + ".tmp"
    with open(tmp_path, "w") as f:
        f.write(text)
    os.replace(tmp_path, path)


def _jsonable(value: Any) -> Any:
    """Flag values as JSON: lists stay lists, anything unusual becomes its string."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return str(value)


def jsonable_flags(flags: Mapping[str, Any]) -> dict[str, Any]:
    """Flag values as `run.json` stores them."""
    return {name: _jsonable(value) for name, value in sorted(flags.items())}


def write_run_record(output_dir: str, record: RunRecord) -> str:
    """Writes `<output_dir>/run.json`; returns its path."""
    payload = dataclasses.asdict(record)
    payload["flags"] = jsonable_flags(record.flags)
    path = os.path.join(output_dir, RUN_FILE)
    write_text_atomically(path, json.dumps(payload, indent=2, sort_keys=True) + "\n")
    return path


def read_run_record(output_dir: str) -> RunRecord:
    """Reads `<output_dir>/run.json`.

    Raises:
        RunRecordError: the folder or the file is missing, or the file is not a run record.
    """
    if not os.path.isdir(output_dir):
        raise RunRecordError(f"{output_dir} is not a folder: pass the --output_dir of an enas_tf2 run.")
    path = os.path.join(output_dir, RUN_FILE)
    if not os.path.isfile(path):
        raise RunRecordError(
            f"{output_dir} has no {RUN_FILE}: it is not the output folder of an enas_tf2 run, or the run was made "
            "by a version before run records. Pass the --output_dir of a search or final run (rerunning the "
            "same command resumes it and writes the record)."
        )
    try:
        with open(path) as f:
            payload = json.load(f)
    except (OSError, json.JSONDecodeError) as error:
        raise RunRecordError(f"Cannot read {path}: {error}. Rerun the run's command to rewrite it.") from None
    if not isinstance(payload, dict) or payload.get("format", 0) > RUN_FORMAT:
        raise RunRecordError(
            f"{path} has run format {payload.get('format') if isinstance(payload, dict) else '?'}; this enas_tf2 "
            f"reads format {RUN_FORMAT} or older. Upgrade enas_tf2."
        )
    fields = {field.name for field in dataclasses.fields(RunRecord)}
    missing = sorted(fields - set(payload) - {"format"})
    if missing:
        raise RunRecordError(f"{path} lacks {missing}; rerun the run's command to rewrite it.")
    return RunRecord(**{name: payload[name] for name in fields if name in payload})


def write_final_metrics(output_dir: str, metrics: Mapping[str, float]) -> str:
    """Writes `<output_dir>/final_metrics.json`: a final run's closing evaluation."""
    path = os.path.join(output_dir, FINAL_METRICS_FILE)
    write_text_atomically(path, json.dumps({k: float(v) for k, v in metrics.items()}, indent=2) + "\n")
    return path


def read_final_metrics(output_dir: str) -> dict[str, float] | None:
    """The final run's metrics, or None while it has not finished."""
    path = os.path.join(output_dir, FINAL_METRICS_FILE)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def read_final_arc(output_dir: str) -> str | None:
    """The derived architecture of a finished search (first line of `final_arc.txt`), or None."""
    path = os.path.join(output_dir, FINAL_ARC_FILE)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        first = f.readline().strip()
    return first or None


def write_vocabulary(output_dir: str, words: Sequence[str]) -> str:
    """Writes `<output_dir>/vocab.txt`: one word per line, line `i` is word id `i`."""
    path = os.path.join(output_dir, VOCAB_FILE)
    write_text_atomically(path, "".join(f"{word}\n" for word in words))
    return path


def read_vocabulary(output_dir: str) -> list[str]:
    path = os.path.join(output_dir, VOCAB_FILE)
    if not os.path.isfile(path):
        raise RunRecordError(f"{output_dir} has no {VOCAB_FILE}; rerun the PTB run's command to write it.")
    with open(path) as f:
        return [line.rstrip("\n") for line in f]
