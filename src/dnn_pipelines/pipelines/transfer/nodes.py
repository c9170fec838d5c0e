"""The lesson's "Transfer Learning" section: a pretrained base, a new head, then fine tuning.

Faithful to the lesson with `conf/base` (seed 123): scikit-learn's digits, each 8x8 image
enlarged to 80x80 by repeating every pixel 10 times along each axis, copied into 3
channels and scaled as `img / 8 - 1`; `train_test_split(test_size=0.6, random_state=seed)`;
`keras.applications.Xception(weights="imagenet", include_top=False)` frozen and called with
`training=False`; GlobalAveragePooling2D -> Dropout(0.2) -> Dense(10); Adam() for 5 epochs,
then everything trainable with Adam(1e-5) for 2 epochs.

Where this differs from the lesson, and why:
- The lesson puts a softmax on the output AND uses `from_logits=True`: a double softmax, so
  the loss sees squashed scores and the gradients are tiny. The head outputs logits here
  (`head.output: logits`); `lesson_double_softmax` reproduces the bug on request.
- The enlargement is done by layers inside the model (Rescaling, UpSampling2D "nearest",
  Concatenate), so the catalog stores 8x8 digits (0.5 MB) instead of 80x80x3 float arrays
  (276 MB); the numbers the base sees are identical.
- Fast frozen phase: with the base frozen and in inference mode its output never changes
  during phase 1, so its pooled features are computed once and the head (the very same
  Dropout and Dense layers) is fitted on them: same batches, same shuffles, same dropout
  masks, same weights, without 5 epochs of forward passes through Xception.
- BatchNormalization during fine tuning: the lesson calls the base with `training=False` so
  that its BatchNorm layers stay in inference mode after unfreezing. Keras 3 no longer does
  that (fit's `training=True` overrides the nested call's, keras-team/keras#20285), so those
  layers are kept frozen instead (`training.fine_tune.freeze_batch_norm`), which is how
  Keras 3 keeps them in inference mode.
- Validation runs in a callback at the end of each epoch, as `validation_data` does; it keeps
  the last outputs, so the confusion matrix needs no extra pass over the validation set.

`keras` is imported inside the functions that need it (`# noqa: PLC0415`): the pipeline
registry imports every pipeline module on every run, and runs without a TensorFlow node must
not pay for importing TensorFlow.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from sklearn.datasets import load_digits
from sklearn.metrics import confusion_matrix
from sklearn.model_selection import train_test_split

from dnn_pipelines.errors import UserInputError
from dnn_pipelines.parameters import Seed
from dnn_pipelines.pipelines.transfer.params import (
    IMAGENET,
    RANDOM,
    SOURCE_TASK,
    BaseModelParams,
    DataParams,
    HeadParams,
    ImageParams,
    PhaseParams,
    TrainingParams,
)
from dnn_pipelines.plotting import new_figure

logger = logging.getLogger(__name__)

HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy")
POOLING_LAYER = "pooling"
DROPOUT_LAYER = "head_dropout"
OUTPUT_LAYER = "head_output"
HASH_CHUNK = 1 << 20


@dataclass(frozen=True)
class PublishedWeights:
    """Where Keras gets a model's ImageNet weights (its own constants, in keras.applications)."""

    file_name: str
    origin: str
    md5: str


# keras.applications.xception: WEIGHTS_PATH_NO_TOP and the hash its Xception() checks.
IMAGENET_WEIGHTS = {
    "xception": PublishedWeights(
        file_name="xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
        origin="https://storage.googleapis.com/tensorflow/keras-applications/xception/"
        "xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
        md5="b0042744bf5b25fce3cb969f33bebb97",
    )
}


class MissingWeightsError(UserInputError, FileNotFoundError):
    """The configured pretrained weights are neither on disk nor downloadable."""


class TransferConfigError(UserInputError, ValueError):
    """Parameters that are valid one by one but not together, or a weights file that does
    not fit the configured base."""


# ---------------------------------------------------------------- data


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


# ---------------------------------------------------------------- pretrained weights


