"""Reading the original's CIFAR-10 python batches (ENAS_SPEC.md 9.1), and the real data when present."""

from __future__ import annotations

import os
import pathlib
import pickle
import time

import numpy as np
import pytest

from enas_tf2.data import cifar10, image_pipeline, images
from enas_tf2.errors import DataError
from fake_cifar import write_batch, write_fake_cifar

IMAGES_PER_FILE = 20
ALL_FILES = cifar10.CIFAR10_TRAIN_FILES + (cifar10.CIFAR10_TEST_FILE,)


@pytest.fixture(name="fake_dir")
def fixture_fake_dir(tmp_path):
    written = write_fake_cifar(tmp_path / "cifar", IMAGES_PER_FILE)
    return tmp_path / "cifar", written


# ----------------------------------------------------------------------------- reading


def test_reader_gives_hwc_images_equal_to_manual_reshape(fake_dir):
    folder, written = fake_dir
    arrays = cifar10.load_cifar10_pickles(str(folder))

    assert arrays.train_images.shape == (5 * IMAGES_PER_FILE, 32, 32, 3)
    assert arrays.test_images.shape == (IMAGES_PER_FILE, 32, 32, 3)
    assert arrays.train_images.dtype == np.uint8
    assert arrays.train_labels.dtype == np.int32
    train_rows = np.concatenate([written[name][0] for name in cifar10.CIFAR10_TRAIN_FILES])
    train_labels = sum((written[name][1] for name in cifar10.CIFAR10_TRAIN_FILES), [])
    np.testing.assert_array_equal(arrays.train_labels, train_labels)
    np.testing.assert_array_equal(arrays.test_labels, written["test_batch"][1])
    # Channel c at (y, x) of image i is data[i, c * 1024 + y * 32 + x].
    for i, y, x, c in [(0, 0, 0, 0), (23, 5, 17, 1), (99, 31, 30, 2), (41, 12, 0, 2)]:
        assert arrays.train_images[i, y, x, c] == train_rows[i, c * 1024 + y * 32 + x]
    expected = train_rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    np.testing.assert_array_equal(arrays.train_images, expected)
    test_rows = written["test_batch"][0]
    assert arrays.test_images[7, 3, 9, 1] == test_rows[7, 1 * 1024 + 3 * 32 + 9]


@pytest.mark.parametrize(
    "nested", [False, True], ids=["files_in_data_path", "cifar_10_batches_py_subdir"]
)
def test_both_layouts_are_found(tmp_path, nested):
    folder = tmp_path / "cifar-10-batches-py" if nested else tmp_path
    write_fake_cifar(folder)

    assert cifar10.find_batches_dir(str(tmp_path)) == folder
    arrays = cifar10.load_cifar10_pickles(str(tmp_path))
    assert arrays.train_images.shape[0] == 5 * IMAGES_PER_FILE


def test_missing_dir_raises_fast_naming_path_files_and_fix(tmp_path):
    missing = tmp_path / "nowhere"
    start = time.monotonic()
    with pytest.raises(DataError) as info:
        cifar10.load_cifar10_pickles(str(missing))
    assert time.monotonic() - start < 1.0
    message = str(info.value)
    assert str(missing) in message
    assert "data_batch_1" in message and "test_batch" in message
    assert "cifar-10-python.tar.gz" in message and "--data_source=tfds" in message


def test_empty_data_path_raises():
    with pytest.raises(DataError, match="data_path is empty"):
        cifar10.find_batches_dir("")


def test_missing_file_raises_naming_it(fake_dir):
    folder, _ = fake_dir
    (folder / "data_batch_3").unlink()
    start = time.monotonic()
    with pytest.raises(DataError) as info:
        cifar10.load_cifar10_pickles(str(folder))
    assert time.monotonic() - start < 1.0
    message = str(info.value)
    assert str(folder) in message
    assert "missing data_batch_3" in message
    assert "cifar-10-batches-py" in message  # The second place looked at.


def _not_a_pickle(path):
    path.write_bytes(b"\x00garbage, not a pickle at all" * 10)


def _truncated(path):
    path.write_bytes(path.read_bytes()[:500])


def _missing_keys(path):
    with open(path, "wb") as f:
        pickle.dump({b"pixels": np.zeros((2, 3072), np.uint8)}, f, protocol=2)


def _wrong_shape(path):
    write_batch(path, np.zeros((4, 1024), np.uint8), [0, 1, 2, 3])


def _wrong_label_count(path):
    write_batch(path, np.zeros((4, 3072), np.uint8), [0, 1])


@pytest.mark.parametrize(
    "corrupt, pattern",
    [
        (_not_a_pickle, "not a readable python pickle"),
        (_truncated, "not a readable python pickle"),
        (_missing_keys, "no b'data'/b'labels'"),
        (_wrong_shape, r"expected uint8 \[n, 3072\]"),
        (_wrong_label_count, "expected 4 integers"),
    ],
    ids=["not_a_pickle", "truncated", "missing_keys", "wrong_shape", "wrong_label_count"],
)
def test_malformed_file_raises_naming_it(fake_dir, corrupt, pattern):
    folder, _ = fake_dir
    bad = folder / "data_batch_2"
    corrupt(bad)
    start = time.monotonic()
    with pytest.raises(DataError, match=pattern) as info:
        cifar10.load_cifar10_pickles(str(folder))
    assert time.monotonic() - start < 1.0
    assert str(bad) in str(info.value)


def _real_data_path() -> pathlib.Path | None:
    from_env = os.environ.get("ENAS_CIFAR10_PATH")
    if from_env:
        return pathlib.Path(from_env)
    shared = pathlib.Path(__file__).resolve().parents[3] / "shared/data/cifar10"
    return shared if shared.exists() else None


def test_real_cifar10_counts_and_statistics():
    path = _real_data_path()
    if path is None:
        pytest.skip(
            "Real CIFAR-10 not found: set ENAS_CIFAR10_PATH to the python batches "
            "or place them in ../shared/data/cifar10 next to the repository."
        )
    arrays = cifar10.load_cifar10_pickles(str(path))
    assert arrays.train_images.shape == (50000, 32, 32, 3)
    assert arrays.test_images.shape == (10000, 32, 32, 3)
    assert np.bincount(arrays.train_labels, minlength=10).tolist() == [5000] * 10

    data = images.split_and_normalize(arrays, 5000)
    assert (data.num_train, data.num_valid, data.num_test) == (45000, 5000, 10000)
    # ENAS_SPEC.md 9.1, measured on the shared data.
    np.testing.assert_allclose(data.mean * 255, [125.345, 122.942, 113.839], atol=1e-2)
    np.testing.assert_allclose(data.std * 255, [63.024, 62.137, 66.742], atol=1e-2)

    batch, labels = next(iter(image_pipeline.make_train_dataset(data, 128, seed=0)))
    assert batch.shape == (128, 32, 32, 3) and labels.shape == (128,)
