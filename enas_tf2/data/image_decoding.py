"""Decoding image files and resizing images, with TensorFlow's ops (no imaging library needed).

`decode_image_files` reads PNG / JPEG / BMP / GIF files into one uint8 array, in parallel
through `tf.data`; when a file cannot be decoded it finds which one (one file at a time) and
names it. `resize_images` gives every image one square size.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import tensorflow as tf

from enas_tf2.errors import DataError

#: Images decoded per batch when reading files (bounds the float temporaries of resizing).
_DECODE_BATCH = 256


def _decode(contents: tf.Tensor, channels: int) -> tf.Tensor:
    return tf.io.decode_image(contents, channels=channels, expand_animations=False, dtype=tf.uint8)


def _resize(image: tf.Tensor, image_size: int) -> tf.Tensor:
    resized = tf.image.resize(image, [image_size, image_size], method="bilinear", antialias=True)
    return tf.cast(tf.clip_by_value(tf.round(resized), 0.0, 255.0), tf.uint8)


def resize_images(images: np.ndarray, image_size: int) -> np.ndarray:
    """`uint8 [N, H, W, C]` -> `uint8 [N, image_size, image_size, C]` (bilinear, antialiased, rounded)."""
    out = [
        _resize(tf.constant(images[start : start + _DECODE_BATCH]), image_size).numpy()
        for start in range(0, images.shape[0], _DECODE_BATCH)
    ]
    return np.concatenate(out) if out else np.zeros((0, image_size, image_size, images.shape[-1]), np.uint8)


def _find_bad_file(paths: Sequence[str], channels: int) -> tuple[str, str]:
    """The first file that does not decode, and TensorFlow's reason."""
    for path in paths:
        try:
            _decode(tf.io.read_file(path), channels)
        except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError, tf.errors.UnknownError) as error:
            return path, error.message.splitlines()[0]
    return "", ""


def decode_image_files(paths: Sequence[str], image_size: int | None, channels: int = 3) -> np.ndarray:
    """Reads and decodes image files into `uint8 [N, H, W, channels]`.

    Args:
        paths: the files (PNG, JPEG, BMP or GIF; grayscale and RGBA become `channels`).
        image_size: resize every image to this square size; None: keep the size, which must
            then be the same for every file.
        channels: channels of the result (3: RGB).

    Raises:
        DataError: a file is unreadable or not an image (named), or the sizes differ and no
            `image_size` was given (both sizes and files named).
    """
    if not paths:
        return np.zeros((0, image_size or 1, image_size or 1, channels), np.uint8)

    def load(path):
        image = _decode(tf.io.read_file(path), channels)
        return _resize(image, image_size) if image_size is not None else image

    dataset = tf.data.Dataset.from_tensor_slices(list(paths)).map(load, num_parallel_calls=tf.data.AUTOTUNE)
    images, first_shape = [], None
    try:
        for index, image in enumerate(dataset.prefetch(tf.data.AUTOTUNE)):
            if first_shape is None:
                first_shape = tuple(image.shape)
            elif tuple(image.shape) != first_shape:
                raise DataError(
                    f"Images have different sizes: {paths[0]} is {first_shape[0]}x{first_shape[1]} but {paths[index]} "
                    f"is {image.shape[0]}x{image.shape[1]}. Pass --image_size=N to resize every image to NxN."
                )
            images.append(image.numpy())
    except (tf.errors.InvalidArgumentError, tf.errors.NotFoundError, tf.errors.UnknownError):
        bad, reason = _find_bad_file(paths, channels)
        raise DataError(f"Cannot decode image {bad or 'in the data'}: {reason or 'unreadable'}. Remove or replace the "
                        "file (PNG, JPEG, BMP and GIF files are read).") from None
    return np.stack(images)