def keras_cache_dir(cache_dir: str | None) -> Path:
    """The folder Keras caches downloads in: `cache_dir`, else $KERAS_HOME, else ~/.keras.

    Mirrors `keras.utils.get_file`, which falls back to /tmp/.keras when home is read-only.
    """
    if cache_dir:
        return Path(cache_dir).expanduser()
    if os.environ.get("KERAS_HOME"):
        return Path(os.environ["KERAS_HOME"]).expanduser()
    home = Path("~").expanduser()
    return (home if os.access(home, os.W_OK) else Path("/tmp")) / ".keras"


def file_digest(path: Path, algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in chunks (weights files are ~80 MB)."""
    digest = hashlib.new(algorithm)
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def origin_reachable(url: str, timeout_s: float) -> bool:
    """Whether the host of `url` accepts a TCP connection within `timeout_s` (no download).

    Name resolution ignores socket timeouts, so the probe runs in a daemon thread that is
    abandoned after `timeout_s`: an offline machine answers "no" in seconds, never hangs.
    """
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    answer: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((parts.hostname, port), timeout=timeout_s):
                answer.append(True)
        except OSError:
            answer.append(False)

    thread = threading.Thread(target=probe, name="weights-origin-probe", daemon=True)
    thread.start()
    thread.join(timeout_s)
    return bool(answer and answer[0])


def _remedies(expected: Path | None) -> str:
    copy = (
        f"  1. copy the weights file to {expected}"
        if expected
        else "  1. copy the weights file to that path"
    )
    return (
        "Remedies:\n"
        f"{copy} (on a machine with a network, Keras puts it in ~/.keras/models/ on first use);\n"
        "  2. point the parameter at a local file: transfer.base_model.weights: /path/to/file.h5 "
        "in conf/local/parameters_transfer.yml (or --params transfer.base_model.weights=...);\n"
        "  3. run the offline variant, which pretrains its own base on digits 0-4 and needs no "
        "download: kedro run --env offline --pipelines transfer"
    )


def resolve_base_weights(base_model: BaseModelParams) -> dict[str, Any]:
    """Find the base's initial weights, or fail in seconds, before any training, saying how.

    `imagenet` is looked for in Keras' cache first; only when the file is missing, downloads
    are allowed and the host answers within `download_timeout_s` does Keras download it.
    Returns where the weights come from: source, path and sha256 of the file.
    """
    if base_model.weights in (RANDOM, SOURCE_TASK):
        return {"source": base_model.weights, "path": None, "sha256": None}
    if base_model.weights != IMAGENET:
        path = Path(base_model.weights).expanduser()
        if not path.is_file():
            raise MissingWeightsError(
                f"Weights file not found: {path} (transfer.base_model.weights).\n{_remedies(path)}"
            )
        return {"source": "file", "path": str(path), "sha256": file_digest(path)}

    published = IMAGENET_WEIGHTS[base_model.architecture]
    models_dir = keras_cache_dir(base_model.cache_dir) / "models"
    expected = models_dir / published.file_name
    if not expected.is_file():
        if not base_model.allow_download:
            reason = "downloads are disabled (transfer.base_model.allow_download: false)"
        elif not origin_reachable(published.origin, base_model.download_timeout_s):
            reason = (
                f"{published.origin} cannot be reached (no answer within "
                f"{base_model.download_timeout_s:g} s: no network?)"
            )
        else:
            reason = ""
        if reason:
            raise MissingWeightsError(
                f"ImageNet weights for {base_model.architecture} are not available: {reason}.\n"
                f"Looked for: {expected}\n"
                f"Cache folder: {models_dir} (Keras' cache: base_model.cache_dir, else "
                "$KERAS_HOME, else ~/.keras; weights go under models/)\n"
                f"{_remedies(expected)}"
            )
        import keras  # noqa: PLC0415

        logger.info("Downloading %s into %s", published.origin, models_dir)
        keras.utils.get_file(
            published.file_name,
            published.origin,
            cache_subdir="models",
            file_hash=published.md5,
            cache_dir=str(models_dir.parent),
        )
    matches = file_digest(expected, "md5") == published.md5
    if not matches:
        logger.warning(
            "%s differs from the file Keras publishes (md5 %s); using it as it is",
            expected,
            published.md5,
        )
    return {
        "source": IMAGENET,
        "path": str(expected),
        "sha256": file_digest(expected),
        "matches_published_md5": matches,
    }


# ---------------------------------------------------------------- models


def _input_shape(images: np.ndarray, image: ImageParams) -> tuple[int, int, int]:
    height, width = images.shape[1:3]
    return (height * image.repeat, width * image.repeat, image.channels)


def _load_weights(base: Any, path: str, description: str) -> None:
    """`base.load_weights(path)`, refusing a file whose layers do not all fit.

    Keras only warns ("Skipping ...") for parts of a file that match no layer and keeps their
    random weights; a half-loaded base would silently spoil the transfer, so it is an error.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            base.load_weights(path)
        except Exception as error:
            raise TransferConfigError(
                f"Cannot load {path} into the {description} base: {type(error).__name__}: {error}"
            ) from error
    skipped = [str(warning.message) for warning in caught if "Skipping" in str(warning.message)]
    if skipped:
        raise TransferConfigError(
            f"Cannot load {path} into the {description} base: parts of the file fit no layer "
            f"and would leave random weights: {skipped[0]}"
        )
    for warning in caught:
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)


