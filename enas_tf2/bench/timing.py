"""How every benchmark of the package times a compiled step, in machine-independent units.

A step time alone says little: the same step takes twice as long on a machine half as fast, or
while another process shares the cores. So every benchmark also measures a *reference*, the
median seconds of a 2048x2048 float32 NumPy matmul (`reference_seconds`), at its start and at
its end, and reports step times in *units*: seconds divided by the mean of the two references
(`References`, `units`). Runs on different machines then compare, and the ratio of the two
references (`drift`) shows how much the machine's load changed during the run.

Compiled steps are timed after `WARMUP_STEPS` untimed calls (the first one traces), each call
waited for by fetching its loss; medians, not means, so one descheduled step does not move the
figure. `alternate` times two steps pair by pair in alternating order, so that load from other
processes hits both alike: the supernet against the static network, one device against N
replicas.
"""

from __future__ import annotations

import dataclasses
import os
import resource
import statistics
import sys
import time
from typing import Any, Callable, Iterable, Mapping, TypeVar

import numpy as np

#: Side of the square float32 matmul that defines one unit.
REF_MATMUL_SIZE = 2048
#: Timed repeats of the reference matmul (after one warm-up); the median is used.
REF_MATMUL_REPEATS = 10
#: Untimed steps before timing a step function: the first one traces.
WARMUP_STEPS = 2
#: Prefix of the machine-readable result line every benchmark prints.
JSON_PREFIX = "BENCH_JSON "

T = TypeVar("T")
Step = Callable[..., Mapping[str, Any]]


def reference_seconds(size: int = REF_MATMUL_SIZE, repeats: int = REF_MATMUL_REPEATS) -> float:
    """Median seconds of a `size x size` float32 NumPy matmul: one unit.

    Args:
        size: side of the square matrices; anything but `REF_MATMUL_SIZE` gives units that do
            not compare with other runs (for smoke tests only).
        repeats: timed repeats after one untimed warm-up.
    """
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    a @ b
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - start)
    return float(np.median(times))


@dataclasses.dataclass(frozen=True)
class References:
    """The reference measured before and after a benchmark; units use their mean."""

    start_s: float
    end_s: float
    size: int = REF_MATMUL_SIZE

    @property
    def mean_s(self) -> float:
        return (self.start_s + self.end_s) / 2.0

    @property
    def drift(self) -> float:
        """end / start: above 1 the machine got slower (busier) during the run."""
        return self.end_s / self.start_s


def between_references(measure: Callable[[], T], size: int = REF_MATMUL_SIZE) -> tuple[T, References]:
    """Runs `measure()` between two reference measurements; returns its result and the references."""
    start = reference_seconds(size)
    result = measure()
    return result, References(start, reference_seconds(size), size)


def units(figures: Mapping[str, Any], keys: Iterable[str], reference_s: float) -> dict[str, float]:
    """`<key without _s>_units = figures[key] / reference_s` for each of `keys` present in `figures`."""
    return {key.removesuffix("_s") + "_units": figures[key] / reference_s for key in keys if key in figures}


def peak_rss_mib() -> float:
    """Peak resident set size of this process in MiB (`ru_maxrss` is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024.0 * 1024.0) if sys.platform == "darwin" else peak / 1024.0


def timed_step(step: Step, *args: Any) -> tuple[float, Mapping[str, Any]]:
    """Runs one step and waits for it (`.numpy()` on its `loss`); returns (seconds, logs).

    Steps run asynchronously: without fetching a result the clock would stop before the work.
    """
    start = time.perf_counter()
    logs = step(*args)
    logs["loss"].numpy()
    return time.perf_counter() - start, logs


def warm_up(step: Step, *args: Any) -> float:
    """Runs `WARMUP_STEPS` untimed steps; returns the seconds of the first (tracing and first run)."""
    return sum(warm_up_parts(step, *args))


def time_tracing(step: Step, *args: Any) -> float:
    """Seconds of tracing `step` for `args` without running it (0 for a plain function)."""
    if not hasattr(step, "get_concrete_function"):
        return 0.0
    start = time.perf_counter()
    step.get_concrete_function(*args)
    return time.perf_counter() - start


def warm_up_parts(step: Step, *args: Any) -> tuple[float, float]:
    """`warm_up`, with the first call's seconds split into Python tracing and the first run.

    The first run of a traced step includes TensorFlow's graph optimisation (Grappler, the
    function's instantiation) besides one execution; tracing is Python building the graph
    (`get_concrete_function`, the same trace the call then uses). A step without
    `get_concrete_function` (a plain function) reports 0 s of tracing.
    """
    tracing = time_tracing(step, *args)
    first_run, _ = timed_step(step, *args)
    for _ in range(WARMUP_STEPS - 1):
        timed_step(step, *args)
    return tracing, first_run


def alternate(first: Callable[[int], float], second: Callable[[int], float], count: int) -> tuple[list[float], list[float]]:
    """Times `count` pairs, `first` before `second` in even pairs and after it in odd ones.

    Args:
        first, second: `pair index -> seconds` (each typically a `timed_step` of its side).
        count: pairs to time.

    Returns:
        The seconds of `first` and of `second`, pair by pair.
    """
    first_times, second_times = [], []
    for pair in range(count):
        if pair % 2 == 0:
            first_times.append(first(pair))
            second_times.append(second(pair))
        else:
            second_times.append(second(pair))
            first_times.append(first(pair))
    return first_times, second_times


def median(times: Iterable[float]) -> float:
    """The median as a float (robust to the odd descheduled step)."""
    return float(statistics.median(times))


def machine_info() -> dict[str, Any]:
    """What the timings depend on besides the reference: library versions, cores, oneDNN."""
    import keras  # pylint: disable=import-outside-toplevel
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    return dict(
        tf_version=tf.__version__,
        keras_version=keras.__version__,
        numpy_version=np.__version__,
        cpu_count=os.cpu_count(),
        # oneDNN kernels change CPU step times by 1.3-1.5x (enas_tf2/__init__.py turns them on).
        tf_enable_onednn_opts=os.environ.get("TF_ENABLE_ONEDNN_OPTS"),
    )
