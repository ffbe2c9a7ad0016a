"""One benchmark run: the space's bench function between two reference measurements, then its results.

Spaces are a registry (`BENCHES`, with `config.PRESETS_BY_SPACE` and `report.TARGETS`): a new
space adds its bench function, its presets and its targets.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping

import keras
from absl import logging

from enas_tf2 import graph_optimization, precision
from enas_tf2.bench import config as bench_config
from enas_tf2.bench import images, language_model, report, timing

#: Bench function per space: `config -> figures`, seconds under keys ending in `_s`.
BENCHES: Mapping[str, Callable[[bench_config.BenchConfig], dict[str, Any]]] = {
    "macro": images.bench_images,
    "micro": images.bench_images,
    "ptb": language_model.bench_ptb,
}


def run(config: bench_config.BenchConfig, preset: str, ref_size: int = timing.REF_MATMUL_SIZE) -> dict[str, Any]:
    """Runs `config`'s bench between two reference measurements; returns every figure (`report.results`).

    Args:
        config: what to measure (its script says the space).
        preset: the preset's name (recorded in the results only).
        ref_size: side of the reference matmul; anything but the default gives units that do
            not compare with other runs (for smoke tests only).

    Raises:
        FlagError, ArcError: the script's values with the config's overrides do not resolve
            (raised before anything is measured).
    """
    start = time.perf_counter()
    space = config.space
    fields = bench_config.recorded_fields(config)
    keras.utils.set_random_seed(config.seed)
    logging.info("Reference: median of %d %dx%d float32 NumPy matmuls.", timing.REF_MATMUL_REPEATS, ref_size,
                 ref_size)
    with graph_optimization.configured(config.grappler, search=fields["mode"] == "search") as grappler:  # as a run
        figures, references = timing.between_references(lambda: BENCHES[space](config), ref_size)
    figures["bf16_units"] = precision.bf16_units_note(config.precision)
    figures["grappler"] = graph_optimization.state(grappler)
    results = report.results(space, preset, fields, figures, references)
    results["total_s"] = time.perf_counter() - start
    return results
