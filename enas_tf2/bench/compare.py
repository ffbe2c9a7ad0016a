"""`--compare=ORIGINAL_JSON`: the bench's figures beside the authors' code timed on the same machine.

`../shared/tools/original_enas/time_original.py` prints one JSON line for a run of an original
script (step medians, first step, reference matmul, units, peak RSS). Step times and units do not
carry between machines, so the comparison is only meaningful for two runs made back to back on one
machine; the table says what each side measured and the speed-up (original / ours).
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from enas_tf2.errors import FlagError

#: Our step figure per mode and space: (seconds key, units key).
OUR_STEP = {
    "search": ("child_step_s", "child_step_units"),
    "final": ("final_step_s", "final_step_units"),
    "ptb_final": ("ptb_final_step_s", "ptb_final_step_units"),
}
#: Our first-step (start-up) figure per step key.
OUR_FIRST = {"child_step_s": "child_trace_s", "final_step_s": "final_trace_s", "ptb_final_step_s": "ptb_final_trace_s"}


def read_original(path: str) -> dict[str, Any]:
    """The JSON object `time_original.py` wrote (its `--out` file, or its printed line)."""
    try:
        with open(path) as f:
            text = f.read().strip()
    except OSError as error:
        raise FlagError(f"--compare={path}: cannot read it ({error.strerror}). Pass the file time_original.py "
                        "wrote with --out.") from error
    try:
        return json.loads(text.splitlines()[-1])
    except (json.JSONDecodeError, IndexError) as error:
        raise FlagError(f"--compare={path} is not the JSON line time_original.py prints.") from error


def _script_family(script: str) -> str:
    return script.removesuffix("_fixed")  # the closure-fixed macro search times the same workload


def compare(results: Mapping[str, Any], original: Mapping[str, Any]) -> dict[str, Any]:
    """Side-by-side figures and ratios (original / ours: above 1 means ours is faster or smaller).

    Raises:
        FlagError: the original timed another script than the bench's preset.
    """
    ours_script = results["config"]["script"]
    theirs = _script_family(str(original.get("script", "")))
    if theirs != ours_script.removesuffix("_original"):
        raise FlagError(f"--compare: the original timed {original.get('script')!r}, the bench ran {ours_script!r}; "
                        "time the same script.")
    mode = "ptb_final" if "ptb_final_step_s" in results else results["config"]["mode"]
    step_key, units_key = OUR_STEP[mode]
    rows: dict[str, Any] = {
        "original_script": original.get("script"),
        "original_batch_size": original.get("batch_size"),
        "batch_size": results["config"]["batch_size"],
        "original_step_s": original["child_median_s"],
        "step_s": results[step_key],
        "step_speedup": original["child_median_s"] / results[step_key],
        "original_step_units": original.get("units"),
        "step_units": results.get(units_key),
        "original_first_step_s": original.get("first_child_step_s"),
        "first_step_s": results.get(OUR_FIRST[step_key]),
        "original_peak_rss_mib": original.get("peak_rss_mib"),
        "peak_rss_mib": results.get("peak_rss_mib"),
    }
    if original.get("ctrl_median_s") and results.get("controller_sample_s"):
        rows.update(original_controller_sample_s=original["ctrl_median_s"],
                    controller_sample_s=results["controller_sample_s"],
                    controller_speedup=original["ctrl_median_s"] / results["controller_sample_s"])
    if rows["original_batch_size"] not in (None, rows["batch_size"]):
        rows["warning"] = (f"batch sizes differ (original {rows['original_batch_size']}, ours {rows['batch_size']}): "
                           "the step times do not compare")
    return rows


def format_comparison(rows: Mapping[str, Any]) -> str:
    """A small table: figure, original, ours, ratio."""
    def fmt(value):
        return "" if value is None else (f"{value:.4g}" if isinstance(value, float) else str(value))

    lines = [("figure", "original", "ours", "original / ours")]
    for label, theirs, ours, ratio in (
        ("step (s)", "original_step_s", "step_s", "step_speedup"),
        ("step (units)", "original_step_units", "step_units", None),
        ("controller per sample (s)", "original_controller_sample_s", "controller_sample_s", "controller_speedup"),
        ("first step / first trace (s)", "original_first_step_s", "first_step_s", None),
        ("peak RSS (MiB)", "original_peak_rss_mib", "peak_rss_mib", None),
    ):
        if rows.get(theirs) is None and rows.get(ours) is None:
            continue
        if ratio is None and rows.get(theirs) and rows.get(ours):
            value = rows[theirs] / rows[ours]
        else:
            value = rows.get(ratio) if ratio else None
        lines.append((label, fmt(rows.get(theirs)), fmt(rows.get(ours)), fmt(value)))
    widths = [max(len(line[i]) for line in lines) for i in range(4)]
    out = [f"{a:<{widths[0]}}  {b:>{widths[1]}}  {c:>{widths[2]}}  {d:>{widths[3]}}" for a, b, c, d in lines]
    out.insert(1, "-" * len(out[0]))
    title = f"beside the original ({rows['original_script']}, same machine; the ratio above 1: ours faster/smaller)"
    if "warning" in rows:
        title += f"\nWARNING: {rows['warning']}"
    return "\n".join([title] + out)
