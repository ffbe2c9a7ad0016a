"""Image-classification data in memory: the splits a run uses, their statistics, and the source dispatcher.

Every source (`cifar10` pickles, `tfds_images`, `image_folder`) reads its images into one
`ImageArrays`: uint8 HWC images of one size and int32 labels for a train and a test split, with
the class names. `split_and_normalize` then does what the original does with CIFAR-10 (ENAS_SPEC.md
9.1): the *last* `num_valid` training images become the validation split of a search, and the
per-channel mean and population std of the remaining training images normalise every split.
`image_sources.load_images` picks the source from the run's data config.

Images stay `uint8` in memory (50,000 CIFAR-10 images are 150 MB as uint8 but 600 MB as
float32); the pipelines (`image_pipeline`) make float32 batches one at a time.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from absl import logging

from enas_tf2.errors import DataError

#: The original holds out the last 5,000 CIFAR-10 training images in a search (ENAS_SPEC.md 9.1).
CIFAR10_NUM_VALID = 5000
#: Other data keeps this fraction of its training images for validation when `num_valid` is unset.
DEFAULT_VALID_FRACTION = 0.1
# Images per chunk when computing the statistics (keeps temporaries ~10 MB).
_STATS_CHUNK = 4096


@dataclasses.dataclass(frozen=True, eq=False)
class ImageArrays:
    """One dataset's images as read from disk, before any split.

    `eq=False` because field-wise `==` on NumPy arrays is ambiguous; instances compare by
    identity.

    Attributes:
        train_images: `uint8 [N_train, H, W, C]`, in the source's order.
        train_labels: `int32 [N_train]` class ids in `[0, num_classes)`.
        test_images: `uint8 [N_test, H, W, C]`.
        test_labels: `int32 [N_test]`.
        class_names: the class of each label id.
        source: where the images came from, for logs and `run.json`.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    class_names: tuple[str, ...] = tuple(str(i) for i in range(10))
    source: str = ""

    def __post_init__(self) -> None:
        for split, images, labels in (("train", self.train_images, self.train_labels),
                                      ("test", self.test_images, self.test_labels)):
            if images.ndim != 4 or images.dtype != np.uint8:
                raise DataError(f"{self.source or 'the data'}: {split} images are {images.dtype} "
                                f"{list(images.shape)}; expected uint8 [N, height, width, channels].")
            if labels.shape != (images.shape[0],):
                raise DataError(f"{self.source or 'the data'}: {images.shape[0]} {split} images but "
                                f"{labels.shape[0]} labels.")
            if labels.size and (labels.min() < 0 or labels.max() >= len(self.class_names)):
                raise DataError(f"{self.source or 'the data'}: {split} labels span [{labels.min()}, {labels.max()}]; "
                                f"expected class ids in [0, {len(self.class_names)}).")
        if self.train_images.shape[1:] != self.test_images.shape[1:]:
            raise DataError(f"{self.source or 'the data'}: train images are {list(self.train_images.shape[1:])} but "
                            f"test images {list(self.test_images.shape[1:])}; pass --image_size to resize both.")
        object.__setattr__(self, "class_names", tuple(str(name) for name in self.class_names))

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(int(d) for d in self.train_images.shape[1:])


@dataclasses.dataclass(frozen=True, eq=False)
class ImageData:
    """The splits a run trains and evaluates on, plus the normalisation statistics.

    Images are kept as `uint8`; `mean` and `std` are applied per batch inside the tf.data
    pipelines as `(x / 255 - mean) / std`.

    Attributes:
        train_images: `uint8 [N_train, H, W, C]`.
        train_labels: `int32 [N_train]`.
        valid_images: `uint8 [N_valid, H, W, C]`, or None in final runs.
        valid_labels: `int32 [N_valid]`, or None in final runs.
        test_images: `uint8 [N_test, H, W, C]`.
        test_labels: `int32 [N_test]`.
        mean: `float32 [C]`, per-channel mean of the training portion, [0, 1] scale.
        std: `float32 [C]`, per-channel population std (ddof=0), [0, 1] scale.
        class_names: the class of each label id.
        source: where the images came from.
    """

    train_images: np.ndarray
    train_labels: np.ndarray
    valid_images: np.ndarray | None
    valid_labels: np.ndarray | None
    test_images: np.ndarray
    test_labels: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    class_names: tuple[str, ...] = tuple(str(i) for i in range(10))
    source: str = ""

    @property
    def num_train(self) -> int:
        """Number of training images."""
        return int(self.train_images.shape[0])

    @property
    def num_valid(self) -> int:
        """Number of validation images (0 when there is no validation split)."""
        return 0 if self.valid_images is None else int(self.valid_images.shape[0])

    @property
    def num_test(self) -> int:
        """Number of test images."""
        return int(self.test_images.shape[0])

    @property
    def has_valid(self) -> bool:
        """Whether this is a search-run split (with validation images)."""
        return self.valid_images is not None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """`(height, width, channels)`."""
        return tuple(int(d) for d in self.train_images.shape[1:])

    def describe(self) -> dict:
        """What a network trained on this data expects of its inputs (`run.json`'s `data`)."""
        return {
            "mean": [float(v) for v in self.mean],
            "std": [float(v) for v in self.std],
            "class_names": list(self.class_names),
            "image_shape": list(self.image_shape),
            "source": self.source,
        }


