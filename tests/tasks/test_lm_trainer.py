"""Tests of the PTB trainer (compiled steps) and the evaluation protocol (ENAS_PTB_SPEC.md 1.7-1.9, 2.4, 2.5).

Tiny shapes (V 17, H 6, B 3); the models' own equations are tested in test_ptb_model.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from enas_tf2 import arch
from enas_tf2.data import text_windows
from enas_tf2.spaces.rnn import ptb_arc_rows_from_flat
from enas_tf2.spaces.rnn import PtbNetwork, PtbSupernet, token_cross_entropy
from enas_tf2.tasks.lm_trainer import REWARD_CONSTANT, LanguageModelTrainConfig, LanguageModelTrainer
from enas_tf2.train.schedules import StaircaseDecayPerEpoch

VOCAB, HIDDEN, BATCH = 17, 6, 3
NO_DROPOUT = dict(drop_e=0.0, drop_i=0.0, drop_x=0.0, drop_l=0.0, drop_o=0.0, drop_w=0.0)
#: enas_lm encoding, 3 sampled nodes (N = 4).
LM_ARC = [0, 1, 1, 2, 1, 3]


def config(**overrides) -> LanguageModelTrainConfig:
    values = dict(ptb_impl="enas_lm", batch_size=BATCH, bptt=5, learning_rate=1.0, scale_lr_by_length=True,
                  grad_bound=100.0)
    values.update(overrides)
    return LanguageModelTrainConfig(**values)


def tokens(batch: int, length: int, seed: int) -> tf.Tensor:
    return tf.constant(np.random.default_rng(seed).integers(0, VOCAB, size=(batch, length)), tf.int32)


def network(arc: str = "0 1 1 2", **kwargs) -> PtbNetwork:
    model = PtbNetwork(arc, VOCAB, HIDDEN, **{**NO_DROPOUT, **kwargs})
    model.build()
    return model


def supernet(num_nodes: int = 4, **kwargs) -> PtbSupernet:
    model = PtbSupernet(VOCAB, HIDDEN, num_nodes, **{**NO_DROPOUT, **kwargs})
    model.build()
    return model


def test_lr_is_scaled_by_window_length_and_clipping_bounds_the_update():
    """enas_lm: lr_t = lr * len / bptt; the update is lr_t times the globally clipped gradient."""
    model = network()
    trainer = LanguageModelTrainer(model, config(learning_rate=2.0, bptt=5, grad_bound=1e-3))
    before = [v.numpy().copy() for v in trainer.variables]
    x, y = tokens(BATCH, 7, 0), tokens(BATCH, 7, 1)
    logs = trainer.train_step(x, y)
    assert float(logs["lr"]) == pytest.approx(2.0 * 7 / 5)
    assert float(logs["grad_norm"]) > 1e-3  # logged before clipping
    step = np.sqrt(sum(np.sum((v.numpy() - b) ** 2) for v, b in zip(trainer.variables, before)))
    assert step == pytest.approx(2.0 * 7 / 5 * 1e-3, rel=1e-3)


def test_original_lr_follows_its_schedule_without_length_scale():
    schedule = StaircaseDecayPerEpoch(1.0, 0.5, 1, 2, dec_start=1)  # nb = 2 steps per epoch
    trainer = LanguageModelTrainer(network(ptb_impl="original"), config(ptb_impl="original", learning_rate=schedule,
                                                               scale_lr_by_length=False))
    lrs = [float(trainer.train_step(tokens(BATCH, 4, s), tokens(BATCH, 4, s + 9))["lr"]) for s in range(7)]
    assert lrs == pytest.approx([float(schedule(s)) for s in range(7)])
    assert lrs[0] == 1.0 and lrs[-1] == pytest.approx(0.25)


def test_train_state_is_carried_between_windows_and_reset():
    """The state after a window is the model's h_T from the previous state (lr 0: weights fixed)."""
    model = network()
    trainer = LanguageModelTrainer(model, config(learning_rate=0.0))
    x1, x2 = tokens(BATCH, 4, 1), tokens(BATCH, 5, 2)
    trainer.train_step(x1, x1)
    _, state_1 = model(x1, model.initial_state(BATCH))
    np.testing.assert_allclose(trainer.state.numpy(), state_1.numpy(), atol=1e-6)
    trainer.train_step(x2, x2)
    _, state_2 = model(x2, state_1)
    np.testing.assert_allclose(trainer.state.numpy(), state_2.numpy(), atol=1e-6)
    trainer.reset_state()
    assert not trainer.state.numpy().any()


