"""Transfer models: the base network (pretrained, from a file, or random) under a new head."""

from __future__ import annotations

import hashlib
import logging
import warnings
from typing import Any

import numpy as np

from dnn_pipelines.parameters import Seed
from dnn_pipelines.pipelines.transfer.errors import TransferConfigError
from dnn_pipelines.pipelines.transfer.params import (
    SOURCE_TASK,
    BaseModelParams,
    HeadParams,
    ImageParams,
    TrainingParams,
)

logger = logging.getLogger(__name__)

POOLING_LAYER = "pooling"
DROPOUT_LAYER = "head_dropout"
OUTPUT_LAYER = "head_output"


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


def _batch_norms(base: Any) -> list[Any]:
    """Every BatchNormalization layer inside `base`, however deeply nested."""
    import keras  # noqa: PLC0415

    def nested(layer: Any) -> Any:
        for inner in getattr(layer, "layers", []):
            yield inner
            yield from nested(inner)

    return [layer for layer in nested(base) if isinstance(layer, keras.layers.BatchNormalization)]


def unfreeze(base: Any, freeze_batch_norm: bool) -> None:
    """Make the base trainable; keep its BatchNormalization layers in inference mode if asked.

    In Keras 3 a BatchNormalization layer runs in inference mode exactly when it is not
    trainable; `training=False` on the base's call no longer protects it during `fit`.
    """
    base.trainable = True
    if freeze_batch_norm:
        for layer in _batch_norms(base):
            layer.trainable = False


def _fine_tuned_count(model: Any, base: Any, freeze_batch_norm: bool) -> int:
    """The parameters `unfreeze` will make trainable, counted without unfreezing: all but the
    BatchNorm moving statistics, and all but BatchNorm's gamma and beta too if they stay frozen.
    """
    frozen = 0
    for layer in _batch_norms(base):
        kept = [layer.moving_mean, layer.moving_variance]
        if freeze_batch_norm:
            kept += [weight for weight in (layer.gamma, layer.beta) if weight is not None]
        frozen += sum(int(np.prod(weight.shape)) for weight in kept)
    return int(model.count_params()) - frozen


def model_summary(model: Any) -> str:
    """The lesson's `model.summary()`, as text: layers, shapes and (trainable) parameters."""
    parts: list[str] = []
    model.summary(line_length=100, print_fn=lambda text, **_: parts.append(text))
    return "".join(parts)


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


def build_random_base_on_target(
    split: dict[str, np.ndarray],
    image: ImageParams,
    base_model: BaseModelParams,
    training: TrainingParams,
    seed: Seed,
) -> Any:
    """A fair random baseline: the random base, with BatchNorm statistics of the target data.

    A random base normalises with BatchNorm's initial statistics (mean 0, variance 1), which
    the target's features do not have; a pretrained base brings statistics that fit. Here
    every BatchNormalization layer takes the mean and variance of its inputs over the
    training images (one pass in training mode, each layer's moving averages set to the
    running mean over the batches: AdaBN), so the comparison is about learned weights only.
    """
    import keras  # noqa: PLC0415

    base = build_random_base(split, image, base_model, seed)
    inputs = keras.Input(shape=split["x_train"].shape[1:])
    enlarge = keras.Model(inputs, _preprocess(inputs, image))
    batch = training.prediction_batch_size
    recompute_batch_norm(
        base, enlarge.predict(split["x_train"], batch_size=batch, verbose=0), batch
    )
    return base


def recompute_batch_norm(base: Any, images: np.ndarray, batch_size: int) -> None:
    """Set every BatchNorm layer's moving statistics to their mean over `images`' batches."""
    norms = _batch_norms(base)
    momenta = [layer.momentum for layer in norms]
    for step, start in enumerate(range(0, len(images), batch_size)):
        for layer in norms:
            layer.momentum = step / (step + 1)  # moving = running mean of the batch statistics
        base(images[start : start + batch_size], training=True)
    for layer, momentum in zip(norms, momenta, strict=True):
        layer.momentum = momentum


def build_transfer_model(
    base: Any,
    split: dict[str, np.ndarray],
    image: ImageParams,
    head: HeadParams,
    training: TrainingParams,
    seed: Seed,
) -> tuple[Any, dict[str, int], str]:
    """The lesson's model: enlargement layers -> frozen base(training=False) -> GAP -> Dropout
    -> Dense(k); also the parameter counts that answer "what percentage will be modified?",
    and the lesson's first `model.summary()`.
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

    frozen = int(sum(np.prod(weight.shape) for weight in model.trainable_weights))
    counts = {
        "total_params": int(model.count_params()),
        "trainable_params_frozen": frozen,
        "trainable_params_fine_tuned": _fine_tuned_count(
            model, base, training.fine_tune.freeze_batch_norm
        ),
    }
    logger.info(
        "Transfer model: %d parameters, %d trainable with the base frozen (%.3f%%)",
        counts["total_params"],
        frozen,
        100 * frozen / counts["total_params"],
    )
    return model, counts, model_summary(model)