def channel_mean_std(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and population std of uint8 images, on the [0, 1] scale.

    Counts each channel's 256 pixel values chunk by chunk: the counts are exact
    integers, the moments are then taken in float64, and no float copy of the
    whole array is ever made.
    """
    channels = images.shape[-1]
    counts = np.zeros((channels, 256), np.int64)
    for start in range(0, images.shape[0], _STATS_CHUNK):
        pixels = images[start : start + _STATS_CHUNK].reshape(-1, channels)
        for c in range(channels):
            counts[c] += np.bincount(pixels[:, c], minlength=256)
    values = np.arange(256, dtype=np.float64) / 255.0
    total = counts.sum(axis=1).astype(np.float64)
    mean = counts @ values / total
    # The numerically safe two-pass variance costs nothing here: it runs over
    # 256 histogram bins, not over the pixels again.
    var = np.sum(counts * (values[np.newaxis, :] - mean[:, np.newaxis]) ** 2, axis=1) / total
    return mean.astype(np.float32), np.sqrt(var).astype(np.float32)


def split_and_normalize(arrays: ImageArrays, num_valid: int) -> ImageData:
    """Splits off the validation images and computes the normalisation statistics.

    As the original (spec 9.1): the *last* `num_valid` training images become
    the validation split (CIFAR-10 searches use 5000); `num_valid=0` keeps all
    training images and no validation split (final runs). Mean and population
    std are per channel over the remaining training images only.

    Args:
        arrays: the raw arrays from a loader.
        num_valid: number of validation images, `0 <= num_valid < N_train`.

    Returns:
        The splits (views into `arrays`, no copies) and `mean`/`std`.

    Raises:
        DataError: `num_valid` is negative or leaves no training images.
    """
    num_total = int(arrays.train_images.shape[0])
    if num_valid < 0 or num_valid >= num_total:
        raise DataError(
            f"num_valid={num_valid} must be in [0, {num_total}) for {num_total} "
            f"training images (CIFAR-10 searches use 5000, final runs 0); lower --num_valid_images."
        )
    num_train = num_total - num_valid
    train_images = arrays.train_images[:num_train]
    train_labels = arrays.train_labels[:num_train]
    if num_valid:
        valid_images = arrays.train_images[num_train:]
        valid_labels = arrays.train_labels[num_train:]
    else:
        valid_images = valid_labels = None
    mean, std = channel_mean_std(train_images)
    if np.any(std == 0):
        raise DataError(
            f"Training images have zero std in some channel (std={std.tolist()}); "
            f"the data is constant and cannot be normalised."
        )
    logging.info(
        "Image split: train=%d valid=%d test=%d mean*255=%s std*255=%s",
        num_train,
        num_valid,
        arrays.test_images.shape[0],
        np.round(mean * 255, 3).tolist(),
        np.round(std * 255, 3).tolist(),
    )
    return ImageData(
        train_images=train_images,
        train_labels=train_labels.astype(np.int32, copy=False),
        valid_images=valid_images,
        valid_labels=None if valid_labels is None else valid_labels.astype(np.int32, copy=False),
        test_images=arrays.test_images,
        test_labels=arrays.test_labels.astype(np.int32, copy=False),
        mean=mean,
        std=std,
        class_names=arrays.class_names,
        source=arrays.source,
    )


def default_num_valid(arrays: ImageArrays, is_cifar10: bool) -> int:
    """The validation images of a search when `--num_valid_images` is unset: 5,000 for CIFAR-10, else 10 %."""
    if is_cifar10:
        return CIFAR10_NUM_VALID
    return max(1, int(round(DEFAULT_VALID_FRACTION * arrays.train_images.shape[0])))
