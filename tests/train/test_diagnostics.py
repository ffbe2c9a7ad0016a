"""Controller diagnostics: op distribution per decision, heatmap, scalars, and the collapse warning."""

from __future__ import annotations

import numpy as np
import pytest
from absl import logging

from enas_tf2.pictures import draw_heatmap
from enas_tf2.train import diagnostics


class TwoLayerTask:
    """A space of two layers with three ops each; the flat arc is the op per layer."""

    arc_noun = "architectures"
    op_names = ("a", "b", "c")

    def op_choices(self, arc):
        return [(f"layer {i}", int(op)) for i, op in enumerate(arc)]


class FakeMonitor:
    def __init__(self):
        self.pictures, self.texts, self.scalar_logs = [], [], []

    def picture(self, step, tag, draw, path=None):
        self.pictures.append((step, tag, draw()))

    def text(self, step, tag, value):
        self.texts.append((step, tag, value))

    def scalars(self, step, values, prefix):
        self.scalar_logs.append((step, prefix, dict(values)))


def test_op_distribution_counts_each_decision():
    arcs = [np.array([0, 2]), np.array([0, 1]), np.array([1, 1]), np.array([0, 1])]
    dist = diagnostics.op_distribution(arcs, TwoLayerTask())
    assert dist.decisions == ("layer 0", "layer 1") and dist.num_samples == 4
    np.testing.assert_allclose(dist.shares, [[0.75, 0.25, 0.0], [0.0, 0.75, 0.25]])
    assert not dist.collapsed() and dist.collapsed(threshold=0.7)
    assert dist.table().splitlines()[1].split() == ["layer", "0", "0.75", "0.25", "0.00"]


def test_a_task_without_ops_has_no_distribution():
    class NoOps(TwoLayerTask):
        op_names = ()

    assert diagnostics.op_distribution([np.array([0, 1])], NoOps()) is None


def test_after_phase_reports_heatmap_scalars_trend_and_warns_on_collapse(monkeypatch):
    warnings = []
    monkeypatch.setattr(logging, "warning", lambda fmt, *args: warnings.append(fmt % args))
    monitor = FakeMonitor()
    report = diagnostics.ControllerDiagnostics(TwoLayerTask(), monitor)
    spread = [np.array([i % 3, (i + 1) % 3]) for i in range(6)]
    report.after_phase(1, 10, spread, entropies=[2.0] * 6, rewards=[0.2] * 6)
    assert not warnings
    (step, tag, image), = monitor.pictures
    assert (step, tag) == (10, "arc/op_distribution") and image.dtype == np.uint8 and image.shape[2] == 3
    assert monitor.scalar_logs[-1][2] == pytest.approx({"phase_entropy": 2.0, "phase_mean_reward": 0.2,
                                                        "max_op_share": 1 / 3})
    collapsed = [np.array([2, 0])] * 9 + [np.array([2, 1])]
    report.after_phase(2, 20, collapsed, entropies=[0.3] * 10, rewards=[0.5] * 10)
    values = monitor.scalar_logs[-1][2]
    assert values["reward_trend"] == pytest.approx(0.3) and values["max_op_share"] == pytest.approx(0.95)
    assert len(warnings) == 1 and "collapsed after epoch 2" in warnings[0]
    assert "every decision" in warnings[0] and "below 20% of the first phase's (2.000)" in warnings[0]


def test_heatmap_checks_its_labels_and_shades_by_value():
    image = draw_heatmap(np.array([[1.0, 0.0]]), ["layer 0"], ["a", "b"])
    assert image.ndim == 3
    with pytest.raises(ValueError, match="needs 1 row and 2 column labels"):
        draw_heatmap(np.array([[1.0, 0.0]]), ["layer 0"], ["a"])
    # The deep blue of a share of 1 fills the first cell only; the empty cell stays near white.
    pixels = image.astype(int)
    blue = (pixels[..., 2] - pixels[..., 0]) > 60
    columns = np.nonzero(blue.any(axis=0))[0]
    assert columns.size > 60 and columns.max() < image.shape[1] - 10 - 84
