"""The tf.data streams: static shapes, normalisation, augmentation, evaluation order, rewards."""

from __future__ import annotations


import numpy as np
import pytest
import tensorflow as tf

from enas_tf2.data import cifar10, image_pipeline
from enas_tf2.errors import DataError
from fake_images import fake_image_data, normalized

IMAGES_PER_FILE = 20
ALL_FILES = cifar10.CIFAR10_TRAIN_FILES + (cifar10.CIFAR10_TEST_FILE,)


# ----------------------------------------------------------------------------- streams


def test_num_train_batches_is_ceil():
    assert image_pipeline.num_train_batches(45000, 128) == 352
    assert image_pipeline.num_train_batches(50000, 100) == 500
    assert image_pipeline.num_train_batches(45000, 160) == 282
    assert image_pipeline.num_train_batches(50000, 144) == 348
    with pytest.raises(DataError, match="batch_size=0"):
        image_pipeline.num_train_batches(100, 0)


def test_train_batches_have_static_shape_and_normalised_stats():
    data = fake_image_data(num_train=64, num_valid=8)
    # One batch of the whole (shuffled) training set: its stats are exactly 0 / 1.
    dataset = image_pipeline.make_train_dataset(data, batch_size=64, seed=3, augment=False)

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
    expected = normalized(data.train_images, data)
    order = [int(np.argmin(np.abs(expected - image).sum(axis=(1, 2, 3)))) for image in images]
    assert sorted(order) == list(range(64))
    np.testing.assert_allclose(images, expected[order], atol=1e-6)
    np.testing.assert_array_equal(labels.numpy(), data.train_labels[order])


def test_train_stream_is_endless_and_reproducible():
    data = fake_image_data(num_train=10)
    first = [b[0].numpy() for b in image_pipeline.make_train_dataset(data, 4, seed=7).take(8)]
    again = [b[0].numpy() for b in image_pipeline.make_train_dataset(data, 4, seed=7).take(8)]

    assert len(first) == 8  # 32 images from a set of 10: the stream repeats.
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)


def test_crop_is_a_pure_translation_of_the_padded_image():
    data = fake_image_data(num_train=16)
    padded = np.pad(normalized(data.train_images, data), [(0, 0), (4, 4), (4, 4), (0, 0)])
    # [16, 9, 9, 3, 32, 32] -> [16, 9, 9, 32, 32, 3]: every 32x32 window of every image.
    windows = np.lib.stride_tricks.sliding_window_view(padded, (32, 32), axis=(1, 2))
    windows = np.moveaxis(windows, 3, -1)

    offsets, flips = set(), set()
    for images, labels in image_pipeline.make_train_dataset(data, batch_size=16, seed=11).take(4):
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
    data = fake_image_data(num_train=32)
    expected = normalized(data.train_images, data)
    clipped = 0
    dataset = image_pipeline.make_train_dataset(data, 32, cutout_size=size, seed=5, augment=False)
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
        image_pipeline.make_train_dataset(fake_image_data(), 4, cutout_size=0)


def test_eval_dataset_keeps_order_and_the_last_partial_batch():
    data = fake_image_data(num_train=16, num_valid=8, num_test=25)
    dataset = image_pipeline.make_eval_dataset(data.test_images, data.test_labels, data, batch_size=10)
    batches = list(dataset)

    assert [int(b[0].shape[0]) for b in batches] == [10, 10, 5]
    images = np.concatenate([b[0].numpy() for b in batches])
    labels = np.concatenate([b[1].numpy() for b in batches])
    np.testing.assert_allclose(images, normalized(data.test_images, data), atol=1e-6)
    np.testing.assert_array_equal(labels, data.test_labels)
    assert labels.dtype == np.int32


def test_eval_dataset_without_valid_split_raises():
    data = fake_image_data(num_valid=0)
    with pytest.raises(DataError, match="no validation split"):
        image_pipeline.make_eval_dataset(data.valid_images, data.valid_labels, data)


def test_reward_dataset_draws_only_from_valid_images():
    data = fake_image_data(num_train=16, num_valid=8)
    dataset = image_pipeline.make_reward_dataset(data, batch_size=6, seed=2)
    valid = normalized(data.valid_images, data)

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
        image_pipeline.make_reward_dataset(fake_image_data(num_valid=0), 4)


def test_a_stream_started_at_batch_k_is_the_full_stream_from_k_on():
    # 20 images in batches of 6: batches straddle passes; a resumed run starts at its step counter.
    data = fake_image_data(num_train=20, num_valid=14)
    full = [(x.numpy(), y.numpy()) for x, y in image_pipeline.make_train_dataset(data, 6, seed=5).take(12)]
    for start in (1, 3, 7):
        resumed = [(x.numpy(), y.numpy()) for x, y in
                   image_pipeline.make_train_dataset(data, 6, seed=5, start_batch=start).take(12 - start)]
        for (x, y), (x_full, y_full) in zip(resumed, full[start:]):
            np.testing.assert_array_equal(y, y_full)
            np.testing.assert_array_equal(x, x_full)  # the same crops and flips too
    rewards = [y.numpy() for _, y in image_pipeline.make_reward_dataset(data, 4, seed=2).take(9)]
    later = [y.numpy() for _, y in image_pipeline.make_reward_dataset(data, 4, seed=2, start_batch=5).take(4)]
    for y, y_full in zip(later, rewards[5:]):
        np.testing.assert_array_equal(y, y_full)
