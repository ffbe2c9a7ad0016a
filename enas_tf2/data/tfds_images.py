"""Any tensorflow-datasets image-classification dataset (`--data_source=tfds --tfds_name=NAME`).

A dataset qualifies when its supervised keys are an `Image` feature and a `ClassLabel` feature
(`cifar10`, `mnist`, `tf_flowers`, ...); its class names come from the label feature. The
`train` split trains; `test` (else `validation`) tests; a dataset with neither keeps the last
10 % of `train` as its test split. Images of varying size need `--image_size`.

Offline, tfds retries a download for about 200 s before failing (DESIGN.md), so when the dataset
is not prepared in `data_dir` this first checks within seconds that a download host answers.
"""

from __future__ import annotations

import socket
import threading

import numpy as np
from absl import logging

from enas_tf2.data.images import ImageArrays
from enas_tf2.errors import DataError

#: Hosts tfds downloads from: its own prepared copies, and CIFAR-10's tarballs.
DOWNLOAD_HOSTS = ("storage.googleapis.com", "www.cs.toronto.edu")
DOWNLOAD_PORT = 443
REACHABILITY_TIMEOUT_S = 3.0
#: Fraction of `train` kept as the test split of a dataset without `test` and `validation`.
TEST_FRACTION = 0.1


def _download_host_reachable(hosts=DOWNLOAD_HOSTS, port: int = DOWNLOAD_PORT,
                             timeout: float = REACHABILITY_TIMEOUT_S) -> bool:
    """Whether a TCP connection to any of `hosts` opens within `timeout` seconds.

    `socket.create_connection`'s timeout does not cover the DNS lookup, which can stall on a
    badly configured offline machine, so the probes run in daemon threads and are abandoned
    after `timeout` seconds whatever they are doing.
    """
    result = {"ok": False}

    def probe(host: str) -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result["ok"] = True
        except OSError:
            pass

    threads = [threading.Thread(target=probe, args=(host,), name=f"tfds-reachability-{host}", daemon=True)
               for host in hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    return result["ok"]


def _tfds():
    try:
        import tensorflow_datasets as tfds  # pylint: disable=import-outside-toplevel
    except ImportError as e:
        raise DataError(
            f"--data_source=tfds needs tensorflow-datasets and importlib_resources (pip install -r requirements.txt): "
            f"{e}. Or use --data_source=pickle or --data_source=folder."
        ) from e
    return tfds


def _builder(name: str, data_dir: str | None):
    tfds = _tfds()
    try:
        return tfds.builder(name, data_dir=data_dir)
    except Exception as error:  # noqa: BLE001 - tfds raises DatasetNotFoundError and others
        first = str(error).splitlines()[0]
        raise DataError(f"--tfds_name={name}: {first}. Pass the name of a tensorflow-datasets image-classification "
                        "dataset (e.g. cifar10, mnist, tf_flowers).") from None


def _supervised_keys(builder, name: str, image_size: int | None) -> tuple[str, str]:
    """The image and label feature names, checked to be an image-classification dataset."""
    tfds = _tfds()
    features = builder.info.features
    keys = builder.info.supervised_keys
    if not keys or len(keys) != 2:
        raise DataError(f"--tfds_name={name} has no (input, label) supervised keys, so it is not an image "
                        "classification dataset.")
    image_key, label_key = keys
    if not isinstance(features[image_key], tfds.features.Image) or not isinstance(features[label_key],
                                                                                 tfds.features.ClassLabel):
        raise DataError(f"--tfds_name={name} is not an image classification dataset: its supervised keys are "
                        f"{image_key} ({type(features[image_key]).__name__}) and {label_key} "
                        f"({type(features[label_key]).__name__}); an Image and a ClassLabel are needed.")
    shape = features[image_key].shape
    if image_size is None and (shape[0] is None or shape[1] is None):
        raise DataError(f"--tfds_name={name} has images of varying size; pass --image_size=N to resize them to NxN.")
    return image_key, label_key


def _read_split(builder, split: str, image_key: str, label_key: str, image_size: int | None):
    import tensorflow as tf  # pylint: disable=import-outside-toplevel

    from enas_tf2.data.image_decoding import _resize  # pylint: disable=import-outside-toplevel

    def pair(example):
        image = example[image_key]
        if image_size is not None:
            image = _resize(image, image_size)
        return image, tf.cast(example[label_key], tf.int32)

    images, labels = [], []
    for image, label in builder.as_dataset(split=split).map(pair, num_parallel_calls=tf.data.AUTOTUNE).batch(1024):
        images.append(image.numpy())
        labels.append(label.numpy())
    return np.concatenate(images).astype(np.uint8), np.concatenate(labels).astype(np.int32)


def load_tfds_images(name: str = "cifar10", data_dir: str | None = None, image_size: int | None = None) -> ImageArrays:
    """Loads a tensorflow-datasets image-classification dataset, downloading it if needed and possible.

    Note: tfds stores CIFAR-10's training set in its own (hashed) order, not the original file
    order, so the last 5000 images (the search-run validation split) are a different subset
    than with the pickle source.

    Args:
        name: the tfds dataset name.
        data_dir: a tfds data directory; None for tfds' default (`$TFDS_DATA_DIR` or
            `~/tensorflow_datasets`).
        image_size: resize every image to this square size; None: keep it (fixed-size datasets only).

    Returns:
        uint8 HWC images and int32 labels of the train and test splits, with the class names.

    Raises:
        DataError: tensorflow-datasets is missing, the name is unknown or not image
            classification, varying sizes without `image_size`, or the dataset is not prepared
            and no download host answers.
    """
    builder = _builder(name, data_dir)
    image_key, label_key = _supervised_keys(builder, name, image_size)
    where = data_dir or "the tfds default data_dir"
    if not builder.is_prepared():
        if not _download_host_reachable():
            raise DataError(
                f"tensorflow-datasets '{name}' is not prepared in {where} and no download host "
                f"({', '.join(DOWNLOAD_HOSTS)}) answers (no internet?). Prepare it on a machine with internet "
                "(python -c \"import tensorflow_datasets as tfds; tfds.builder('" + name + "').download_and_prepare()\")"
                " and pass its data_dir as --data_path, or use --data_source=pickle (CIFAR-10's python batches) or "
                "--data_source=folder."
            )
        logging.info("Downloading and preparing tfds %s into %s", name, where)
        builder.download_and_prepare()
    splits = builder.info.splits
    train = _read_split(builder, "train", image_key, label_key, image_size)
    test_split = "test" if "test" in splits else "validation" if "validation" in splits else None
    if test_split is not None:
        test = _read_split(builder, test_split, image_key, label_key, image_size)
    else:
        cut = len(train[1]) - max(1, int(round(TEST_FRACTION * len(train[1]))))
        train, test = (train[0][:cut], train[1][:cut]), (train[0][cut:], train[1][cut:])
        logging.info("tfds %s has no test or validation split: its last %d train images test.", name, len(test[1]))
    logging.info("Loaded tfds %s from %s: train=%d test=%d", name, where, len(train[1]), len(test[1]))
    return ImageArrays(
        train_images=train[0], train_labels=train[1], test_images=test[0], test_labels=test[1],
        class_names=tuple(builder.info.features[label_key].names), source=f"tfds {name}",
    )
