"""Any image-classification data in a folder tree: `DIR/train/<class>/*.png|jpg` and `DIR/test/<class>/...`.

The class names are the train folder's subfolders, sorted (label `i` is the `i`-th); test must
have the same classes. Images are decoded to RGB; they must share one size unless an
`image_size` resizes them. The training images are put in a fixed pseudo-random order (seed 0,
whatever the run's `--seed`), so the validation split a search cuts off the end of the training
split holds every class, and is the same for every run on the folder. Every problem with the
data is a `DataError` naming the folder or file, raised before a run touches its output folder.
"""

from __future__ import annotations

import pathlib

import numpy as np
from absl import logging

from enas_tf2.data.images import ImageArrays
from enas_tf2.errors import DataError

#: File extensions read as images (compared lower-case).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
SPLITS = ("train", "test")
#: The training images' fixed order (the validation split is the last images of it).
ORDER_SEED = 0

_LAYOUT = "DIR/train/<class>/*.png|jpg and DIR/test/<class>/*.png|jpg, one subfolder per class"


def _class_folders(split_dir: pathlib.Path) -> dict[str, list[pathlib.Path]]:
    """Class name -> its image files, for one split folder."""
    if not split_dir.is_dir():
        raise DataError(f"Image folder {split_dir} does not exist; expected {_LAYOUT}.")
    classes = sorted(path for path in split_dir.iterdir() if path.is_dir())
    if not classes:
        raise DataError(f"Image folder {split_dir} has no class subfolders; expected {_LAYOUT}.")
    files = {}
    for folder in classes:
        images = sorted(path for path in folder.iterdir()
                        if path.is_file() and path.suffix.lower() in IMAGE_EXTENSIONS)
        if not images:
            raise DataError(f"Class folder {folder} holds no image ({', '.join(IMAGE_EXTENSIONS)} files); add images "
                            "or remove the folder.")
        files[folder.name] = images
    return files


def list_image_folder(data_path: str) -> tuple[tuple[str, ...], dict[str, list[tuple[str, int]]]]:
    """The class names and, per split, `(file, label)` pairs (train in its fixed random order).

    Raises:
        DataError: a missing split or class folder, an empty class, or classes that differ
            between train and test.
    """
    if not data_path:
        raise DataError(f"--data_source=folder needs --data_path=DIR with {_LAYOUT}.")
    root = pathlib.Path(data_path).expanduser()
    if not root.is_dir():
        raise DataError(f"--data_path={data_path} is not a folder; expected {_LAYOUT}.")
    per_split = {split: _class_folders(root / split) for split in SPLITS}
    train_classes, test_classes = sorted(per_split["train"]), sorted(per_split["test"])
    if train_classes != test_classes:
        only_train = sorted(set(train_classes) - set(test_classes))
        only_test = sorted(set(test_classes) - set(train_classes))
        raise DataError(f"The classes of {root / 'train'} and {root / 'test'} differ: only in train {only_train}, only "
                        f"in test {only_test}. Both splits need the same class subfolders.")
    class_names = tuple(train_classes)
    pairs = {split: [(str(path), label) for label, name in enumerate(class_names)
                     for path in per_split[split][name]] for split in SPLITS}
    order = np.random.default_rng(ORDER_SEED).permutation(len(pairs["train"]))
    pairs["train"] = [pairs["train"][i] for i in order]
    return class_names, pairs


def load_image_folder(data_path: str, image_size: int | None = None) -> ImageArrays:
    """Reads the folder's train and test images (RGB) and labels.

    Raises:
        DataError: see `list_image_folder`; an unreadable image (named); images of different
            sizes without `image_size`.
    """
    from enas_tf2.data.image_decoding import decode_image_files  # pylint: disable=import-outside-toplevel

    class_names, pairs = list_image_folder(data_path)
    arrays = {}
    for split in SPLITS:
        paths = [path for path, _ in pairs[split]]
        arrays[split] = (decode_image_files(paths, image_size), np.asarray([label for _, label in pairs[split]], np.int32))
    if arrays["train"][0].shape[1:] != arrays["test"][0].shape[1:]:
        raise DataError(f"Train images are {arrays['train'][0].shape[1]}x{arrays['train'][0].shape[2]} but test images "
                        f"{arrays['test'][0].shape[1]}x{arrays['test'][0].shape[2]}; pass --image_size=N to resize "
                        "both.")
    logging.info("Read image folder %s: %d classes, train=%d test=%d, %s", data_path, len(class_names),
                 len(pairs["train"]), len(pairs["test"]), "x".join(str(d) for d in arrays["train"][0].shape[1:]))
    return ImageArrays(
        train_images=arrays["train"][0], train_labels=arrays["train"][1], test_images=arrays["test"][0],
        test_labels=arrays["test"][1], class_names=class_names, source=f"folder {data_path}",
    )
