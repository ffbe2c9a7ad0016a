"""Language-model streams: id arrays -> `[batch, time]` rows -> BPTT windows (fixed or enas_lm's random).

Both references reshape a split row-contiguously into `[batch, time]` and walk along the time
axis in BPTT windows (fixed length, or enas_lm's random length, ENAS_PTB_SPEC.md 1.7):
`batchify`, `window_bounds`, `iter_windows` and `make_window_dataset` are their
`input_producer`; `make_valid_dataset` / `make_test_dataset` are the data side of the
evaluation protocol (ENAS_PTB_SPEC.md 2.5).

Everything except the `make_*_dataset` builders is NumPy only; TensorFlow is imported inside
those builders. Window randomness is a NumPy generator seeded with `(seed, epoch)`: an epoch's
windows depend only on those two numbers, so a resumed run sees exactly the windows it would
have seen.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

import numpy as np

from enas_tf2.errors import DataError

if TYPE_CHECKING:
    import tensorflow as tf

#: enas_lm's random BPTT length (ENAS_PTB_SPEC.md 1.7): base = bptt with this probability,
#: else bptt / 2;
RANDOM_BPTT_FULL_PROB = 0.95
#: then a normal around base with this standard deviation,
RANDOM_BPTT_STDDEV = 5.0
#: truncated at this many standard deviations (TF's `truncated_normal` re-draws beyond 2);
RANDOM_BPTT_TRUNCATION = 2.0
#: cast toward zero and capped at bptt + this (`seq_len <= num_steps + 20`).
RANDOM_BPTT_MAX_EXTRA = 20
#: An epoch of random windows ends once a window reaches `batch_len - 3`.
RANDOM_EPOCH_END_MARGIN = 3

#: Evaluation protocol of enas_lm `fixed.py` (ENAS_PTB_SPEC.md 2.5): valid batch 64, T 35,
#: state carried over the pass; test batch 1, T 1, state carried over the whole split.
VALID_BATCH_SIZE = 64
VALID_BPTT = 35
TEST_BATCH_SIZE = 1
TEST_BPTT = 1


def _check_positive(name: str, value: int) -> int:
    """Returns `value` as an int, or raises unless it is a positive integer."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise DataError(f"{name} must be a positive integer; got {value!r}.")
    return int(value)


def batchify(ids: np.ndarray, batch_size: int) -> np.ndarray:
    """Reshapes a split into `[batch_size, N // batch_size]` rows, as the original.

    The first `batch_size * (N // batch_size)` ids are kept (the remainder is dropped) and
    reshaped row-major, so row b is one contiguous stretch of the corpus and a state carried
    along the time axis sees running text.

    Args:
        ids: `int [N]` word ids.
        batch_size: rows B.

    Returns:
        `int32 [B, N // B]`.

    Raises:
        DataError: `ids` is not 1-D, `batch_size` is not positive, or a row would hold fewer than
            2 ids (no input/target pair).
    """
    batch_size = _check_positive("batch_size", batch_size)
    ids = np.asarray(ids)
    if ids.ndim != 1:
        raise DataError(f"PTB ids must be a 1-D array; got shape {list(ids.shape)}.")
    batch_len = ids.shape[0] // batch_size
    if batch_len < 2:
        raise DataError(
            f"{ids.shape[0]} ids give {batch_len} per row at batch_size={batch_size}; each row "
            "needs at least 2 (an input and its target). Use a smaller batch size or more data."
        )
    return ids[: batch_size * batch_len].reshape(batch_size, batch_len).astype(np.int32)


