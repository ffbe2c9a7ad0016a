"""The tf.data streams of an image-classification run: training, evaluation and reward batches.

The original (ENAS_SPEC.md 9.1) normalises every split with the training portion's per-channel
mean and std and augments training batches with pad-4 / random-crop / random-flip (plus
optional Cutout); these streams do the same for any `images.ImageData`.

Design choices, all for speed and memory on small machines:

* Images stay `uint8` in memory and inside tf.data; they become float32 one batch at a time.
* The streams shuffle *indices*, not images: shuffling 45 000 int64 scalars with
  a full-size buffer costs almost nothing, whereas a buffer of 45 000 images
  would copy 138 MB and delay the first batch.
* Normalisation and augmentation run once per batch on `[B, H, W, C]` tensors
  (a gather with `batch_dims=1` does every image's crop at once), not once per
  image, so a CIFAR-10 batch of 128 costs about 2 ms on 2 CPU cores.
* Shuffling and augmentation are stateless and keyed on `(seed, pass)` and `(seed, batch
  number)`, so a seeded stream is reproducible even with parallel map calls, and a resumed run
  starts it at any batch (its step counter) in well under a second.
"""

from __future__ import annotations

import math
import random

import numpy as np
import tensorflow as tf

from enas_tf2.data.images import ImageData
from enas_tf2.errors import DataError

# Spec 9.1: zero-pad 4 pixels on each side, then crop back to the image size.
PAD_PIXELS = 4
# The original's evaluation batch size (spec 9.1: "Eval batches: 100").
EVAL_BATCH_SIZE = 100
# Stop value of an endless `Dataset.range`.
_ENDLESS = 2**62


def num_train_batches(num_train: int, batch_size: int) -> int:
    """Training steps per "epoch", `ceil(N / B)` as in the original (352 for 45000/128).

    Raises:
        DataError: a non-positive argument.
    """
    if num_train <= 0 or batch_size <= 0:
        raise DataError(
            f"num_train_batches needs positive sizes. Received: num_train={num_train}, "
            f"batch_size={batch_size}"
        )
    return math.ceil(num_train / batch_size)


def _check_batch_size(batch_size: int) -> None:
    if not isinstance(batch_size, (int, np.integer)) or batch_size <= 0:
        raise DataError(
            f"batch_size must be a positive integer. Received: batch_size={batch_size!r}"
        )


def resolve_seed(seed: int | None) -> int:
    """A fixed seed as given, or a fresh random one (for the stateless augmentation ops)."""
    if seed is not None:
        return int(seed)
    return random.SystemRandom().randrange(2**31)


def _image_stats(data: ImageData) -> tuple[tf.Tensor, tf.Tensor]:
    """`mean` and `std` tiled to `float32 [H, W, C]` (the image shape), for `_normalize`.

    Broadcasting a `[3]` vector over the innermost axis is Eigen's slow path on
    CPU (about 4 ms for a batch of 128 on 2 cores); a full `[32, 32, 3]` operand
    only broadcasts over the batch axis and is about 4x faster, with bit-identical
    results.
    """
    mean = np.broadcast_to(np.asarray(data.mean, np.float32), data.image_shape)
    std = np.broadcast_to(np.asarray(data.std, np.float32), data.image_shape)
    return tf.constant(mean), tf.constant(std)


def _normalize(images: tf.Tensor, mean: tf.Tensor, std: tf.Tensor) -> tf.Tensor:
    """`uint8 [..., H, W, C]` -> `float32 (x / 255 - mean) / std`, in the original's order."""
    return (tf.cast(images, tf.float32) / 255.0 - mean) / std


