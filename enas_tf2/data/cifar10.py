"""CIFAR-10 for ENAS: loading, the train/valid split, normalisation, tf.data streams.

The original reads the "python version" pickle batches from `--data_path`, keeps
the last 5000 training images as the validation split of a search run, normalises
every split with the training portion's per-channel mean and std, and augments
training batches with pad-4 / random-crop / random-flip (plus optional Cutout).
ENAS_SPEC.md section 9.1 is the reference; this module reproduces it and adds a
tensorflow-datasets source for machines that can download.

Design choices, all for speed and memory on small machines:

* Images stay `uint8` in memory and inside tf.data (50 000 images are 150 MB as
  uint8 but 600 MB as float32). They become float32 only one batch at a time.
* The streams shuffle *indices*, not images: shuffling 45 000 int64 scalars with
  a full-size buffer costs almost nothing, whereas a buffer of 45 000 images
  would copy 138 MB and delay the first batch.
* Normalisation and augmentation run once per batch on `[B, 32, 32, 3]` tensors
  (a gather with `batch_dims=1` does every image's crop at once), not once per
  image, so a batch of 128 costs about 2 ms on 2 CPU cores.
* Augmentation randomness is stateless and keyed on `(seed, batch number)`, so a
  seeded stream is reproducible even with parallel map calls.
"""

from __future__ import annotations

import dataclasses
import math
import pathlib
import pickle
import random
import socket
import threading
from typing import Any

import numpy as np
import tensorflow as tf
from absl import logging

from enas_tf2.errors import DataError

CIFAR10_TRAIN_FILES = (
    "data_batch_1",
    "data_batch_2",
    "data_batch_3",
    "data_batch_4",
    "data_batch_5",
)
CIFAR10_TEST_FILE = "test_batch"
NUM_CLASSES = 10
IMAGE_SHAPE = (32, 32, 3)

# Where the tarball lives and which subdirectory it unpacks to.
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
CIFAR10_TARBALL = "cifar-10-python.tar.gz"
BATCHES_SUBDIR = "cifar-10-batches-py"

# tensorflow-datasets downloads `cifar-10-binary.tar.gz` from this host. Offline,
# `tfds.load` retries for about 200 s before failing (DESIGN.md), so we probe it
# ourselves with a short timeout first.
TFDS_DOWNLOAD_HOST = "www.cs.toronto.edu"
TFDS_DOWNLOAD_PORT = 443
REACHABILITY_TIMEOUT_S = 3.0

DATA_SOURCES = ("pickle", "tfds")

# Spec 9.1: zero-pad 4 pixels on each side, then crop back to 32x32.
PAD_PIXELS = 4
# The original's evaluation batch size (spec 9.1: "Eval batches: 100").
EVAL_BATCH_SIZE = 100
# Images per chunk when computing the statistics (keeps temporaries ~10 MB).
_STATS_CHUNK = 4096

_HOW_TO_GET_DATA = (
    f"Download {CIFAR10_TARBALL} (the python version) from {CIFAR10_URL} and "
    f"extract it (`tar xzf {CIFAR10_TARBALL}` creates {BATCHES_SUBDIR}/), then pass "
    f"--data_path=<that folder or its parent>; or use --data_source=tfds on a "
    f"machine with internet access."
)


@dataclasses.dataclass(frozen=True, eq=False)
class Cifar10Arrays:
    """The raw CIFAR-10 arrays, as read from disk, before any split.

    `eq=False` because field-wise `==` on NumPy arrays is ambiguous; instances
    compare by identity.

    Attributes:
        train_images: `uint8 [50000, 32, 32, 3]` (HWC, RGB), in file order.
        train_labels: `int32 [50000]` class ids in `[0, 10)`.
        test_images: `uint8 [10000, 32, 32, 3]`.
        test_labels: `int32 [10000]`.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray


@dataclasses.dataclass(frozen=True, eq=False)
class Cifar10Data:
    """The splits a run trains and evaluates on, plus the normalisation statistics.

    Images are kept as `uint8` (see the module docstring); `mean` and `std` are
    applied per batch inside the tf.data pipelines as `(x / 255 - mean) / std`.

    Attributes:
        train_images: `uint8 [N_train, 32, 32, 3]`.
        train_labels: `int32 [N_train]`.
        valid_images: `uint8 [N_valid, 32, 32, 3]`, or None in final runs.
        valid_labels: `int32 [N_valid]`, or None in final runs.
        test_images: `uint8 [N_test, 32, 32, 3]`.
        test_labels: `int32 [N_test]`.
        mean: `float32 [3]`, per-channel mean of the training portion, [0, 1] scale.
        std: `float32 [3]`, per-channel population std (ddof=0), [0, 1] scale.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    valid_images: np.ndarray | None
    valid_labels: np.ndarray | None
    test_images: np.ndarray
    test_labels: np.ndarray
    mean: np.ndarray
    std: np.ndarray

    @property
    def num_train(self) -> int:
        """Number of training images."""
        return int(self.train_images.shape[0])

    @property
    def num_valid(self) -> int:
        """Number of validation images (0 when there is no validation split)."""
        return 0 if self.valid_images is None else int(self.valid_images.shape[0])

    @property
    def num_test(self) -> int:
        """Number of test images."""
        return int(self.test_images.shape[0])

    @property
    def has_valid(self) -> bool:
        """Whether this is a search-run split (with validation images)."""
        return self.valid_images is not None


