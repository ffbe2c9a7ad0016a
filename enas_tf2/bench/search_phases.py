"""The figures every space's search bench shares: supernet against static pairs, the controller phase.

Both are measured the same way for images and language models, so they are written once: the
supernet with given architectures and the statically built networks of the same architectures
timed pair by pair in alternating order (so load from other processes hits both alike), and the
controller phase per sample.
"""

from __future__ import annotations

from typing import Any, Callable

from absl import logging

from enas_tf2.bench import timing
from enas_tf2.controllers.trainer import ControllerTrainer


def supernet_vs_static(supernet_step: Callable[[int], float], static_step: Callable[[int], float],
                       pairs: int) -> dict[str, float]:
    """Medians of both sides timed alternately, their ratio and the median ratio of the pairs.

    Args:
        supernet_step, static_step: `pair index -> seconds` of one step of each side.
        pairs: pairs to time.
    """
    supernet_times, static_times = timing.alternate(supernet_step, static_step, pairs)
    figures = dict(supernet_same_arcs_step_s=timing.median(supernet_times), static_step_s=timing.median(static_times))
    figures["supernet_static_ratio"] = figures["supernet_same_arcs_step_s"] / figures["static_step_s"]
    figures["supernet_static_ratio_pairwise"] = timing.median(s / t for s, t in zip(supernet_times, static_times))
    return figures


def controller_phase(controller: ControllerTrainer, updates: int) -> dict[str, Any]:
    """The controller phase per sample: `updates` timed updates of `num_aggregate` scored samples each."""
    logging.info("Tracing the controller step (num_aggregate=%d).", controller.num_aggregate)
    tracing = timing.time_tracing(controller.train_step)
    figures: dict[str, Any] = {"controller_tracing_s": tracing,
                               "controller_first_run_s": timing.timed_step(controller.train_step)[0]}
    figures["controller_trace_s"] = tracing + figures["controller_first_run_s"]
    figures["controller_step_s"] = timing.median(timing.timed_step(controller.train_step)[0] for _ in range(updates))
    figures["controller_sample_s"] = figures["controller_step_s"] / controller.num_aggregate
    figures["controller_trace_count"] = controller.train_step.experimental_get_tracing_count()
    return figures