def _build_base(
    architecture: str,
    input_shape: tuple[int, int, int],
    base_model: BaseModelParams,
    weights_path: str | None,
) -> Any:
    """The base network with random weights, or with the weights of a file."""
    import keras  # noqa: PLC0415

    if architecture == "xception":
        try:
            base = keras.applications.Xception(
                weights=None, include_top=False, input_shape=input_shape
            )
        except ValueError as error:
            raise TransferConfigError(
                f"Cannot build Xception for input {input_shape}: {error}"
            ) from error
        description = "xception"
    else:
        spec = base_model.small_convnet
        inputs = keras.Input(shape=input_shape)
        features = inputs
        for block, filters in enumerate(spec.filters):
            features = keras.layers.Conv2D(
                filters,
                spec.kernel_size,
                strides=spec.strides,
                padding="same",
                activation="relu",
                name=f"conv_{block}",
            )(features)
        if spec.batch_norm_momentum is not None:
            features = keras.layers.BatchNormalization(
                momentum=spec.batch_norm_momentum, name="feature_norm"
            )(features)
        base = keras.Model(inputs, features, name="small_convnet")
        description = f"small_convnet {spec.model_dump()}"
    if weights_path is not None:
        # What Xception(weights=path) does, with the check above.
        _load_weights(base, weights_path, description)
    return base


def _preprocess(inputs: Any, image: ImageParams) -> Any:
    """8x8 digits -> the lesson's enlarged images, as serialisable layers (no Lambda)."""
    import keras  # noqa: PLC0415

    height, width = inputs.shape[1:3]
    pixels = keras.layers.Reshape((height, width, 1), name="as_image")(inputs)
    pixels = keras.layers.Rescaling(scale=image.scale, offset=image.offset, name="rescale")(pixels)
    pixels = keras.layers.UpSampling2D(size=image.repeat, interpolation="nearest", name="enlarge")(
        pixels
    )
    if image.channels > 1:
        pixels = keras.layers.Concatenate(axis=-1, name="to_channels")([pixels] * image.channels)
    return pixels


def _loss(head: HeadParams) -> Any:
    import keras  # noqa: PLC0415

    return keras.losses.SparseCategoricalCrossentropy(from_logits=head.output != "softmax")


def _compile(model: Any, phase: PhaseParams, head: HeadParams) -> None:
    import keras  # noqa: PLC0415

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=phase.learning_rate),
        loss=_loss(head),
        metrics=["accuracy"],
    )