# --------------------------------------------------------------------------------------
# Loading
# --------------------------------------------------------------------------------------


def find_batches_dir(data_path: str) -> pathlib.Path:
    """Returns the folder that holds the six CIFAR-10 python batches.

    The original expects the batch files directly in `--data_path`, but the
    official tarball unpacks into `cifar-10-batches-py/`; accepting both spares
    users a confusing failure when they point at the folder they extracted into.

    Args:
        data_path: a folder holding `data_batch_1..5` and `test_batch`, or the
            parent of such a `cifar-10-batches-py/` folder.

    Returns:
        The folder that contains all six files.

    Raises:
        DataError: `data_path` is empty, or neither candidate folder holds all six
            files. The message lists every folder looked at, the files missing from
            each, and how to obtain the data.
    """
    if not data_path:
        raise DataError(
            "CIFAR-10 data_path is empty; expected a folder holding "
            f"{', '.join(CIFAR10_TRAIN_FILES)}, {CIFAR10_TEST_FILE}. {_HOW_TO_GET_DATA}"
        )
    root = pathlib.Path(data_path).expanduser()
    expected = CIFAR10_TRAIN_FILES + (CIFAR10_TEST_FILE,)
    problems = []
    for candidate in (root, root / BATCHES_SUBDIR):
        if not candidate.is_dir():
            problems.append(f"{candidate} (not a directory)")
            continue
        missing = [name for name in expected if not (candidate / name).is_file()]
        if not missing:
            return candidate
        problems.append(f"{candidate} (missing {', '.join(missing)})")
    raise DataError(
        f"CIFAR-10 python batches not found under data_path={data_path!r}. Looked in: "
        f"{'; '.join(problems)}. Expected files: {', '.join(expected)}. {_HOW_TO_GET_DATA}"
    )


