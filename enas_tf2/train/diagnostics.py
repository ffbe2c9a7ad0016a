"""What the controller learned in each phase: its op distribution, entropy, reward trend, collapse.

After every controller phase the search hands over the architectures the phase sampled (the
last sample of each update, fetched once at the end of the phase) with their entropies and
rewards. `ControllerDiagnostics` turns them into:

* the **op distribution**: for each decision of the space (a macro layer, a micro node, a PTB
  node), the fraction of the phase's architectures that chose each op, as a heatmap image
  (`arc/op_distribution`) and a text table (`arc/op_distribution_text`) in TensorBoard, and the
  table in the log;
* scalars `controller/phase_entropy`, `controller/phase_mean_reward`, `controller/reward_trend`
  (this phase's mean reward minus the previous phase's) and `controller/max_op_share` (the
  mean over decisions of the most chosen op's share);
* a **collapse warning** when the policy stopped exploring: the most chosen op above
  `COLLAPSE_SHARE` (80 %) at every decision, or the entropy below `COLLAPSE_ENTROPY_FRACTION`
  (20 %) of the first phase's this process saw. A collapsed policy keeps sampling the same
  architecture, so the rest of the search trains one network.
"""

from __future__ import annotations

import dataclasses
from typing import Sequence

import numpy as np
from absl import logging

from enas_tf2.pictures import draw_heatmap

#: A decision is collapsed when one op takes more than this share of the phase's samples.
COLLAPSE_SHARE = 0.8
#: The policy is collapsed when its mean entropy falls under this fraction of the first phase's.
COLLAPSE_ENTROPY_FRACTION = 0.2


@dataclasses.dataclass(frozen=True)
class OpDistribution:
    """The share of each op per decision over a set of architectures.

    Attributes:
        decisions: the row labels ("layer 0", "normal node 2", ...), in the space's order.
        op_names: the column labels.
        shares: `[decisions, ops]`, each row summing to 1.
        num_samples: architectures counted.
    """

    decisions: tuple[str, ...]
    op_names: tuple[str, ...]
    shares: np.ndarray
    num_samples: int

    @property
    def max_shares(self) -> np.ndarray:
        return self.shares.max(axis=1)

    def collapsed(self, threshold: float = COLLAPSE_SHARE) -> bool:
        """Whether one op takes more than `threshold` of the samples at every decision."""
        return bool(len(self.decisions)) and bool(np.all(self.max_shares > threshold))

    def table(self) -> str:
        """A fixed-width text table (decisions down, ops across)."""
        width = max(len(d) for d in self.decisions) if self.decisions else 0
        columns = [max(len(name), 4) for name in self.op_names]
        head = " " * width + "  " + "  ".join(f"{name:>{w}}" for name, w in zip(self.op_names, columns))
        rows = [f"{decision:<{width}}  " + "  ".join(f"{share:>{w}.2f}" for share, w in zip(row, columns))
                for decision, row in zip(self.decisions, self.shares)]
        return "\n".join([head, *rows])


def op_distribution(arcs: Sequence[np.ndarray], task) -> OpDistribution | None:
    """The op distribution of `arcs` under `task`'s decisions (`Task.op_choices`); None without ops."""
    op_names = tuple(task.op_names)
    if not op_names or not len(arcs):
        return None
    decisions: list[str] = []
    counts: dict[str, np.ndarray] = {}
    for arc in arcs:
        for decision, op in task.op_choices(np.asarray(arc)):
            if decision not in counts:
                decisions.append(decision)
                counts[decision] = np.zeros(len(op_names), np.float64)
            counts[decision][int(op)] += 1
    shares = np.stack([counts[d] / counts[d].sum() for d in decisions]) if decisions else np.zeros((0, len(op_names)))
    return OpDistribution(tuple(decisions), op_names, shares.astype(np.float32), len(arcs))


class ControllerDiagnostics:
    """Reports each controller phase (see the module docstring) to the monitor and the log."""

    def __init__(self, task, monitor):
        self.task = task
        self.monitor = monitor
        self.first_entropy: float | None = None
        self.previous_reward: float | None = None

    def after_phase(self, epoch: int, step: int, arcs: Sequence[np.ndarray], entropies: Sequence[float],
                    rewards: Sequence[float]) -> OpDistribution | None:
        """Reports the phase after epoch `epoch` (summaries at global step `step`); returns its distribution."""
        if not len(arcs):
            return None
        entropy, reward = float(np.mean(entropies)), float(np.mean(rewards))
        scalars = {"phase_entropy": entropy, "phase_mean_reward": reward}
        if self.previous_reward is not None:
            scalars["reward_trend"] = reward - self.previous_reward
        self.previous_reward = reward
        if self.first_entropy is None:
            self.first_entropy = entropy
        distribution = op_distribution(arcs, self.task)
        warnings = []
        if distribution is not None:
            scalars["max_op_share"] = float(distribution.max_shares.mean())
            title = f"op distribution after epoch {epoch} ({distribution.num_samples} sampled {self.task.arc_noun})"
            self.monitor.picture(step, "arc/op_distribution", lambda: draw_heatmap(
                distribution.shares, distribution.decisions, distribution.op_names, title))
            self.monitor.text(step, "arc/op_distribution_text", distribution.table())
            logging.info("Controller's op distribution after epoch %d (%d samples):\n%s", epoch,
                         distribution.num_samples, distribution.table())
            if distribution.collapsed():
                warnings.append(f"one op takes over {COLLAPSE_SHARE:.0%} of the samples at every decision")
        if self.first_entropy and entropy < COLLAPSE_ENTROPY_FRACTION * self.first_entropy:
            warnings.append(f"the entropy ({entropy:.3f}) is below {COLLAPSE_ENTROPY_FRACTION:.0%} of the first "
                            f"phase's ({self.first_entropy:.3f})")
        self.monitor.scalars(step, scalars, prefix="controller")
        if warnings:
            logging.warning("The controller's policy has collapsed after epoch %d: %s. It will keep sampling nearly "
                            "the same architecture; a larger --controller_entropy_weight, a smaller "
                            "--controller_tanh_constant or a larger --controller_temperature keeps it exploring.", epoch, "; ".join(warnings))
        return distribution
