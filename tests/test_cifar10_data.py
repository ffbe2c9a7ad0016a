"""Tests of the CIFAR-10 loaders, split, normalisation and tf.data streams.

Everything except the last test runs on tiny fake batches written in the exact
format of the original python pickles (ENAS_SPEC.md 9.1), so the suite is fast
and offline. The last test reads the real shared data when it is present.
"""

from __future__ import annotations

import os
import pathlib
import pickle
import time

import numpy as np
import pytest
import tensorflow as tf

from enas_tf2.data import cifar10
from enas_tf2.errors import DataError
from fake_cifar import write_batch, write_fake_cifar

IMAGES_PER_FILE = 20
ALL_FILES = cifar10.CIFAR10_TRAIN_FILES + (cifar10.CIFAR10_TEST_FILE,)


def _write_fake_cifar(folder: pathlib.Path, seed: int = 0) -> dict[str, tuple[np.ndarray, list[int]]]:
    """Writes six fake batches into `folder`; returns the raw rows and labels per file."""
    return write_fake_cifar(folder, IMAGES_PER_FILE, seed)


def _fake_data(
    num_train: int = 16, num_valid: int = 8, num_test: int = 8, seed: int = 0
) -> cifar10.Cifar10Data:
    """A small split built in memory (random images, so every crop window is unique)."""
    rng = np.random.default_rng(seed)
    total = num_train + num_valid
    arrays = cifar10.Cifar10Arrays(
        train_images=rng.integers(0, 256, size=(total, 32, 32, 3), dtype=np.uint8),
        train_labels=rng.integers(0, 10, size=total).astype(np.int32),
        test_images=rng.integers(0, 256, size=(num_test, 32, 32, 3), dtype=np.uint8),
        test_labels=rng.integers(0, 10, size=num_test).astype(np.int32),
    )
    return cifar10.split_and_normalize(arrays, num_valid)


def _normalized(images: np.ndarray, data: cifar10.Cifar10Data) -> np.ndarray:
    """NumPy reference of the pipeline's normalisation."""
    return (images.astype(np.float32) / np.float32(255.0) - data.mean) / data.std


@pytest.fixture(name="fake_dir")
def fixture_fake_dir(tmp_path):
    written = _write_fake_cifar(tmp_path / "cifar")
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
    _write_fake_cifar(folder)

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


# ----------------------------------------------------------------------------- split / stats


def test_split_takes_the_last_num_valid_images(fake_dir):
    folder, _ = fake_dir
    arrays = cifar10.load_cifar10_pickles(str(folder))
    data = cifar10.split_and_normalize(arrays, 30)

    assert (data.num_train, data.num_valid, data.num_test) == (70, 30, 20)
    np.testing.assert_array_equal(data.train_images, arrays.train_images[:70])
    np.testing.assert_array_equal(data.valid_images, arrays.train_images[70:])
    np.testing.assert_array_equal(data.valid_labels, arrays.train_labels[70:])
    np.testing.assert_array_equal(data.test_images, arrays.test_images)


def test_split_without_valid_keeps_everything(fake_dir):
    folder, _ = fake_dir
    data = cifar10.split_and_normalize(cifar10.load_cifar10_pickles(str(folder)), 0)

    assert data.num_train == 100
    assert data.valid_images is None and data.valid_labels is None
    assert data.num_valid == 0 and not data.has_valid


@pytest.mark.parametrize("num_valid", [100, 150, -1])
def test_split_rejects_bad_num_valid(fake_dir, num_valid):
    folder, _ = fake_dir
    with pytest.raises(DataError, match=f"num_valid={num_valid}"):
        cifar10.split_and_normalize(cifar10.load_cifar10_pickles(str(folder)), num_valid)


def test_mean_std_equal_numpy_over_train_portion_only(fake_dir):
    folder, _ = fake_dir
    arrays = cifar10.load_cifar10_pickles(str(folder))
    data = cifar10.split_and_normalize(arrays, 30)

    train = arrays.train_images[:70].astype(np.float64) / 255.0
    assert data.mean.dtype == np.float32 and data.mean.shape == (3,)
    assert data.std.dtype == np.float32 and data.std.shape == (3,)
    np.testing.assert_allclose(data.mean, train.mean(axis=(0, 1, 2)), rtol=1e-6)
    np.testing.assert_allclose(data.std, train.std(axis=(0, 1, 2), ddof=0), rtol=1e-6)


# ----------------------------------------------------------------------------- streams