def _read_batch(path: pathlib.Path) -> tuple[np.ndarray, np.ndarray]:
    """Reads one pickle batch into `uint8 [n, 32, 32, 3]` images and `int32 [n]` labels.

    The files are Python-2 cPickles: `encoding="bytes"` keeps their str keys as
    bytes (`b"data"`, `b"labels"`), exactly as the original reads them. Files
    re-pickled under Python 3 have str keys; those are accepted too.

    Pickle executes code from the file: only read data you trust (as the original).
    """
    try:
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
    except OSError as e:
        raise DataError(f"Cannot read CIFAR-10 batch {path}: {e}") from e
    except Exception as e:  # pylint: disable=broad-except
        # Unpickling arbitrary bytes can raise almost any exception type
        # (UnpicklingError, EOFError, UnicodeDecodeError, struct.error, ...).
        # Re-raise as one error that names the file, with the cause chained.
        raise DataError(
            f"CIFAR-10 batch {path} is not a readable python pickle "
            f"({type(e).__name__}: {e}). Expected the python version of CIFAR-10 "
            f"({CIFAR10_TARBALL}), not the binary or MATLAB one. {_HOW_TO_GET_DATA}"
        ) from e

    def get(key: str) -> Any:
        if not isinstance(batch, dict):
            return None
        return batch.get(key.encode(), batch.get(key))

    data, labels = get("data"), get("labels")
    if data is None or labels is None:
        keys = sorted(map(repr, batch)) if isinstance(batch, dict) else type(batch).__name__
        raise DataError(
            f"CIFAR-10 batch {path} has no b'data'/b'labels' entries (found {keys}). "
            f"Expected a dict with b'data' uint8 [n, 3072] and b'labels' (n ints). "
            f"{_HOW_TO_GET_DATA}"
        )
    data = np.asarray(data)
    labels = np.asarray(labels)
    num_pixels = IMAGE_SHAPE[0] * IMAGE_SHAPE[1] * IMAGE_SHAPE[2]
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != num_pixels:
        raise DataError(
            f"CIFAR-10 batch {path}: b'data' is {data.dtype} {list(data.shape)}; "
            f"expected uint8 [n, {num_pixels}] (channel-planar R, G, B, 32x32 each)."
        )
    if labels.shape != (data.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise DataError(
            f"CIFAR-10 batch {path}: b'labels' is {labels.dtype} {list(labels.shape)}; "
            f"expected {data.shape[0]} integers, one per image."
        )
    if labels.size and (labels.min() < 0 or labels.max() >= NUM_CLASSES):
        raise DataError(
            f"CIFAR-10 batch {path}: labels span [{labels.min()}, {labels.max()}]; "
            f"expected class ids in [0, {NUM_CLASSES})."
        )
    # Row layout: R plane, G plane, B plane, each 32x32 row-major -> NCHW -> NHWC.
    channels, height, width = IMAGE_SHAPE[2], IMAGE_SHAPE[0], IMAGE_SHAPE[1]
    images = data.reshape(-1, channels, height, width).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels.astype(np.int32)


def load_cifar10_pickles(data_path: str) -> Cifar10Arrays:
    """Reads the original python-pickle batches (the original's `--data_path`).

    Args:
        data_path: see `find_batches_dir`.

    Returns:
        The five training batches concatenated in file order, and the test batch.

    Raises:
        DataError: files missing (see `find_batches_dir`) or malformed (not a
            pickle, missing keys, wrong shape or dtype); the message names the file.
    """
    batches_dir = find_batches_dir(data_path)
    train = [_read_batch(batches_dir / name) for name in CIFAR10_TRAIN_FILES]
    test_images, test_labels = _read_batch(batches_dir / CIFAR10_TEST_FILE)
    arrays = Cifar10Arrays(
        train_images=np.concatenate([images for images, _ in train]),
        train_labels=np.concatenate([labels for _, labels in train]),
        test_images=test_images,
        test_labels=test_labels,
    )
    logging.info(
        "Read CIFAR-10 pickles from %s: train=%d test=%d",
        batches_dir,
        arrays.train_images.shape[0],
        arrays.test_images.shape[0],
    )
    return arrays


def _tfds_is_prepared(data_dir: str | None) -> bool:
    """Whether tensorflow-datasets' `cifar10` is already built in `data_dir` (no I/O to the net)."""
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top

    return tfds.builder("cifar10", data_dir=data_dir).is_prepared()


def _download_host_reachable(
    host: str = TFDS_DOWNLOAD_HOST,
    port: int = TFDS_DOWNLOAD_PORT,
    timeout: float = REACHABILITY_TIMEOUT_S,
) -> bool:
    """Whether a TCP connection to `host:port` opens within `timeout` seconds.

    `socket.create_connection`'s timeout does not cover the DNS lookup, which can
    stall on a badly configured offline machine, so the probe runs in a daemon
    thread and is abandoned after `timeout` seconds whatever it is doing.
    """
    result = {"ok": False}

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result["ok"] = True
        except OSError:
            pass

    thread = threading.Thread(target=probe, name="cifar10-reachability", daemon=True)
    thread.start()
    thread.join(timeout)
    return result["ok"]


def load_cifar10_tfds(data_dir: str | None = None) -> Cifar10Arrays:
    """Loads CIFAR-10 through tensorflow-datasets, downloading it if needed and possible.

    Offline, tfds retries its download for about 200 s before failing, so this
    first checks (in about a second) whether the dataset is already prepared in
    `data_dir` and, if not, whether the download host answers within 3 s.

    Note: tfds stores the training set in its own (hashed) order, not the
    original file order, so the last 5000 images (the search-run validation
    split) are a different subset than with the pickle source.

    Args:
        data_dir: a tfds data directory; None for tfds' default
            (`$TFDS_DATA_DIR` or `~/tensorflow_datasets`).

    Returns:
        uint8 HWC images and int32 labels of tfds' `train` and `test` splits.

    Raises:
        DataError: tensorflow-datasets is not installed, or the dataset is not
            prepared and the download host is unreachable.
    """
    try:
        import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
    except ImportError as e:
        raise DataError(
            f"--data_source=tfds needs tensorflow-datasets and importlib_resources "
            f"(pip install -r requirements.txt): {e}. Or use --data_source=pickle "
            f"--data_path=<folder with the CIFAR-10 python batches>."
        ) from e

    where = data_dir or "the tfds default data_dir"
    if not _tfds_is_prepared(data_dir):
        if not _download_host_reachable():
            raise DataError(
                f"tensorflow-datasets 'cifar10' is not prepared in {where} and "
                f"{TFDS_DOWNLOAD_HOST}:{TFDS_DOWNLOAD_PORT} is unreachable (no internet?). "
                f"Use --data_source=pickle --data_path=<folder with data_batch_1..5 and "
                f"test_batch> (download {CIFAR10_TARBALL} from {CIFAR10_URL} on another "
                f"machine and copy it over), or prepare the tfds dataset on a machine "
                f"with internet and pass its data_dir as --data_path."
            )
        logging.info("Downloading and preparing tfds cifar10 into %s", where)

    builder = tfds.builder("cifar10", data_dir=data_dir)
    builder.download_and_prepare()  # No-op when already prepared.
    splits = {}
    for split in ("train", "test"):
        images, labels = tfds.as_numpy(
            builder.as_dataset(split=split, batch_size=-1, as_supervised=True)
        )
        splits[split] = (np.asarray(images, np.uint8), np.asarray(labels, np.int32))
    logging.info(
        "Loaded tfds cifar10 from %s: train=%d test=%d",
        where,
        splits["train"][0].shape[0],
        splits["test"][0].shape[0],
    )
    return Cifar10Arrays(
        train_images=splits["train"][0],
        train_labels=splits["train"][1],
        test_images=splits["test"][0],
        test_labels=splits["test"][1],
    )


# --------------------------------------------------------------------------------------
# Split and statistics
# --------------------------------------------------------------------------------------


def _channel_mean_std(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and population std of uint8 images, on the [0, 1] scale.

    Counts each channel's 256 pixel values chunk by chunk: the counts are exact
    integers, the moments are then taken in float64, and no float copy of the
    whole array is ever made.
    """
    channels = images.shape[-1]
    counts = np.zeros((channels, 256), np.int64)
    for start in range(0, images.shape[0], _STATS_CHUNK):
        pixels = images[start : start + _STATS_CHUNK].reshape(-1, channels)
        for c in range(channels):
            counts[c] += np.bincount(pixels[:, c], minlength=256)
    values = np.arange(256, dtype=np.float64) / 255.0
    total = counts.sum(axis=1).astype(np.float64)
    mean = counts @ values / total
    # The numerically safe two-pass variance costs nothing here: it runs over
    # 256 histogram bins, not over the pixels again.
    var = np.sum(counts * (values[np.newaxis, :] - mean[:, np.newaxis]) ** 2, axis=1) / total
    return mean.astype(np.float32), np.sqrt(var).astype(np.float32)


def split_and_normalize(arrays: Cifar10Arrays, num_valid: int) -> Cifar10Data:
    """Splits off the validation images and computes the normalisation statistics.

    As the original (spec 9.1): the *last* `num_valid` training images become
    the validation split (search runs use 5000); `num_valid=0` keeps all
    training images and no validation split (final runs). Mean and population
    std are per channel over the remaining training images only.

    Args:
        arrays: the raw arrays from a loader.
        num_valid: number of validation images, `0 <= num_valid < N_train`.

    Returns:
        The splits (views into `arrays`, no copies) and `mean`/`std`.

    Raises:
        DataError: `num_valid` is negative or leaves no training images.
    """
    num_total = int(arrays.train_images.shape[0])
    if num_valid < 0 or num_valid >= num_total:
        raise DataError(
            f"num_valid={num_valid} must be in [0, {num_total}) for {num_total} "
            f"training images (search runs use 5000, final runs 0)."
        )
    num_train = num_total - num_valid
    train_images = arrays.train_images[:num_train]
    train_labels = arrays.train_labels[:num_train]
    if num_valid:
        valid_images = arrays.train_images[num_train:]
        valid_labels = arrays.train_labels[num_train:]
    else:
        valid_images = valid_labels = None
    mean, std = _channel_mean_std(train_images)
    if np.any(std == 0):
        raise DataError(
            f"Training images have zero std in some channel (std={std.tolist()}); "
            f"the data is constant and cannot be normalised."
        )
    logging.info(
        "CIFAR-10 split: train=%d valid=%d test=%d mean*255=%s std*255=%s",
        num_train,
        num_valid,
        arrays.test_images.shape[0],
        np.round(mean * 255, 3).tolist(),
        np.round(std * 255, 3).tolist(),
    )
    return Cifar10Data(
        train_images=train_images,
        train_labels=train_labels.astype(np.int32, copy=False),
        valid_images=valid_images,
        valid_labels=None if valid_labels is None else valid_labels.astype(np.int32, copy=False),
        test_images=arrays.test_images,
        test_labels=arrays.test_labels.astype(np.int32, copy=False),
        mean=mean,
        std=std,
    )


def load_cifar10(
    data_source: str, data_path: str, search: bool, num_valid: int = 5000
) -> Cifar10Data:
    """Loads CIFAR-10 and splits it the way a search or final run needs.

    Args:
        data_source: "pickle" (the original's python batches in `data_path`) or
            "tfds" (tensorflow-datasets; `data_path` is its data_dir, '' for the
            default).
        data_path: see `data_source`.
        search: True for a search run (`num_valid` validation images), False for
            a final run (all training images, no validation split).
        num_valid: validation images in a search run.

    Returns:
        The split, normalisable data.

    Raises:
        DataError: unknown `data_source`, or any loading / split error.
    """
    if data_source == "pickle":
        arrays = load_cifar10_pickles(data_path)
    elif data_source == "tfds":
        arrays = load_cifar10_tfds(data_path or None)
    else:
        raise DataError(
            f"Unknown CIFAR-10 data_source={data_source!r}; expected one of "
            f"{', '.join(DATA_SOURCES)}."
        )
    return split_and_normalize(arrays, num_valid if search else 0)


# --------------------------------------------------------------------------------------
# tf.data pipelines
# --------------------------------------------------------------------------------------


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


def _resolve_seed(seed: int | None) -> int:
    """A fixed seed as given, or a fresh random one (for the stateless augmentation ops)."""
    if seed is not None:
        return int(seed)
    return random.SystemRandom().randrange(2**31)


def _image_stats(data: Cifar10Data) -> tuple[tf.Tensor, tf.Tensor]:
    """`mean` and `std` tiled to `float32 [32, 32, 3]`, for `_normalize`.

    Broadcasting a `[3]` vector over the innermost axis is Eigen's slow path on
    CPU (about 4 ms for a batch of 128 on 2 cores); a full `[32, 32, 3]` operand
    only broadcasts over the batch axis and is about 4x faster, with bit-identical
    results.
    """
    mean = np.broadcast_to(np.asarray(data.mean, np.float32), IMAGE_SHAPE)
    std = np.broadcast_to(np.asarray(data.std, np.float32), IMAGE_SHAPE)
    return tf.constant(mean), tf.constant(std)


def _normalize(images: tf.Tensor, mean: tf.Tensor, std: tf.Tensor) -> tf.Tensor:
    """`uint8 [..., 32, 32, 3]` -> `float32 (x / 255 - mean) / std`, in the original's order."""
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
    seed: int | None,
) -> tf.data.Dataset:
    """Endless `(index_batch, batch_number)` stream over a shuffled, repeated index range.

    Shuffles indices with a buffer the size of the whole set (a full reshuffle each
    pass), repeats, and batches with `drop_remainder=True` so every batch has the
    same static shape; batches may straddle two passes, as the original's stream did.
    """
    num = int(images.shape[0])
    if num == 0 or labels.shape[0] != num:
        raise DataError(f"Cannot stream {num} images with {labels.shape[0]} labels.")
    return (
        tf.data.Dataset.range(num)
        .shuffle(num, seed=seed, reshuffle_each_iteration=True)
        .repeat()
        .batch(batch_size, drop_remainder=True)
        .enumerate()
    )


def make_train_dataset(
    data: Cifar10Data,
    batch_size: int,
    cutout_size: int | None = None,
    seed: int | None = None,
    augment: bool = True,
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
    aug_seed = _resolve_seed(seed)
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
        _random_batches(data.train_images, data.train_labels, batch_size, seed)
        .map(make_batch, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )


def make_eval_dataset(
    images: np.ndarray | None,
    labels: np.ndarray | None,
    data: Cifar10Data,
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
    data: Cifar10Data, batch_size: int, seed: int | None = None
) -> tf.data.Dataset:
    """Endless random validation minibatches for the controller's reward (no augmentation).

    Args:
        data: split data with a validation split (a search run).
        batch_size: images per batch; every batch is full.
        seed: makes the order reproducible; None = random.

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
        _random_batches(data.valid_images, data.valid_labels, batch_size, seed)
        .map(make_batch, num_parallel_calls=tf.data.AUTOTUNE)
        .prefetch(tf.data.AUTOTUNE)
    )
