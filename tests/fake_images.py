"""Tiny image data for tests: in-memory splits and image folder trees (PNG files written by TensorFlow)."""

from __future__ import annotations

import pathlib

import numpy as np
import tensorflow as tf

from enas_tf2.data import images


def fake_image_data(num_train: int = 16, num_valid: int = 8, num_test: int = 8, seed: int = 0,
                    shape: tuple[int, int, int] = (32, 32, 3), num_classes: int = 10) -> images.ImageData:
    """A small split built in memory (random images, so every crop window is unique)."""
    rng = np.random.default_rng(seed)
    total = num_train + num_valid
    arrays = images.ImageArrays(
        train_images=rng.integers(0, 256, size=(total, *shape), dtype=np.uint8),
        train_labels=rng.integers(0, num_classes, size=total).astype(np.int32),
        test_images=rng.integers(0, 256, size=(num_test, *shape), dtype=np.uint8),
        test_labels=rng.integers(0, num_classes, size=num_test).astype(np.int32),
        class_names=tuple(f"class_{i}" for i in range(num_classes)),
    )
    return images.split_and_normalize(arrays, num_valid)


def normalized(batch: np.ndarray, data: images.ImageData) -> np.ndarray:
    """NumPy reference of the pipeline's normalisation."""
    return (batch.astype(np.float32) / np.float32(255.0) - data.mean) / data.std


def write_image_folder(root: pathlib.Path, classes=("cat", "dog", "fish", "owl"), per_class: int = 12,
                       test_per_class: int = 4, size: int = 48, seed: int = 0) -> pathlib.Path:
    """Writes `root/train/<class>/*.png` and `root/test/<class>/*.png`; returns `root`.

    Images are learnable: the brightness of class `i`'s images grows with `i`.
    """
    rng = np.random.default_rng(seed)
    for split, count in (("train", per_class), ("test", test_per_class)):
        for label, name in enumerate(classes):
            folder = root / split / name
            folder.mkdir(parents=True, exist_ok=True)
            for index in range(count):
                noise = rng.integers(0, 96, size=(size, size, 3))
                image = np.clip(noise + label * 40, 0, 255).astype(np.uint8)
                (folder / f"{index:03d}.png").write_bytes(tf.io.encode_png(image).numpy())
    return root