def num_windows_per_epoch(num_ids: int, batch_size: int, bptt: int) -> int:
    """Returns the original's nominal windows per epoch, `((N // B) - 1) // bptt`.

    This is the number of fixed-length windows of a pass, and the "batches per epoch" both
    originals use for the total step count and epoch numbering even with random lengths
    (ENAS_PTB_SPEC.md section 4 table: 207 for PTB train at B = 128, T = 35). The real number of
    random-length windows in an epoch is `len(window_bounds(..., random_len=True))`.
    """
    batch_size = _check_positive("batch_size", batch_size)
    bptt = _check_positive("bptt", bptt)
    return max((num_ids // batch_size - 1) // bptt, 0)


def sample_random_bptt(rng: np.random.Generator, bptt: int) -> int:
    """Draws one enas_lm window length before the caps (ENAS_PTB_SPEC.md 1.7).

    `base = bptt` with probability 0.95, else `bptt / 2`; then a normal of mean `base` and
    standard deviation 5, re-drawn beyond 2 standard deviations (TF's `truncated_normal`), cast
    toward zero: lengths 25..44 or 7..27 for bptt = 35. For bptt < 22 the draw can reach 0 or
    below, where the original's window would be empty or run backwards; it is raised to 1.
    """
    base = float(bptt) if rng.random() < RANDOM_BPTT_FULL_PROB else bptt / 2.0
    while True:
        z = rng.standard_normal()
        if abs(z) <= RANDOM_BPTT_TRUNCATION:
            break
    return max(int(base + RANDOM_BPTT_STDDEV * z), 1)


def window_bounds(
    batch_len: int,
    bptt: int,
    random_len: bool = False,
    seed: int = 0,
    epoch: int = 0,
    include_remainder: bool = False,
) -> np.ndarray:
    """Returns one epoch's windows over a `[B, batch_len]` stream as `(start, length)` rows.

    Window `(s, n)` has inputs `stream[:, s:s+n]` and targets `stream[:, s+1:s+n+1]`.

    * Fixed (`random_len=False`): `(batch_len - 1) // bptt` windows `(i * bptt, bptt)`, in
      order. `include_remainder` adds one shorter last window so that every target column
      `1..batch_len-1` is scored exactly once (the full-pass test protocol).
    * Random (enas_lm `input_producer(random_len=True)`, ENAS_PTB_SPEC.md 1.7): from start 0,
      each length is `sample_random_bptt`, capped at `bptt + 20` and at
      `batch_len - start - 1`; the next window starts where this one ends; the epoch ends with
      the first window whose end reaches `batch_len - 3` (so the last <= 3 columns of each row
      are never inputs). The generator is seeded with `(seed, epoch)`: the original draws from
      one stream over all epochs, which has the same distribution.

    Args:
        batch_len: columns of the stream, `N // B`.
        bptt: the (nominal) window length T.
        random_len: enas_lm's random lengths.
        seed: non-negative seed of the random lengths.
        epoch: non-negative epoch number, mixed into the seed.
        include_remainder: fixed windows only, see above.

    Returns:
        `int64 [num_windows, 2]`.

    Raises:
        DataError: bad arguments (non-positive sizes, negative seed/epoch, `include_remainder`
            with `random_len`), or `batch_len < 2`.
    """
    bptt = _check_positive("bptt", bptt)
    batch_len = _check_positive("batch_len", batch_len)
    if batch_len < 2:
        raise DataError(f"a stream needs at least 2 columns for one window; got {batch_len}.")
    if not random_len:
        num_windows = (batch_len - 1) // bptt
        bounds = [(index * bptt, bptt) for index in range(num_windows)]
        covered = num_windows * bptt
        if include_remainder and covered < batch_len - 1:
            bounds.append((covered, batch_len - 1 - covered))
        if not bounds:
            raise DataError(
                f"a stream of {batch_len} columns has no window of bptt={bptt} (a window needs "
                f"bptt + 1 columns); use a smaller bptt or batch size."
            )
        return np.asarray(bounds, dtype=np.int64)
    if include_remainder:
        raise DataError("include_remainder applies to fixed-length windows only.")
    for name, value in (("seed", seed), ("epoch", epoch)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise DataError(f"{name} must be a non-negative integer; got {value!r}.")
    rng = np.random.default_rng([int(seed), int(epoch)])
    bounds, start = [], 0
    while True:
        length = min(
            sample_random_bptt(rng, bptt), bptt + RANDOM_BPTT_MAX_EXTRA, batch_len - start - 1
        )
        bounds.append((start, length))
        start += length
        if start >= batch_len - RANDOM_EPOCH_END_MARGIN:
            return np.asarray(bounds, dtype=np.int64)


def _check_stream(stream: np.ndarray) -> np.ndarray:
    """Returns `stream` as an int32 `[B, T]` array, or raises."""
    stream = np.asarray(stream)
    if stream.ndim != 2 or not np.issubdtype(stream.dtype, np.integer) or stream.shape[1] < 2:
        raise DataError(
            f"a PTB stream must be an integer [batch, time] array with time >= 2 (see batchify); "
            f"got {stream.dtype} {list(stream.shape)}."
        )
    return stream.astype(np.int32, copy=False)


def iter_windows(
    stream: np.ndarray,
    bptt: int,
    random_len: bool = False,
    seed: int = 0,
    epoch: int = 0,
    include_remainder: bool = False,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yields one epoch of `(x, y)` windows of a `[B, batch_len]` stream, in order.

    `x = stream[:, s:s+n]`, `y = stream[:, s+1:s+n+1]` (the next word of each input) for every
    `(s, n)` of `window_bounds` (same arguments). The arrays are views of `stream`.

    Raises:
        DataError: as `window_bounds`, or `stream` is not an integer `[B, T >= 2]` array.
    """
    stream = _check_stream(stream)
    for start, length in window_bounds(
        stream.shape[1], bptt, random_len, seed, epoch, include_remainder
    ):
        yield stream[:, start : start + length], stream[:, start + 1 : start + length + 1]


def make_window_dataset(
    stream: np.ndarray,
    bptt: int,
    random_len: bool = False,
    seed: int = 0,
    epoch: int = 0,
    include_remainder: bool = False,
) -> tf.data.Dataset:
    """Returns one epoch of `iter_windows` as a `tf.data.Dataset` of `(x, y)`.

    The window bounds are computed up front (they do not depend on the data), then each window
    is a slice of the stream held as one constant, so the pipeline is pure TensorFlow and
    deterministic. Call it once per epoch with the epoch number (or `.repeat()` fixed windows
    for an endless in-order queue, as enas_lm's reward windows).

    Element spec: `(int32 [B, None], int32 [B, None])` when the length varies (`random_len`,
    or a shorter remainder window); `[B, bptt]` for fixed windows, which fits a train step
    traced with a `[B, None]` input signature too.

    Raises:
        DataError: as `iter_windows`.
    """
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    stream = _check_stream(stream)
    bounds = window_bounds(stream.shape[1], bptt, random_len, seed, epoch, include_remainder)
    varying = random_len or bool(bounds.size and bounds[-1, 1] != bptt)
    time_dim = None if varying else bptt
    data = tf.constant(stream, dtype=tf.int32)
    batch_size = stream.shape[0]

    def slice_window(start: tf.Tensor, length: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        x = data[:, start : start + length]
        y = data[:, start + 1 : start + length + 1]
        x.set_shape([batch_size, time_dim])
        y.set_shape([batch_size, time_dim])
        return x, y

    bounds = bounds.astype(np.int32)
    return tf.data.Dataset.from_tensor_slices((bounds[:, 0], bounds[:, 1])).map(slice_window)


def make_valid_dataset(
    ids: np.ndarray, batch_size: int = VALID_BATCH_SIZE, bptt: int = VALID_BPTT
) -> tf.data.Dataset:
    """Returns the validation pass of enas_lm `fixed.py` (ENAS_PTB_SPEC.md 2.5): fixed windows.

    Batch 64, T 35, in order, the remainder dropped: 32 windows covering 71 680 of PTB's
    73 759 valid targets. The caller zeroes the state before the pass, carries it across the
    windows and reports exp(mean of the window-mean cross-entropies).

    Raises:
        DataError: as `batchify` / `make_window_dataset`.
    """
    return make_window_dataset(batchify(ids, batch_size), bptt)


def make_test_dataset(ids: np.ndarray, bptt: int = TEST_BPTT) -> tf.data.Dataset:
    """Returns the test pass (ENAS_PTB_SPEC.md 2.5): batch 1 over the whole split.

    Every one of the `N - 1` targets is scored exactly once (82 429 for PTB test). The original
    steps one token at a time (`bptt=1`); with the state carried and no dropout a longer `bptt`
    computes exactly the same per-token losses in far fewer steps, so a caller may pass one
    (the last window is then shorter). The caller reports exp(mean per-token cross-entropy).

    Raises:
        DataError: as `batchify` / `make_window_dataset`.
    """
    return make_window_dataset(batchify(ids, TEST_BATCH_SIZE), bptt, include_remainder=True)


def make_random_window_dataset(stream: np.ndarray, bptt: int, seed: int | None = None,
                               start: int = 0) -> tf.data.Dataset:
    """Returns an endless dataset of `(x, y)` windows at uniformly random starts, from window `start` on.

    The original's controller reward window (ENAS_SPEC.md 8.6): start `i ~ U{0, ..., batch_len -
    bptt - 1}`, inputs `stream[:, i:i+bptt]`, targets shifted by one; no state carry.

    Raises:
        DataError: the stream is too short for one window, or as `_check_stream`.
    """
    import tensorflow as tf  # pylint: disable=g-import-not-at-top

    stream = _check_stream(stream)
    bptt = _check_positive("bptt", bptt)
    batch_size, batch_len = stream.shape
    num_starts = batch_len - bptt
    if num_starts < 1:
        raise DataError(
            f"a stream of {batch_len} columns has no window of bptt={bptt} (a window needs bptt + 1 columns)."
        )
    data = tf.constant(stream, dtype=tf.int32)

    def slice_window(value: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        start = tf.cast(value % num_starts, tf.int32)
        x = tf.ensure_shape(data[:, start : start + bptt], [batch_size, bptt])
        y = tf.ensure_shape(data[:, start + 1 : start + bptt + 1], [batch_size, bptt])
        return x, y

    # Skipping draws only the skipped random numbers (no slicing): a resumed stream opens at once.
    return tf.data.Dataset.random(seed=seed).skip(start).map(slice_window)