def test_search_step_traces_once_over_window_lengths_and_arcs_and_moves_only_the_chosen_slabs():
    model = supernet()
    arc_var = tf.Variable(LM_ARC, dtype=tf.int32)
    trainer = LanguageModelTrainer(model, config(), sample_arc=lambda: tf.convert_to_tensor(arc_var), arc_format="enas_lm")
    before = {v.path: v.numpy().copy() for v in model.trainable_variables}
    trainer.train_step(tokens(BATCH, 5, 3), tokens(BATCH, 5, 4))
    moved_slabs = set()
    for v in model.trainable_variables:
        delta = np.abs(v.numpy() - before[v.path])
        if v.shape.rank == 4:  # enas_lm node tensor [4, l, H, 2H], indexed [function, predecessor]
            for f in range(delta.shape[0]):
                for p in range(delta.shape[1]):
                    if delta[f, p].any():
                        moved_slabs.add((delta.shape[1], f, p))
    # The node tensors are indexed by enas_lm's own function ids, straight from the arc's pairs.
    expected = {(node, LM_ARC[2 * node - 1], LM_ARC[2 * node - 2]) for node in range(1, 4)}
    assert moved_slabs == expected
    for length, seed in ((3, 5), (8, 6), (11, 7)):
        arc_var.assign([0, seed % 4, 1, length % 4, seed % 3, 2])
        trainer.train_step(tokens(BATCH, length, seed), tokens(BATCH, length, seed + 1))
    assert trainer.train_step.experimental_get_tracing_count() == 1


def test_weight_average_moves_after_every_step_once_started():
    model = network()
    trainer = LanguageModelTrainer(model, config(average_weights=True))
    trainer.train_step(tokens(BATCH, 4, 0), tokens(BATCH, 4, 1))
    assert float(trainer.average.count.numpy()) == 0.0  # not started: no bookkeeping
    trainer.average.start()
    snapshots = []
    for seed in range(3):
        trainer.train_step(tokens(BATCH, 4, seed), tokens(BATCH, 4, seed + 5))
        snapshots.append([v.numpy().copy() for v in trainer.variables])
    for i, average in enumerate(trainer.average.averages):
        np.testing.assert_allclose(average.numpy(), np.mean([s[i] for s in snapshots], axis=0), atol=1e-6)


def test_uniform_model_evaluates_to_the_vocabulary_size():
    model = network()
    model.embedding.assign(tf.zeros_like(model.embedding))  # logits h . E^T = 0 everywhere
    trainer = LanguageModelTrainer(model, config())
    stream = np.random.default_rng(0).integers(0, VOCAB, size=200)
    ppl = trainer.evaluate(text_windows.make_test_dataset(stream, bptt=9))
    assert ppl == pytest.approx(VOCAB, rel=1e-5)