def _pad_crop_flip(images: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Zero-pads 4 pixels, takes a random 32x32 window and flips half the images.

    Vectorised over the batch: each image's window rows and columns are index
    vectors, gathered with `batch_dims=1`; a flip is the same window's columns in
    reverse order, so crop and flip cost two gathers in all.

    Args:
        images: `float32 [B, H, W, C]`, already normalised (so zero = the mean).
        seed: `int64 [2]` stateless seed.

    Returns:
        `float32 [B, H, W, C]`.
    """
    batch = tf.shape(images)[0]
    height, width = images.shape[1], images.shape[2]
    offset_seed, flip_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    padded = tf.pad(images, [[0, 0], [PAD_PIXELS, PAD_PIXELS], [PAD_PIXELS, PAD_PIXELS], [0, 0]])
    offsets = tf.random.stateless_uniform(
        [batch, 2], offset_seed, minval=0, maxval=2 * PAD_PIXELS + 1, dtype=tf.int32
    )
    flip = tf.random.stateless_uniform([batch], flip_seed) < 0.5
    rows = offsets[:, :1] + tf.range(height)[tf.newaxis, :]  # [B, H]
    forward = tf.range(width)[tf.newaxis, :]
    cols = tf.where(flip[:, tf.newaxis], width - 1 - forward, forward)
    cols = offsets[:, 1:] + cols  # [B, W]
    out = tf.gather(padded, rows, axis=1, batch_dims=1)  # [B, H, W + 2p, C]
    return tf.gather(out, cols, axis=2, batch_dims=1)  # [B, H, W, C]


def _cutout(images: tf.Tensor, size: int, seed: tf.Tensor) -> tf.Tensor:
    """Zeroes a `size x size` square per image, top-left corner uniform, clipped at the border.

    Matches the original: the corner is uniform over every pixel (`[0, 31]^2`),
    so the square is not centred on it and is cut off at the bottom / right edge.
    The mask is built on a `[B, H, W * C]` view, which avoids broadcasting over
    the channel axis (Eigen's slow path; this halves the cost).
    """
    batch = tf.shape(images)[0]
    height, width, channels = images.shape[1], images.shape[2], images.shape[3]
    y_seed, x_seed = tf.unstack(tf.random.experimental.stateless_split(seed, 2))
    corner_y = tf.random.stateless_uniform(
        [batch, 1], y_seed, minval=0, maxval=height, dtype=tf.int32
    )
    corner_x = tf.random.stateless_uniform(
        [batch, 1], x_seed, minval=0, maxval=width, dtype=tf.int32
    )
    ys = tf.range(height)[tf.newaxis, :]
    xs = tf.repeat(tf.range(width), channels)[tf.newaxis, :]  # Column of each (x, c) slot.
    in_rows = (ys >= corner_y) & (ys < corner_y + size)  # [B, H]
    in_cols = (xs >= corner_x) & (xs < corner_x + size)  # [B, W * C]
    mask = in_rows[:, :, tf.newaxis] & in_cols[:, tf.newaxis, :]  # [B, H, W * C]
    flat = tf.reshape(images, [batch, height, width * channels])
    return tf.reshape(tf.where(mask, tf.zeros_like(flat), flat), tf.shape(images))


def _random_batches(
    images: np.ndarray,
    labels: np.ndarray,
    batch_size: int,
    seed: int,
    start_batch: int = 0,
) -> tf.data.Dataset:
    """Endless `(batch_number, index_batch)` stream from batch `start_batch` on.

    Pass `p` over the set is the stateless permutation keyed on `(seed, p)`; the passes are
    concatenated and cut into batches of `batch_size` (`drop_remainder`, so every batch has the
    same static shape; a batch may straddle two passes, as the original's stream did). Because
    batch `b` depends only on `(seed, b)`, a resumed run starts the stream at its step counter
    and sees exactly the batches it would have seen: no iterator state to checkpoint, and no
    replay of the batches before it (at most one pass of indices is skipped).
    """
    num = int(images.shape[0])
    if num == 0 or labels.shape[0] != num:
        raise DataError(f"Cannot stream {num} images with {labels.shape[0]} labels.")
    if start_batch < 0:
        raise DataError(f"start_batch must be non-negative. Received: {start_batch}")
    first_pass, offset = divmod(int(start_batch) * batch_size, num)
    seed_tensor = tf.constant(int(seed), tf.int64)

    def one_pass(pass_number: tf.Tensor) -> tf.data.Dataset:
        # Keys `(seed, -1 - p)`: disjoint from the augmentation's `(seed, batch number >= 0)`.
        order = tf.random.experimental.stateless_shuffle(
            tf.range(num, dtype=tf.int64), seed=tf.stack([seed_tensor, -1 - pass_number])
        )
        return tf.data.Dataset.from_tensor_slices(order)

    batches = (
        tf.data.Dataset.range(first_pass, _ENDLESS)
        .flat_map(one_pass)
        .skip(offset)
        .batch(batch_size, drop_remainder=True)
    )
    return tf.data.Dataset.zip(tf.data.Dataset.range(int(start_batch), _ENDLESS), batches)


def make_train_dataset(
    data: ImageData,
    batch_size: int,
    cutout_size: int | None = None,
    seed: int | None = None,
    augment: bool = True,
    start_batch: int = 0,
) -> tf.data.Dataset:
    """The endless, shuffled, augmented training stream (spec 9.1).

    Per batch: gather the uint8 images, normalise, then (if `augment`) zero-pad
    4 / random 32x32 crop / random horizontal flip per image, then (if
    `cutout_size`) Cutout. `augment=False` turns off crop and flip only, so
    Cutout can be tested or used on its own.

    Args:
        data: the split data (training images and mean/std).
        batch_size: images per batch; every batch is full.
        cutout_size: side of the Cutout square; None = off (as in every script).
        seed: makes shuffling and augmentation reproducible; None = random.
        augment: apply pad / crop / flip.
        start_batch: the first batch to yield (a resumed run passes its step counter); batch
            `b`'s images and augmentation depend only on `(seed, b)`.

    Returns:
        A dataset of `(images float32 [B, 32, 32, 3], labels int32 [B])` with a
        fully static shape, prefetched.

    Raises:
        DataError: bad `batch_size` or `cutout_size`.
    """
    _check_batch_size(batch_size)
    if cutout_size is not None and (
        not isinstance(cutout_size, (int, np.integer)) or cutout_size <= 0
    ):
        raise DataError(
            f"cutout_size must be a positive integer or None (off). Received: "
            f"cutout_size={cutout_size!r}"
        )
    aug_seed = resolve_seed(seed)
    images = tf.constant(data.train_images)
    labels = tf.constant(data.train_labels, tf.int32)
    mean, std = _image_stats(data)

    def make_batch(step: tf.Tensor, indices: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        batch_seed = tf.stack([tf.constant(aug_seed, tf.int64), step])
        crop_seed, cutout_seed = tf.unstack(tf.random.experimental.stateless_split(batch_seed, 2))
        x = _normalize(tf.gather(images, indices), mean, std)
        if augment:
            x = _pad_crop_flip(x, crop_seed)
        if cutout_size is not None:
            x = _cutout(x, int(cutout_size), cutout_seed)
        return x, tf.gather(labels, indices)

    return (
        _random_batches(data.train_images, data.train_labels, batch_size, aug_seed, start_batch)
        .map(make_batch, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )


def make_eval_dataset(
    images: np.ndarray | None,
    labels: np.ndarray | None,
    data: ImageData,
    batch_size: int = EVAL_BATCH_SIZE,
) -> tf.data.Dataset:
    """One ordered pass over `images`, normalised with `data`'s statistics, no augmentation.

    The final partial batch is kept so every image is evaluated exactly once.

    Args:
        images: `uint8 [N, 32, 32, 3]` (e.g. `data.valid_images` or `data.test_images`).
        labels: `int32 [N]`.
        data: supplies `mean` and `std`.
        batch_size: 100 in the original.

    Returns:
        A dataset of `(float32 [b, 32, 32, 3], int32 [b])`, `b <= batch_size`.

    Raises:
        DataError: `images` is None (e.g. the validation split of a final run) or
            the sizes disagree.
    """
    _check_batch_size(batch_size)
    if images is None or labels is None:
        raise DataError(
            "No images to evaluate (None): final runs have no validation split; "
            "evaluate the test split, or load with search=True."
        )
    if images.shape[0] != labels.shape[0]:
        raise DataError(f"Eval set has {images.shape[0]} images but {labels.shape[0]} labels.")
    mean, std = _image_stats(data)
    return (
        tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int32, copy=False)))
        .batch(batch_size, drop_remainder=False)
        .map(lambda x, y: (_normalize(x, mean, std), y), num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )


def make_reward_dataset(
    data: ImageData, batch_size: int, seed: int | None = None, start_batch: int = 0
) -> tf.data.Dataset:
    """Endless random validation minibatches for the controller's reward (no augmentation).

    Args:
        data: split data with a validation split (a search run).
        batch_size: images per batch; every batch is full.
        seed: makes the order reproducible; None = random.
        start_batch: the first batch to yield (a resumed run passes the number it has read).

    Returns:
        A dataset of `(float32 [B, 32, 32, 3], int32 [B])`, static shape, prefetched.

    Raises:
        DataError: `data` has no validation split, or bad `batch_size`.
    """
    _check_batch_size(batch_size)
    if data.valid_images is None or data.valid_labels is None:
        raise DataError(
            "The controller's reward needs a validation split, but this data has none "
            "(loaded for a final run). Load with search=True / num_valid > 0."
        )
    images = tf.constant(data.valid_images)
    labels = tf.constant(data.valid_labels, tf.int32)
    mean, std = _image_stats(data)

    def make_batch(step: tf.Tensor, indices: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        del step  # No randomness beyond the shuffle.
        return _normalize(tf.gather(images, indices), mean, std), tf.gather(labels, indices)

    return (
        _random_batches(data.valid_images, data.valid_labels, batch_size, resolve_seed(seed), start_batch)
        .map(make_batch, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