def unfreeze(base: Any, freeze_batch_norm: bool) -> None:
    """Make the base trainable; keep its BatchNormalization layers in inference mode if asked.

    In Keras 3 a BatchNormalization layer runs in inference mode exactly when it is not
    trainable; `training=False` on the base's call no longer protects it during `fit`.
    """
    import keras  # noqa: PLC0415

    def nested(layer: Any) -> Any:
        for inner in getattr(layer, "layers", []):
            yield inner
            yield from nested(inner)

    base.trainable = True
    if freeze_batch_norm:
        for layer in nested(base):
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False


def base_of(model: Any) -> Any:
    """The base network inside a transfer model: its only nested model."""
    import keras  # noqa: PLC0415

    nested = [layer for layer in model.layers if isinstance(layer, keras.Model)]
    if len(nested) != 1:
        raise ValueError(f"Expected one base network in {model.name}, found {len(nested)}")
    return nested[0]


def _weights_sha256(model: Any) -> str:
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
    return digest.hexdigest()


def prepare_base_model(
    weights_file: dict[str, Any],
    source_split: dict[str, np.ndarray],
    image: ImageParams,
    base_model: BaseModelParams,
    seed: Seed,
) -> tuple[Any, dict[str, Any]]:
    """The pretrained base: ImageNet or file weights, or pretrained here on the source task.

    `source_task` trains preprocessing -> base -> GAP -> Dense(k) on the source digits (the
    classic MNIST 0-4 -> 5-9 recipe) and keeps the base. Returns the base and where its
    weights come from (for `transfer_metrics`).
    """
    import keras  # noqa: PLC0415

    keras.utils.set_random_seed(int(seed))
    input_shape = _input_shape(source_split["x_train"], image)
    base = _build_base(base_model.architecture, input_shape, base_model, weights_file["path"])
    provenance = dict(weights_file)
    if base_model.weights == SOURCE_TASK:
        provenance |= _pretrain_on_source(base, source_split, image, base_model, int(seed))
    logger.info("Base %s: %s weights", base.name, provenance["source"])
    return base, provenance