def test_evaluation_with_carried_state_equals_one_pass_over_the_stream():
    """Valid protocol: windows in order, state carried = the model run over the whole stream at once."""
    model = network()
    trainer = LanguageModelTrainer(model, config())
    ids = np.random.default_rng(1).integers(0, VOCAB, size=3 * 22 + 2)
    stream = text_windows.batchify(ids, BATCH)  # [3, 22]: 3 windows of 7, one column left over
    ppl = trainer.evaluate(text_windows.make_window_dataset(stream, 7))
    logits, _ = model(tf.constant(stream[:, :21]), model.initial_state(BATCH))
    expected = np.exp(np.mean(token_cross_entropy(logits, tf.constant(stream[:, 1:22])).numpy()))
    assert ppl == pytest.approx(expected, rel=1e-5)
    # Test protocol: batch 1 over every target; any window length gives the same per-token losses.
    one = trainer.evaluate(text_windows.make_test_dataset(ids, bptt=1))
    long = trainer.evaluate(text_windows.make_test_dataset(ids, bptt=13))
    assert one == pytest.approx(long, rel=1e-5)
    # Without the carry every window starts from zeros: a different (here: another) number.
    assert trainer.evaluate(text_windows.make_window_dataset(stream, 7), carry_state=False) != pytest.approx(ppl, rel=1e-7)


def test_reward_is_80_over_ppl_of_one_window_from_zero_state():
    model = supernet()
    trainer = LanguageModelTrainer(model, config(), sample_arc=lambda: tf.constant(LM_ARC), arc_format="enas_lm")
    trainer.state.assign(tf.ones_like(trainer.state))  # the training state must not leak in
    x, y = tokens(BATCH, 6, 1), tokens(BATCH, 6, 2)
    reward = float(trainer.score_arc(x, y, tf.constant(LM_ARC)))
    rows = ptb_arc_rows_from_flat(tf.constant(LM_ARC), "enas_lm")
    logits, _ = model(x, model.initial_state(BATCH), arc=rows)
    ppl = np.exp(np.mean(token_cross_entropy(logits, y).numpy()))
    assert reward == pytest.approx(REWARD_CONSTANT / ppl, rel=1e-5)


def test_search_evaluation_samples_a_cell_per_window():
    model = supernet()
    calls = tf.Variable(0)

    def sample_arc():
        calls.assign_add(1)
        return tf.constant(LM_ARC)

    trainer = LanguageModelTrainer(model, config(), sample_arc=sample_arc, arc_format="enas_lm")
    stream = text_windows.batchify(np.arange(3 * 16) % VOCAB, BATCH)
    trainer.evaluate(text_windows.make_window_dataset(stream, 5), carry_state=False, sample_arcs=True)
    assert int(calls.numpy()) == 3


def test_nonfinite_loss_sets_the_flag():
    model = network()
    model.embedding.assign(tf.fill(model.embedding.shape, np.nan))
    trainer = LanguageModelTrainer(model, config())
    trainer.train_step(tokens(BATCH, 4, 0), tokens(BATCH, 4, 1))
    assert bool(trainer.nonfinite.numpy())


def test_reset_state_probability_one_always_starts_from_zero():
    model = network()
    trainer = LanguageModelTrainer(model, config(learning_rate=0.0, reset_state_prob=1.0), seed=0)
    trainer.state.assign(tf.ones_like(trainer.state))
    x = tokens(BATCH, 4, 3)
    trainer.train_step(x, x)
    _, expected = model(x, model.initial_state(BATCH))
    np.testing.assert_allclose(trainer.state.numpy(), expected.numpy(), atol=1e-6)


def test_search_trainer_needs_an_arc_format():
    with pytest.raises(ValueError, match="arc_format"):
        LanguageModelTrainer(supernet(), config(), sample_arc=lambda: tf.constant(LM_ARC))
    assert arch.PtbArc.parse(LM_ARC, arc_format="enas_lm").num_nodes == 4


def test_non_monotone_averaging_trigger():
    from enas_tf2.tasks.language_model import should_start_averaging

    history = [100.0, 90.0, 80.0, 85.0, 84.0]
    assert not should_start_averaging(history[:2], 200.0, nonmono=2)  # not more than n recorded
    # The best before the 2 most recent is min(100, 90, 80) = 80: worse than it starts averaging.
    assert should_start_averaging(history, 81.0, nonmono=2) is True
    assert not should_start_averaging(history, 79.0, nonmono=2)
    assert not should_start_averaging(history, 80.0, nonmono=2)
    assert not should_start_averaging(history, 101.0, nonmono=5)
