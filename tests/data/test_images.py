"""The in-memory splits: the validation cut, the statistics, the source dispatcher and resizing."""

from __future__ import annotations


import numpy as np
import pytest

from enas_tf2.data import cifar10, image_sources, images
from enas_tf2.errors import DataError
from fake_cifar import write_fake_cifar

IMAGES_PER_FILE = 20
ALL_FILES = cifar10.CIFAR10_TRAIN_FILES + (cifar10.CIFAR10_TEST_FILE,)


@pytest.fixture(name="fake_dir")
def fixture_fake_dir(tmp_path):
    written = write_fake_cifar(tmp_path / "cifar", IMAGES_PER_FILE)
    return tmp_path / "cifar", written


# ----------------------------------------------------------------------------- split / stats


def test_split_takes_the_last_num_valid_images(fake_dir):
    folder, _ = fake_dir
    arrays = cifar10.load_cifar10_pickles(str(folder))
    data = images.split_and_normalize(arrays, 30)

    assert (data.num_train, data.num_valid, data.num_test) == (70, 30, 20)
    np.testing.assert_array_equal(data.train_images, arrays.train_images[:70])
    np.testing.assert_array_equal(data.valid_images, arrays.train_images[70:])
    np.testing.assert_array_equal(data.valid_labels, arrays.train_labels[70:])
    np.testing.assert_array_equal(data.test_images, arrays.test_images)


def test_split_without_valid_keeps_everything(fake_dir):
    folder, _ = fake_dir
    data = images.split_and_normalize(cifar10.load_cifar10_pickles(str(folder)), 0)

    assert data.num_train == 100
    assert data.valid_images is None and data.valid_labels is None
    assert data.num_valid == 0 and not data.has_valid


@pytest.mark.parametrize("num_valid", [100, 150, -1])
def test_split_rejects_bad_num_valid(fake_dir, num_valid):
    folder, _ = fake_dir
    with pytest.raises(DataError, match=f"num_valid={num_valid}"):
        images.split_and_normalize(cifar10.load_cifar10_pickles(str(folder)), num_valid)


def test_mean_std_equal_numpy_over_train_portion_only(fake_dir):
    folder, _ = fake_dir
    arrays = cifar10.load_cifar10_pickles(str(folder))
    data = images.split_and_normalize(arrays, 30)

    train = arrays.train_images[:70].astype(np.float64) / 255.0
    assert data.mean.dtype == np.float32 and data.mean.shape == (3,)
    assert data.std.dtype == np.float32 and data.std.shape == (3,)
    np.testing.assert_allclose(data.mean, train.mean(axis=(0, 1, 2)), rtol=1e-6)
    np.testing.assert_allclose(data.std, train.std(axis=(0, 1, 2), ddof=0), rtol=1e-6)


def test_unknown_data_source_lists_known_ones():
    with pytest.raises(DataError, match="expected one of pickle, tfds, folder"):
        image_sources.load_images("npz", "whatever", search=True)


@pytest.mark.parametrize("search, num_valid", [(True, 10), (False, 0)], ids=["search", "final"])
def test_load_cifar10_pickle_split_follows_mode(fake_dir, search, num_valid):
    folder, _ = fake_dir
    data = image_sources.load_images("pickle", str(folder), search=search, num_valid=10)
    assert data.num_valid == num_valid
    assert data.num_train == 100 - num_valid


def test_cifar10_searches_hold_out_5000_and_other_data_10_percent_by_default(fake_dir):
    arrays = cifar10.load_cifar10_pickles(str(fake_dir[0]))
    assert images.default_num_valid(arrays, is_cifar10=True) == images.CIFAR10_NUM_VALID == 5000
    assert images.default_num_valid(arrays, is_cifar10=False) == 10  # of 100


def test_image_size_resizes_every_split_and_keeps_the_labels(fake_dir):
    data = image_sources.load_images("pickle", str(fake_dir[0]), search=True, num_valid=10, image_size=16)
    assert data.image_shape == (16, 16, 3) and data.valid_images.shape == (10, 16, 16, 3)
    assert data.test_images.shape[1:] == (16, 16, 3) and data.class_names[0] == "airplane"
    full = image_sources.load_images("pickle", str(fake_dir[0]), search=True, num_valid=10)
    np.testing.assert_array_equal(data.train_labels, full.train_labels)
    # A resized image is the average of its pixels' neighbourhoods: flat images stay flat.
    flat = images.ImageArrays(np.full((2, 8, 8, 3), 77, np.uint8), np.zeros(2, np.int32),
                              np.full((1, 8, 8, 3), 77, np.uint8), np.zeros(1, np.int32))
    assert set(np.unique(image_sources.resize_arrays(flat, 4).train_images)) == {77}
