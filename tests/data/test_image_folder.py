"""Image data in a folder tree: classes, labels, sizes, the validation order, and every error named."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from enas_tf2.data import image_folder, image_sources
from enas_tf2.errors import DataError
from fake_images import write_image_folder


def test_classes_labels_and_images_come_from_the_folders(tmp_path):
    root = write_image_folder(tmp_path / "pets", per_class=5, test_per_class=2, size=12)
    arrays = image_folder.load_image_folder(str(root))
    assert arrays.class_names == ("cat", "dog", "fish", "owl")
    assert arrays.train_images.shape == (20, 12, 12, 3) and arrays.test_images.shape == (8, 12, 12, 3)
    assert np.bincount(arrays.train_labels).tolist() == [5, 5, 5, 5]
    # Each image is the PNG's pixels, with the label of its folder.
    class_names, pairs = image_folder.list_image_folder(str(root))
    path, label = pairs["train"][0]
    decoded = tf.io.decode_png(tf.io.read_file(path)).numpy()
    np.testing.assert_array_equal(arrays.train_images[0], decoded)
    assert arrays.train_labels[0] == label == class_names.index(path.split("/")[-2])


def test_the_validation_split_holds_every_class_and_does_not_depend_on_the_run(tmp_path):
    root = write_image_folder(tmp_path / "pets", per_class=10, test_per_class=1, size=8)
    data = image_sources.load_images("folder", str(root), search=True, num_valid=12)
    assert data.num_valid == 12 and data.num_train == 28
    assert len(set(data.valid_labels.tolist())) == 4  # the fixed random order mixes the classes
    again = image_sources.load_images("folder", str(root), search=True, num_valid=12)
    np.testing.assert_array_equal(data.valid_labels, again.valid_labels)
    # Unset, 10 % of the training images validate; final runs keep all of them.
    assert image_sources.load_images("folder", str(root), search=True).num_valid == 4
    assert image_sources.load_images("folder", str(root), search=False).num_valid == 0


def test_image_size_resizes_and_different_sizes_need_it(tmp_path):
    root = write_image_folder(tmp_path / "pets", per_class=2, test_per_class=1, size=10)
    odd = root / "train" / "cat" / "big.png"
    odd.write_bytes(tf.io.encode_png(np.zeros((14, 14, 3), np.uint8)).numpy())
    with pytest.raises(DataError, match="different sizes.*Pass --image_size"):
        image_folder.load_image_folder(str(root))
    arrays = image_folder.load_image_folder(str(root), image_size=8)
    assert arrays.train_images.shape[1:] == (8, 8, 3) and arrays.test_images.shape[1:] == (8, 8, 3)


def test_grayscale_images_are_read_as_rgb(tmp_path):
    root = write_image_folder(tmp_path / "pets", per_class=1, test_per_class=1, size=8)
    (root / "train" / "dog" / "gray.png").write_bytes(tf.io.encode_png(np.full((8, 8, 1), 7, np.uint8)).numpy())
    arrays = image_folder.load_image_folder(str(root))
    assert arrays.train_images.shape == (5, 8, 8, 3)


@pytest.mark.parametrize("break_it, message", [
    (lambda root: [p.unlink() for p in (root / "train" / "owl").iterdir()],
     r"Class folder .*train/owl holds no image"),
    (lambda root: (root / "test" / "dog" / "000.png").write_bytes(b"not a png at all"),
     r"Cannot decode image .*test/dog/000.png"),
    (lambda root: __import__("shutil").rmtree(root / "test" / "fish"),
     r"classes of .*train and .*test differ: only in train \['fish'\]"),
    (lambda root: __import__("shutil").rmtree(root / "test"), r"test does not exist"),
], ids=["empty_class", "unreadable_image", "classes_differ", "no_test_split"])
def test_bad_folders_are_clear_errors(tmp_path, break_it, message):
    root = write_image_folder(tmp_path / "pets", per_class=2, test_per_class=1, size=8)
    break_it(root)
    with pytest.raises(DataError, match=message):
        image_folder.load_image_folder(str(root))


def test_missing_or_empty_data_path(tmp_path):
    with pytest.raises(DataError, match="is not a folder"):
        image_folder.load_image_folder(str(tmp_path / "nothing"))
    with pytest.raises(DataError, match="needs --data_path"):
        image_folder.load_image_folder("")
