"""Which source a run's images come from: the CIFAR-10 pickles, tensorflow-datasets, or a folder tree.

`load_images` reads the source the data config names, resizes when asked, and splits the
result the way a search (a validation split) or a final run (none) needs.
"""

from __future__ import annotations

import dataclasses

from enas_tf2.data import cifar10, image_folder, tfds_images
from enas_tf2.data.image_decoding import resize_images
from enas_tf2.data.images import ImageArrays, ImageData, default_num_valid, split_and_normalize
from enas_tf2.errors import DataError


def resize_arrays(arrays: ImageArrays, image_size: int) -> ImageArrays:
    """Both splits resized to `image_size x image_size` (bilinear with antialiasing, rounded back to uint8)."""
    if arrays.image_shape[:2] == (image_size, image_size):
        return arrays
    return dataclasses.replace(
        arrays,
        train_images=resize_images(arrays.train_images, image_size),
        test_images=resize_images(arrays.test_images, image_size),
    )


def load_images(
    source: str,
    path: str,
    search: bool,
    num_valid: int | None = None,
    tfds_name: str = "cifar10",
    image_size: int | None = None,
) -> ImageData:
    """Loads a run's images and splits them the way a search or final run needs.

    Args:
        source: "pickle" (the CIFAR-10 python batches in `path`), "tfds" (the
            tensorflow-datasets dataset `tfds_name`; `path` is its data_dir, '' for the
            default) or "folder" (`path/train/<class>/*`, `path/test/<class>/*`).
        path: see `source`.
        search: True for a search run (`num_valid` validation images), False for
            a final run (all training images, no validation split).
        num_valid: validation images in a search run; None: 5,000 for CIFAR-10 (as the
            original), 10 % of the training images for other data.
        tfds_name: the tensorflow-datasets dataset of `source="tfds"`.
        image_size: resize every image to this square size; None: keep the data's (one) size.

    Returns:
        The split, normalisable data.

    Raises:
        DataError: an unknown `source`, or any loading / split error.
    """
    if source == "pickle":
        arrays = cifar10.load_cifar10_pickles(path)
        if image_size is not None:
            arrays = resize_arrays(arrays, image_size)
    elif source == "tfds":
        arrays = tfds_images.load_tfds_images(tfds_name, path or None, image_size)
    elif source == "folder":
        arrays = image_folder.load_image_folder(path, image_size)
    else:
        raise DataError(f"Unknown image data_source={source!r}; expected one of pickle, tfds, folder.")
    if not search:
        return split_and_normalize(arrays, 0)
    if num_valid is None:
        num_valid = default_num_valid(arrays, source == "pickle" or (source == "tfds" and tfds_name == "cifar10"))
    return split_and_normalize(arrays, num_valid)