def test_num_train_batches_is_ceil():
    assert cifar10.num_train_batches(45000, 128) == 352
    assert cifar10.num_train_batches(50000, 100) == 500
    assert cifar10.num_train_batches(45000, 160) == 282
    assert cifar10.num_train_batches(50000, 144) == 348
    with pytest.raises(DataError, match="batch_size=0"):
        cifar10.num_train_batches(100, 0)


def test_train_batches_have_static_shape_and_normalised_stats():
    data = _fake_data(num_train=64, num_valid=8)
    # One batch of the whole (shuffled) training set: its stats are exactly 0 / 1.
    dataset = cifar10.make_train_dataset(data, batch_size=64, seed=3, augment=False)

    assert dataset.element_spec[0].shape == (64, 32, 32, 3)
    assert dataset.element_spec[0].dtype == tf.float32
    assert dataset.element_spec[1].shape == (64,)
    assert dataset.element_spec[1].dtype == tf.int32
    images, labels = next(iter(dataset))
    images = images.numpy()
    as_float64 = images.astype(np.float64)
    np.testing.assert_allclose(as_float64.mean(axis=(0, 1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(as_float64.std(axis=(0, 1, 2)), 1.0, atol=1e-5)
    # The batch is a permutation of the training set, with matching labels.
    expected = _normalized(data.train_images, data)
    order = [int(np.argmin(np.abs(expected - image).sum(axis=(1, 2, 3)))) for image in images]
    assert sorted(order) == list(range(64))
    np.testing.assert_allclose(images, expected[order], atol=1e-6)
    np.testing.assert_array_equal(labels.numpy(), data.train_labels[order])


def test_train_stream_is_endless_and_reproducible():
    data = _fake_data(num_train=10)
    first = [b[0].numpy() for b in cifar10.make_train_dataset(data, 4, seed=7).take(8)]
    again = [b[0].numpy() for b in cifar10.make_train_dataset(data, 4, seed=7).take(8)]

    assert len(first) == 8  # 32 images from a set of 10: the stream repeats.
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)


def test_crop_is_a_pure_translation_of_the_padded_image():
    data = _fake_data(num_train=16)
    padded = np.pad(_normalized(data.train_images, data), [(0, 0), (4, 4), (4, 4), (0, 0)])
    # [16, 9, 9, 3, 32, 32] -> [16, 9, 9, 32, 32, 3]: every 32x32 window of every image.
    windows = np.lib.stride_tricks.sliding_window_view(padded, (32, 32), axis=(1, 2))
    windows = np.moveaxis(windows, 3, -1)

    offsets, flips = set(), set()
    for images, labels in cifar10.make_train_dataset(data, batch_size=16, seed=11).take(4):
        for image, label in zip(images.numpy(), labels.numpy()):
            matches = []
            for flipped in (False, True):
                candidate = image[:, ::-1] if flipped else image
                # Exact equality: a crop moves values, it never interpolates them.
                hits = np.argwhere(np.all(windows == candidate, axis=(3, 4, 5)))
                matches += [(int(i), int(y), int(x), flipped) for i, y, x in hits]
            assert len(matches) == 1, matches
            source, y, x, flipped = matches[0]
            assert label == data.train_labels[source]
            offsets.add((y, x))
            flips.add(flipped)
    # 64 draws: both flip states and many of the 81 offsets must occur.
    assert flips == {False, True}
    assert len(offsets) > 20


def test_cutout_zeros_a_square_clipped_at_the_border():
    size = 16
    data = _fake_data(num_train=32)
    expected = _normalized(data.train_images, data)
    clipped = 0
    dataset = cifar10.make_train_dataset(data, 32, cutout_size=size, seed=5, augment=False)
    assert dataset.element_spec[0].shape == (32, 32, 32, 3)
    for images, _ in dataset.take(4):
        for image in images.numpy():
            # The source is the image that agrees everywhere outside the zeros.
            outside = np.where(image == 0, expected, image)
            source = int(np.argmin(np.abs(outside - expected).sum(axis=(1, 2, 3))))
            changed = np.any(image != expected[source], axis=-1)
            assert np.all(image[changed] == 0)
            ys, xs = np.nonzero(changed)
            top, left = ys.min(), xs.min()
            height, width = ys.max() - top + 1, xs.max() - left + 1
            assert changed.sum() == height * width  # A full rectangle.
            # Only the bottom / right borders clip it: the corner is the top-left.
            assert height == size or top + height == 32
            assert width == size or left + width == 32
            clipped += height < size or width < size
    assert clipped > 0


def test_bad_cutout_size_raises():
    with pytest.raises(DataError, match="cutout_size=0"):
        cifar10.make_train_dataset(_fake_data(), 4, cutout_size=0)


def test_eval_dataset_keeps_order_and_the_last_partial_batch():
    data = _fake_data(num_train=16, num_valid=8, num_test=25)
    dataset = cifar10.make_eval_dataset(data.test_images, data.test_labels, data, batch_size=10)
    batches = list(dataset)

    assert [int(b[0].shape[0]) for b in batches] == [10, 10, 5]
    images = np.concatenate([b[0].numpy() for b in batches])
    labels = np.concatenate([b[1].numpy() for b in batches])
    np.testing.assert_allclose(images, _normalized(data.test_images, data), atol=1e-6)
    np.testing.assert_array_equal(labels, data.test_labels)
    assert labels.dtype == np.int32


def test_eval_dataset_without_valid_split_raises():
    data = _fake_data(num_valid=0)
    with pytest.raises(DataError, match="no validation split"):
        cifar10.make_eval_dataset(data.valid_images, data.valid_labels, data)


def test_reward_dataset_draws_only_from_valid_images():
    data = _fake_data(num_train=16, num_valid=8)
    dataset = cifar10.make_reward_dataset(data, batch_size=6, seed=2)
    valid = _normalized(data.valid_images, data)

    assert dataset.element_spec[0].shape == (6, 32, 32, 3)
    assert dataset.element_spec[1].shape == (6,)
    seen = set()
    for images, labels in dataset.take(5):
        for image, label in zip(images.numpy(), labels.numpy()):
            distances = np.abs(valid - image).max(axis=(1, 2, 3))
            source = int(np.argmin(distances))
            assert distances[source] < 1e-6  # Unaugmented, normalised valid image.
            assert label == data.valid_labels[source]
            seen.add(source)
    assert seen == set(range(8))


def test_reward_dataset_without_valid_split_raises():
    with pytest.raises(DataError, match="needs a validation split"):
        cifar10.make_reward_dataset(_fake_data(num_valid=0), 4)


# ----------------------------------------------------------------------------- sources


def test_tfds_offline_raises_fast(monkeypatch):
    monkeypatch.setattr(cifar10, "_tfds_is_prepared", lambda data_dir: False)
    monkeypatch.setattr(cifar10, "_download_host_reachable", lambda *args, **kwargs: False)
    start = time.monotonic()
    with pytest.raises(DataError, match="--data_source=pickle --data_path="):
        cifar10.load_cifar10_tfds(None)
    assert time.monotonic() - start < 5.0


def test_tfds_real_prepared_check_on_empty_dir_raises_fast(monkeypatch, tmp_path):
    # The real "is it prepared?" check, without touching the network.
    monkeypatch.setattr(cifar10, "_download_host_reachable", lambda *args, **kwargs: False)
    start = time.monotonic()
    with pytest.raises(DataError, match="no internet") as info:
        cifar10.load_cifar10("tfds", str(tmp_path), search=True)
    assert time.monotonic() - start < 10.0
    assert str(tmp_path) in str(info.value)


def test_unknown_data_source_lists_known_ones():
    with pytest.raises(DataError, match="expected one of pickle, tfds"):
        cifar10.load_cifar10("npz", "whatever", search=True)


@pytest.mark.parametrize("search, num_valid", [(True, 10), (False, 0)], ids=["search", "final"])
def test_load_cifar10_pickle_split_follows_mode(fake_dir, search, num_valid):
    folder, _ = fake_dir
    data = cifar10.load_cifar10("pickle", str(folder), search=search, num_valid=10)
    assert data.num_valid == num_valid
    assert data.num_train == 100 - num_valid


def _real_data_path() -> pathlib.Path | None:
    from_env = os.environ.get("ENAS_CIFAR10_PATH")
    if from_env:
        return pathlib.Path(from_env)
    shared = pathlib.Path(__file__).resolve().parents[2] / "shared/data/cifar10"
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

    data = cifar10.split_and_normalize(arrays, 5000)
    assert (data.num_train, data.num_valid, data.num_test) == (45000, 5000, 10000)
    # ENAS_SPEC.md 9.1, measured on the shared data.
    np.testing.assert_allclose(data.mean * 255, [125.345, 122.942, 113.839], atol=1e-2)
    np.testing.assert_allclose(data.std * 255, [63.024, 62.137, 66.742], atol=1e-2)

    images, labels = next(iter(cifar10.make_train_dataset(data, 128, seed=0)))
    assert images.shape == (128, 32, 32, 3) and labels.shape == (128,)
