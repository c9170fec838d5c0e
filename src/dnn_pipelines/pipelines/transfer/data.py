"""Transfer data: scikit-learn's digits, split into the lesson's target task and a source task."""

from __future__ import annotations

import logging

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from dnn_pipelines.parameters import Seed
from dnn_pipelines.pipelines.transfer.errors import TransferConfigError
from dnn_pipelines.pipelines.transfer.params import (
    SOURCE_TASK,
    BaseModelParams,
    DataParams,
    ImageParams,
)

logger = logging.getLogger(__name__)


def load_digit_images(data: DataParams) -> dict[str, np.ndarray]:
    """scikit-learn's 8x8 digits (shipped with scikit-learn): `load_digits(n_class=...)`."""
    digits = load_digits(n_class=data.n_class)
    return {"images": digits.images, "labels": digits.target}


def _task(
    digits: dict[str, np.ndarray],
    classes: list[int],
    test_size: float,
    seed: int,
    limit: int | None,
) -> dict[str, np.ndarray]:
    """The images of `classes`, relabelled 0..k-1, split with `train_test_split`.

    Splitting the row indices gives exactly the lesson's split of its enlarged arrays: the
    split depends only on the number of rows, `test_size` and `random_state`.
    """
    index = np.flatnonzero(np.isin(digits["labels"], classes))[:limit]
    relabel = {digit: label for label, digit in enumerate(classes)}
    if len(index) == 0:
        shape = (0, *digits["images"].shape[1:])
        empty = np.empty(shape, dtype=digits["images"].dtype)
        no_label = np.empty(0, dtype=np.int64)
        return {
            "x_train": empty,
            "x_val": empty,
            "y_train": no_label,
            "y_val": no_label,
            "train_index": no_label,
            "val_index": no_label,
            "classes": np.asarray(classes, dtype=np.int64),
        }
    train_index, val_index = train_test_split(index, test_size=test_size, random_state=seed)
    labels = np.full(len(digits["labels"]), -1, dtype=np.int64)
    labels[index] = [relabel[int(digit)] for digit in digits["labels"][index]]
    return {
        "x_train": digits["images"][train_index],
        "x_val": digits["images"][val_index],
        "y_train": labels[train_index],
        "y_val": labels[val_index],
        "train_index": train_index,
        "val_index": val_index,
        "classes": np.asarray(classes, dtype=np.int64),
    }


def split_tasks(
    digits: dict[str, np.ndarray], data: DataParams, base_model: BaseModelParams, seed: Seed
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The target task (the lesson's split) and the source task the base may pretrain on.

    The source task is empty unless `base_model.weights` is `source_task`; its digits must
    not be target digits, or the "transfer" would be learning the target itself.
    """
    target_classes = data.target_classes or list(range(data.n_class))
    source_classes = base_model.pretraining.classes if base_model.weights == SOURCE_TASK else []
    shared = sorted(set(target_classes) & set(source_classes))
    if shared:
        raise TransferConfigError(
            f"Digits {shared} are in both the target task (data.target_classes = "
            f"{target_classes}) and the source task (base_model.pretraining.classes = "
            f"{source_classes}); the two tasks must be disjoint."
        )
    present = set(np.unique(digits["labels"]).tolist())
    absent = sorted(set(source_classes) - present)
    if absent:
        raise TransferConfigError(
            f"base_model.pretraining.classes = {source_classes}: digits {absent} are not "
            f"loaded (data.n_class = {data.n_class})."
        )
    target = _task(digits, target_classes, data.test_size, int(seed), data.max_samples)
    source = _task(digits, source_classes, base_model.pretraining.test_size, int(seed), None)
    logger.info(
        "Target task: digits %s, %d train / %d validation images; source task: digits %s, %d",
        target_classes,
        len(target["y_train"]),
        len(target["y_val"]),
        source_classes,
        len(source["y_train"]) + len(source["y_val"]),
    )
    return target, source


def enlarge_digits(images: np.ndarray, image: ImageParams) -> np.ndarray:
    """The lesson's loop in numpy (reference for tests; the model does this with layers)."""
    enlarged = images.repeat(image.repeat, axis=1).repeat(image.repeat, axis=2)
    enlarged = enlarged[..., None].repeat(image.channels, axis=3)
    return enlarged * image.scale + image.offset
