"""CIFAR-10's python-pickle batches, as the original's `--data_path` reads them (ENAS_SPEC.md 9.1).

`load_cifar10_pickles` reads `data_batch_1..5` and `test_batch` (directly in the folder or in
its `cifar-10-batches-py/`) into `images.ImageArrays`; `images.split_and_normalize` then cuts the
validation split and the statistics exactly as the original does. tensorflow-datasets' copy is
`tfds_images`, other data `image_folder`.
"""

from __future__ import annotations

import pathlib
import pickle
from typing import Any

import numpy as np
from absl import logging

from enas_tf2.data.images import ImageArrays
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
#: The CIFAR-10 classes in label order.
CIFAR10_CLASS_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")
IMAGE_SHAPE = (32, 32, 3)

# Where the tarball lives and which subdirectory it unpacks to.
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar.html"
CIFAR10_TARBALL = "cifar-10-python.tar.gz"
BATCHES_SUBDIR = "cifar-10-batches-py"

_HOW_TO_GET_DATA = (
    f"Download {CIFAR10_TARBALL} (the python version) from {CIFAR10_URL} and "
    f"extract it (`tar xzf {CIFAR10_TARBALL}` creates {BATCHES_SUBDIR}/), then pass "
    f"--data_path=<that folder or its parent>; or use --data_source=tfds on a "
    f"machine with internet access."
)


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


def load_cifar10_pickles(data_path: str) -> ImageArrays:
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
    arrays = ImageArrays(
        train_images=np.concatenate([images for images, _ in train]),
        train_labels=np.concatenate([labels for _, labels in train]),
        test_images=test_images,
        test_labels=test_labels,
        class_names=CIFAR10_CLASS_NAMES,
        source=f"CIFAR-10 python batches {batches_dir}",
    )
    logging.info(
        "Read CIFAR-10 pickles from %s: train=%d test=%d",
        batches_dir,
        arrays.train_images.shape[0],
        arrays.test_images.shape[0],
    )
    return arrays
