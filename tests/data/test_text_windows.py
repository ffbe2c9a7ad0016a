"""The language-model streams: `[batch, time]` rows, fixed and random BPTT windows, the evaluation passes."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from enas_tf2.data import text_windows
from enas_tf2.errors import DataError


def arange_stream(batch_size: int, batch_len: int) -> np.ndarray:
    return np.arange(batch_size * batch_len, dtype=np.int32).reshape(batch_size, batch_len)


# ----------------------------------------------------------------------------- batchify


def test_batchify_drops_the_remainder_and_keeps_rows_contiguous():
    ids = np.arange(23)
    stream = text_windows.batchify(ids, 4)
    assert stream.shape == (4, 5) and stream.dtype == np.int32
    np.testing.assert_array_equal(stream, np.arange(20).reshape(4, 5))
    assert text_windows.batchify(ids, 1).shape == (1, 23)


def test_batchify_errors():
    with pytest.raises(DataError, match="batch_size must be a positive integer; got 0"):
        text_windows.batchify(np.arange(10), 0)
    with pytest.raises(DataError, match="10 ids give 1 per row at batch_size=6"):
        text_windows.batchify(np.arange(10), 6)
    with pytest.raises(DataError, match=r"1-D array; got shape \[2, 5\]"):
        text_windows.batchify(np.zeros((2, 5), np.int32), 1)


@pytest.mark.parametrize(
    "num_ids, batch_size, bptt, expected",
    [
        # ENAS_PTB_SPEC.md section 4 table (train / valid / test sizes of the real data).
        (929589, 128, 35, 207), (929589, 64, 35, 414), (929589, 20, 35, 1327),
        (73760, 128, 35, 16), (73760, 64, 35, 32), (73760, 20, 35, 105), (73760, 1, 1, 73759),
        (82430, 128, 35, 18), (82430, 64, 35, 36), (82430, 20, 35, 117), (82430, 1, 1, 82429),
    ],
)
def test_num_windows_per_epoch_matches_the_spec_table(num_ids, batch_size, bptt, expected):
    assert text_windows.num_windows_per_epoch(num_ids, batch_size, bptt) == expected


# ----------------------------------------------------------------------------- fixed windows


def test_fixed_windows_cover_the_stream_with_targets_shifted_by_one():
    stream = arange_stream(3, 23)  # (23 - 1) // 5 = 4 windows; columns 20..22 unused as input.
    windows = list(text_windows.iter_windows(stream, 5))
    assert len(windows) == 4 == text_windows.num_windows_per_epoch(stream.size, 3, 5)
    for index, (x, y) in enumerate(windows):
        assert x.shape == y.shape == (3, 5)
        np.testing.assert_array_equal(x, stream[:, 5 * index : 5 * index + 5])
        np.testing.assert_array_equal(y, x + 1)  # The next word of the same row.
    np.testing.assert_array_equal(np.concatenate([x for x, _ in windows], axis=1), stream[:, :20])


def test_fixed_windows_with_remainder_score_every_target_once():
    stream = arange_stream(2, 23)
    bounds = text_windows.window_bounds(23, 5, include_remainder=True)
    assert bounds.tolist() == [[0, 5], [5, 5], [10, 5], [15, 5], [20, 2]]
    targets = np.concatenate([y for _, y in text_windows.iter_windows(stream, 5, include_remainder=True)], 1)
    np.testing.assert_array_equal(targets, stream[:, 1:])
    # No remainder when the windows already end at the last target.
    assert text_windows.window_bounds(21, 5, include_remainder=True).tolist() == [
        [0, 5], [5, 5], [10, 5], [15, 5]
    ]


def test_window_argument_errors():
    with pytest.raises(DataError, match="bptt must be a positive integer; got 0"):
        text_windows.window_bounds(10, 0)
    with pytest.raises(DataError, match="no window of bptt=35"):
        text_windows.window_bounds(20, 35)
    with pytest.raises(DataError, match="at least 2 columns"):
        text_windows.window_bounds(1, 1)
    with pytest.raises(DataError, match="fixed-length windows only"):
        text_windows.window_bounds(100, 5, random_len=True, include_remainder=True)
    with pytest.raises(DataError, match="seed must be a non-negative integer; got -1"):
        text_windows.window_bounds(100, 5, random_len=True, seed=-1)
    with pytest.raises(DataError, match=r"integer \[batch, time\] array"):
        next(text_windows.iter_windows(np.arange(10), 2))


def test_fixed_window_dataset_matches_the_numpy_windows():
    stream = arange_stream(3, 23)
    dataset = text_windows.make_window_dataset(stream, 5)
    assert dataset.element_spec == (
        tf.TensorSpec([3, 5], tf.int32), tf.TensorSpec([3, 5], tf.int32)
    )
    got = [(x.numpy(), y.numpy()) for x, y in dataset]
    want = list(text_windows.iter_windows(stream, 5))
    assert len(got) == len(want)
    for (gx, gy), (wx, wy) in zip(got, want):
        np.testing.assert_array_equal(gx, wx)
        np.testing.assert_array_equal(gy, wy)


# ----------------------------------------------------------------------------- random windows


def test_random_lengths_follow_the_enas_lm_distribution():
    rng = np.random.default_rng(0)
    lengths = np.array([text_windows.sample_random_bptt(rng, 35) for _ in range(20000)])
    # Truncation at 2 std, cast toward zero: 25..44 (base 35) or 7..27 (base 17.5).
    assert lengths.min() >= 7 and lengths.max() == 44
    # Lengths below 25 only come from the short base (p = 0.05; 95 % of its mass is < 25).
    assert 0.035 < np.mean(lengths < 25) < 0.06
    assert abs(lengths.mean() - 33.6) < 0.3  # ENAS_PTB_SPEC.md 1.7: mean ~33.6.
    # Small bptt: the draw is raised to 1 instead of giving an empty / backward window.
    small = [text_windows.sample_random_bptt(rng, 2) for _ in range(2000)]
    assert min(small) == 1 and max(small) <= 12


def test_random_windows_cover_the_stream_contiguously_until_the_epoch_end():
    batch_len = 3000
    for epoch in range(5):
        bounds = text_windows.window_bounds(batch_len, 35, random_len=True, seed=7, epoch=epoch)
        starts, lengths = bounds[:, 0], bounds[:, 1]
        ends = starts + lengths
        assert starts[0] == 0
        # Each window starts where the previous one ended.
        np.testing.assert_array_equal(starts[1:], ends[:-1])
        assert np.all(lengths >= 1) and np.all(lengths <= 35 + 20)
        assert np.all(lengths[:-1] >= 7) and np.all(lengths[:-1] <= 44)
        # The epoch ends with the first window reaching batch_len - 3; targets stay in range.
        assert batch_len - 3 <= ends[-1] <= batch_len - 1
        assert np.all(ends[:-1] < batch_len - 3)

    stream = arange_stream(2, 400)
    windows = list(text_windows.iter_windows(stream, 35, random_len=True, seed=3))
    inputs = np.concatenate([x for x, _ in windows], axis=1)
    np.testing.assert_array_equal(inputs, stream[:, : inputs.shape[1]])
    for x, y in windows:
        np.testing.assert_array_equal(y, x + 1)


def test_random_windows_are_reproducible_per_seed_and_epoch():
    def bounds(seed, epoch):
        return text_windows.window_bounds(5000, 35, random_len=True, seed=seed, epoch=epoch)

    np.testing.assert_array_equal(bounds(1, 0), bounds(1, 0))
    assert not np.array_equal(bounds(1, 0), bounds(2, 0))
    assert not np.array_equal(bounds(1, 0), bounds(1, 1))


def test_random_window_count_per_epoch_is_near_the_nominal_count():
    # 64 rows of PTB train: ~432 real steps against 414 nominal (ENAS_PTB_SPEC.md 2.3).
    batch_len = 929589 // 64
    counts = [
        len(text_windows.window_bounds(batch_len, 35, random_len=True, seed=0, epoch=e)) for e in range(5)
    ]
    assert text_windows.num_windows_per_epoch(929589, 64, 35) == 414
    assert all(420 <= count <= 445 for count in counts)


def test_random_window_dataset_has_a_dynamic_time_axis():
    stream = arange_stream(4, 500)
    dataset = text_windows.make_window_dataset(stream, 35, random_len=True, seed=5, epoch=2)
    assert dataset.element_spec == (
        tf.TensorSpec([4, None], tf.int32), tf.TensorSpec([4, None], tf.int32)
    )
    got = [(x.numpy(), y.numpy()) for x, y in dataset]
    want = list(text_windows.iter_windows(stream, 35, random_len=True, seed=5, epoch=2))
    assert len(got) == len(want) and len({x.shape[1] for x, _ in got}) > 1
    for (gx, gy), (wx, wy) in zip(got, want):
        np.testing.assert_array_equal(gx, wx)
        np.testing.assert_array_equal(gy, wy)


# ----------------------------------------------------------------------------- eval protocol


def test_valid_dataset_is_batch_64_fixed_35_in_order():
    ids = np.arange(73760)
    dataset = text_windows.make_valid_dataset(ids)
    assert dataset.element_spec[0].shape.as_list() == [64, 35]
    windows = list(dataset.as_numpy_iterator())
    assert len(windows) == 32  # Covers 32 * 35 * 64 = 71 680 targets (ENAS_PTB_SPEC.md 2.5).
    stream = text_windows.batchify(ids, 64)
    np.testing.assert_array_equal(windows[0][0], stream[:, :35])
    np.testing.assert_array_equal(windows[-1][1], stream[:, 31 * 35 + 1 : 32 * 35 + 1])


def test_test_dataset_scores_every_target_of_the_split_once():
    ids = np.arange(100, 150)
    one_by_one = list(text_windows.make_test_dataset(ids).as_numpy_iterator())
    assert len(one_by_one) == 49 and one_by_one[0][0].shape == (1, 1)
    chunked = text_windows.make_test_dataset(ids, bptt=8)
    assert chunked.element_spec[0].shape.as_list() == [1, None]
    for windows in (one_by_one, list(chunked.as_numpy_iterator())):
        np.testing.assert_array_equal(np.concatenate([x for x, _ in windows], 1)[0], ids[:-1])
        np.testing.assert_array_equal(np.concatenate([y for _, y in windows], 1)[0], ids[1:])


def test_random_reward_windows_are_shifted_pairs_at_uniform_starts():
    """The original's reward window (ENAS_SPEC.md 8.6): start in 0..batch_len-bptt-1, targets shifted."""
    stream = arange_stream(3, 20)
    dataset = text_windows.make_random_window_dataset(stream, bptt=6, seed=4)
    starts = set()
    for x, y in dataset.take(200):
        x, y = x.numpy(), y.numpy()
        assert x.shape == y.shape == (3, 6)
        np.testing.assert_array_equal(y, x + 1)
        start = int(x[0, 0])
        assert 0 <= start <= 20 - 6 - 1
        np.testing.assert_array_equal(x, stream[:, start : start + 6])
        starts.add(start)
    assert starts == set(range(14))  # every start is reachable
    with pytest.raises(DataError, match="bptt=20"):
        text_windows.make_random_window_dataset(stream, bptt=20)
