"""tensorflow-datasets image classification: offline and wrong-name errors within seconds, no download."""

from __future__ import annotations

import time

import pytest

from enas_tf2.data import image_sources, tfds_images
from enas_tf2.errors import DataError


@pytest.fixture(name="offline")
def fixture_offline(monkeypatch):
    """No download host answers (the CI machine has no internet; this makes it certain and fast)."""
    monkeypatch.setattr(tfds_images, "_download_host_reachable", lambda *args, **kwargs: False)


def test_unprepared_dataset_offline_fails_fast_naming_the_data_dir_and_the_fix(offline, tmp_path):
    start = time.monotonic()
    with pytest.raises(DataError, match="no internet") as info:
        image_sources.load_images("tfds", str(tmp_path), search=True, tfds_name="mnist")
    assert time.monotonic() - start < 10.0
    message = str(info.value)
    assert "'mnist' is not prepared" in message and str(tmp_path) in message and "--data_source=folder" in message


def test_cifar10_through_tfds_offline_fails_fast(offline, tmp_path):
    with pytest.raises(DataError, match="'cifar10' is not prepared"):
        image_sources.load_images("tfds", str(tmp_path), search=True)


def test_a_dataset_that_is_not_image_classification_is_rejected_before_any_download(offline, tmp_path):
    with pytest.raises(DataError, match="imdb_reviews is not an image classification dataset.*Text"):
        tfds_images.load_tfds_images("imdb_reviews", str(tmp_path))


def test_an_unknown_name_is_rejected(tmp_path):
    with pytest.raises(DataError, match="--tfds_name=no_such_dataset_here.*not found"):
        tfds_images.load_tfds_images("no_such_dataset_here", str(tmp_path))


def test_images_of_varying_size_need_image_size(offline, tmp_path):
    with pytest.raises(DataError, match="varying size; pass --image_size"):
        tfds_images.load_tfds_images("tf_flowers", str(tmp_path))
    # With a size the check passes and only the (offline) download is missing.
    with pytest.raises(DataError, match="not prepared"):
        tfds_images.load_tfds_images("tf_flowers", str(tmp_path), image_size=32)