def _pretrain_on_source(
    base: Any,
    source: dict[str, np.ndarray],
    image: ImageParams,
    base_model: BaseModelParams,
    seed: int,
) -> dict[str, Any]:
    import keras  # noqa: PLC0415

    pretraining = base_model.pretraining
    inputs = keras.Input(shape=source["x_train"].shape[1:], name="digits")
    features = base(_preprocess(inputs, image))
    pooled = keras.layers.GlobalAveragePooling2D()(features)
    outputs = keras.layers.Dense(len(source["classes"]))(pooled)
    classifier = keras.Model(inputs, outputs, name="source_classifier")
    classifier.compile(
        optimizer=keras.optimizers.Adam(learning_rate=pretraining.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    keras.utils.set_random_seed(seed)
    history = classifier.fit(
        source["x_train"],
        source["y_train"],
        epochs=pretraining.epochs,
        batch_size=pretraining.batch_size,
        validation_data=(source["x_val"], source["y_val"]),
        verbose=0,
    ).history
    logger.info(
        "Base pretrained on digits %s: validation accuracy %.4f",
        source["classes"].tolist(),
        history["val_accuracy"][-1],
    )
    return {
        "path": None,
        "sha256": _weights_sha256(base),
        "sha256_of": "the base's weight arrays after pretraining",
        "source_classes": source["classes"].tolist(),
        "source_epochs": pretraining.epochs,
        "source_val_accuracy": float(history["val_accuracy"][-1]),
        "source_val_loss": float(history["val_loss"][-1]),
    }


def build_random_base(
    split: dict[str, np.ndarray], image: ImageParams, base_model: BaseModelParams, seed: Seed
) -> Any:
    """The from-scratch baseline's base: the same architecture, random initial weights."""
    import keras  # noqa: PLC0415

    keras.utils.set_random_seed(int(seed))
    input_shape = _input_shape(split["x_train"], image)
    return _build_base(base_model.architecture, input_shape, base_model, None)


def build_transfer_model(
    base: Any,
    split: dict[str, np.ndarray],
    image: ImageParams,
    head: HeadParams,
    training: TrainingParams,
    seed: Seed,
) -> tuple[Any, dict[str, int]]:
    """The lesson's model: enlargement layers -> frozen base(training=False) -> GAP -> Dropout
    -> Dense(k); also the parameter counts that answer "what percentage will be modified?".
    """
    import keras  # noqa: PLC0415

    keras.utils.set_random_seed(int(seed))
    base.trainable = False
    inputs = keras.Input(shape=split["x_train"].shape[1:], name="digits")
    features = base(_preprocess(inputs, image), training=False)
    pooled = keras.layers.GlobalAveragePooling2D(name=POOLING_LAYER)(features)
    dropped = keras.layers.Dropout(head.dropout, name=DROPOUT_LAYER)(pooled)
    activation = None if head.output == "logits" else "softmax"
    outputs = keras.layers.Dense(len(split["classes"]), activation=activation, name=OUTPUT_LAYER)(
        dropped
    )
    model = keras.Model(inputs, outputs, name="transfer_model")

    def trainable_count() -> int:
        return int(sum(np.prod(weight.shape) for weight in model.trainable_weights))

    frozen = trainable_count()
    unfreeze(base, training.fine_tune.freeze_batch_norm)
    everything = trainable_count()
    base.trainable = False
    counts = {
        "total_params": int(model.count_params()),
        "trainable_params_frozen": frozen,
        "trainable_params_fine_tuned": everything,
    }
    logger.info(
        "Transfer model: %d parameters, %d trainable with the base frozen (%.3f%%)",
        counts["total_params"],
        frozen,
        100 * frozen / counts["total_params"],
    )
    return model, counts


# ---------------------------------------------------------------- training


def _fit(
    model: Any,
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    phase: PhaseParams,
    head: HeadParams,
    prediction_batch_size: int,
) -> tuple[pd.DataFrame, np.ndarray]:
    """`model.fit(..., validation_data=...)` whose validation keeps the last outputs."""
    import keras  # noqa: PLC0415

    x_train, y_train, x_val, y_val = data
    loss = _loss(head)

    class Validation(keras.callbacks.Callback):
        """What `validation_data` computes at each epoch end, keeping the outputs."""

        outputs: np.ndarray | None = None

        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            # predict_on_batch: `model.predict` called inside `fit` leaves `fit` stalling for
            # 20-50 s at its end with Xception (measured); batch by batch it does not.
            outputs = np.concatenate(
                [
                    self.model.predict_on_batch(x_val[start : start + prediction_batch_size])
                    for start in range(0, len(x_val), prediction_batch_size)
                ]
            )
            logs = logs if logs is not None else {}
            logs["val_loss"] = float(loss(y_val, outputs))
            logs["val_accuracy"] = float(np.mean(np.argmax(outputs, axis=1) == y_val))
            self.outputs = outputs
            logger.info(
                "epoch %d/%d: loss %.4f accuracy %.4f val_loss %.4f val_accuracy %.4f",
                epoch + 1,
                phase.epochs,
                logs["loss"],
                logs["accuracy"],
                logs["val_loss"],
                logs["val_accuracy"],
            )

    validation = Validation()
    history = model.fit(
        x_train,
        y_train,
        epochs=phase.epochs,
        batch_size=phase.batch_size,
        callbacks=[validation],
        verbose=0,
    ).history
    table = pd.DataFrame({name: history[name] for name in HISTORY_COLUMNS[1:]})
    table.insert(0, "epoch", np.arange(1, len(table) + 1))
    return table, np.asarray(validation.outputs, dtype=np.float32)


def train_frozen_phase(
    model: Any,
    split: dict[str, np.ndarray],
    training: TrainingParams,
    head: HeadParams,
    seed: Seed,
) -> tuple[Any, pd.DataFrame, dict[str, np.ndarray]]:
    """Phase 1: only the head trains (`Adam()`, 5 epochs in the lesson).

    `training.frozen.fast` fits the head on the base's pooled features, computed once; the
    Dropout and Dense layers are the model's own, so the model holds the trained head.
    """
    import keras  # noqa: PLC0415

    keras.utils.set_random_seed(int(seed))
    phase = training.frozen
    base_of(model).trainable = False
    x_train, x_val = split["x_train"], split["x_val"]
    fit_model = model
    if phase.fast:
        extractor = keras.Model(model.inputs, model.get_layer(POOLING_LAYER).output)
        batch = training.prediction_batch_size
        x_train = extractor.predict(x_train, batch_size=batch, verbose=0)
        x_val = extractor.predict(x_val, batch_size=batch, verbose=0)
        head_input = keras.Input(shape=x_train.shape[1:], name="features")
        head_output = model.get_layer(OUTPUT_LAYER)(model.get_layer(DROPOUT_LAYER)(head_input))
        fit_model = keras.Model(head_input, head_output, name="head")
    # Re-seeded here so the shuffles are the same whichever way the head is fitted.
    keras.utils.set_random_seed(int(seed))
    _compile(fit_model, phase, head)
    history, outputs = _fit(
        fit_model,
        (x_train, split["y_train"], x_val, split["y_val"]),
        phase,
        head,
        training.prediction_batch_size,
    )
    if fit_model is not model:
        # The head's variables are the model's trainable ones: sharing the optimizer leaves
        # the model compiled with the same Adam state as after a plain fit.
        model.compile(optimizer=fit_model.optimizer, loss=_loss(head), metrics=["accuracy"])
    return model, history, {"outputs": outputs, "y_true": split["y_val"]}


def fine_tune_phase(
    model: Any,
    split: dict[str, np.ndarray],
    training: TrainingParams,
    head: HeadParams,
    seed: Seed,
) -> tuple[Any, pd.DataFrame, dict[str, np.ndarray]]:
    """Phase 2: the base trainable, recompiled with a small rate (`Adam(1e-5)`).

    With `freeze_batch_norm` the base's BatchNorm layers stay in inference mode, as the
    lesson's `training=False` intended: a small dataset does not disturb their statistics.
    """
    import keras  # noqa: PLC0415

    keras.utils.set_random_seed(int(seed))
    unfreeze(base_of(model), training.fine_tune.freeze_batch_norm)
    _compile(model, training.fine_tune, head)
    history, outputs = _fit(
        model,
        (split["x_train"], split["y_train"], split["x_val"], split["y_val"]),
        training.fine_tune,
        head,
        training.prediction_batch_size,
    )
    return model, history, {"outputs": outputs, "y_true": split["y_val"]}


# ---------------------------------------------------------------- reporting


def _last(history: pd.DataFrame) -> dict[str, float]:
    row = history.iloc[-1]
    return {
        "val_accuracy": float(row["val_accuracy"]),
        "val_loss": float(row["val_loss"]),
        "train_accuracy": float(row["accuracy"]),
        "train_loss": float(row["loss"]),
        "epochs": len(history),
    }


def summarize_transfer(
    frozen_history: pd.DataFrame,
    fine_tuned_history: pd.DataFrame,
    param_counts: dict[str, int],
    base_weights: dict[str, Any],
    split: dict[str, np.ndarray],
) -> dict[str, Any]:
    """`transfer_metrics`: the numbers that answer the lesson's questions.

    "What percentage of the parameters will be modified?" (trainable_fraction_frozen),
    "how does the model perform?" (frozen, fine_tuned) and "did the fine tuning improve
    the results?" (fine_tuning_gain).
    """
    frozen = _last(frozen_history)
    fine_tuned = _last(fine_tuned_history)
    return {
        "frozen": frozen,
        "fine_tuned": fine_tuned,
        "fine_tuning_gain": fine_tuned["val_accuracy"] - frozen["val_accuracy"],
        "total_params": param_counts["total_params"],
        "trainable_params_frozen": param_counts["trainable_params_frozen"],
        "trainable_params_fine_tuned": param_counts["trainable_params_fine_tuned"],
        "trainable_fraction_frozen": (
            param_counts["trainable_params_frozen"] / param_counts["total_params"]
        ),
        "base_weights": base_weights,
        "classes": split["classes"].tolist(),
        "n_train": len(split["y_train"]),
        "n_val": len(split["y_val"]),
    }


def summarize_from_scratch(
    fine_tuned_history: pd.DataFrame,
    scratch_frozen_history: pd.DataFrame,
    scratch_fine_tuned_history: pd.DataFrame,
) -> dict[str, Any]:
    """`transfer_from_scratch_metrics`: beyond the lesson, "did transfer help?"

    transfer_gain is the pretrained model's final validation accuracy minus that of the
    same architecture trained from random weights with the same budget.
    """
    fine_tuned = _last(fine_tuned_history)
    from_scratch = _last(scratch_fine_tuned_history)
    return {
        "fine_tuned": fine_tuned,
        "from_scratch": from_scratch,
        "from_scratch_frozen": _last(scratch_frozen_history),
        "transfer_gain": fine_tuned["val_accuracy"] - from_scratch["val_accuracy"],
    }


def _curve(history: pd.DataFrame, offset: int) -> np.ndarray:
    return history["epoch"].to_numpy() + offset


def plot_learning_curves(
    frozen_history: pd.DataFrame,
    fine_tuned_history: pd.DataFrame,
    scratch_frozen_history: pd.DataFrame | None = None,
    scratch_fine_tuned_history: pd.DataFrame | None = None,
) -> Figure:
    """Accuracy and loss over both phases; with the from-scratch histories, both runs."""
    figure, axes = new_figure(1, 2)
    boundary = len(frozen_history)
    runs = [("pretrained", "tab:blue", frozen_history, fine_tuned_history)]
    if scratch_frozen_history is not None and scratch_fine_tuned_history is not None:
        runs.append(
            ("from scratch", "tab:orange", scratch_frozen_history, scratch_fine_tuned_history)
        )
    for ax, metric in zip(axes[0], ("accuracy", "loss"), strict=True):
        for label, colour, first, second in runs:
            history = pd.concat([first, second.assign(epoch=_curve(second, len(first)))])
            ax.plot(history["epoch"], history[metric], "--", color=colour, label=f"{label}, train")
            ax.plot(
                history["epoch"],
                history[f"val_{metric}"],
                "-o",
                color=colour,
                label=f"{label}, validation",
            )
        ax.axvline(boundary + 0.5, color="grey", linestyle=":")
        ax.annotate("fine tuning →", (boundary + 0.55, 0.02), xycoords=("data", "axes fraction"))
        ax.set_xlabel("epoch (phase 1: base frozen; after the dotted line, phase 2: fine tuning)")
        ax.set_ylabel(metric)
        ax.grid(True)
        ax.legend()
    axes[0, 0].set_title("Accuracy")
    axes[0, 1].set_title("Loss")
    return figure


def plot_confusion_matrices(
    frozen_predictions: dict[str, np.ndarray],
    fine_tuned_predictions: dict[str, np.ndarray],
    split: dict[str, np.ndarray],
) -> Figure:
    """Validation confusion matrices after phase 1 and after fine tuning (rows: true digit)."""
    classes = split["classes"]
    figure, axes = new_figure(1, 2, size=(12, 5.5))
    labels = np.arange(len(classes))
    panels = (("frozen base", frozen_predictions), ("fine-tuned", fine_tuned_predictions))
    for ax, (title, predictions) in zip(axes[0], panels, strict=True):
        predicted = np.argmax(predictions["outputs"], axis=1)
        matrix = confusion_matrix(predictions["y_true"], predicted, labels=labels)
        ax.imshow(matrix, cmap="Blues")
        for (row, col), count in np.ndenumerate(matrix):
            colour = "white" if count > matrix.max() / 2 else "black"
            ax.text(col, row, str(count), ha="center", va="center", color=colour)
        accuracy = np.trace(matrix) / max(matrix.sum(), 1)
        ax.set_title(f"{title}: validation accuracy {accuracy:.3f}")
        ax.set_xticks(labels, [str(digit) for digit in classes])
        ax.set_yticks(labels, [str(digit) for digit in classes])
        ax.set_xlabel("predicted digit")
        ax.set_ylabel("true digit")
    return figure
