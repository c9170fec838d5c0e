"""Transfer training: the frozen phase (only the head learns), then fine tuning."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from dnn_pipelines.parameters import Seed
from dnn_pipelines.pipelines.transfer.model import (
    DROPOUT_LAYER,
    OUTPUT_LAYER,
    POOLING_LAYER,
    base_of,
    model_summary,
    unfreeze,
)
from dnn_pipelines.pipelines.transfer.params import (
    BaselineParams,
    HeadParams,
    PhaseParams,
    TrainingParams,
)

logger = logging.getLogger(__name__)

HISTORY_COLUMNS = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy")


def _compile(model: Any, phase: PhaseParams, head: HeadParams) -> None:
    import keras  # noqa: PLC0415

    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=phase.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=head.output != "softmax"),
        metrics=["accuracy"],
    )


def _predict_in_batches(model: Any, x: np.ndarray, batch_size: int) -> np.ndarray:
    """`model.predict(x)`, batch by batch: `model.predict` called inside `fit` leaves `fit`
    stalling for 20-50 s at its end with Xception (measured); batch by batch it does not.

    Under a strategy of several replicas `predict_on_batch` runs the whole batch on every
    replica and returns each copy, so the model is called once, outside the replicas.
    """
    import tensorflow as tf  # noqa: PLC0415

    if tf.distribute.get_strategy().num_replicas_in_sync == 1:
        predict = model.predict_on_batch
    else:
        predict = tf.function(lambda batch: model(batch, training=False))
    return np.concatenate(
        [
            np.asarray(predict(x[start : start + batch_size]))
            for start in range(0, len(x), batch_size)
        ]
    )


def _fit(
    model: Any,
    data: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    phase: PhaseParams,
    prediction_batch_size: int,
) -> tuple[pd.DataFrame, np.ndarray]:
    """`model.fit(..., validation_data=...)` whose validation keeps the last outputs.

    The validation loss is the compiled model's own loss, as `validation_data` would use.
    """
    import keras  # noqa: PLC0415
    import tensorflow as tf  # noqa: PLC0415

    x_train, y_train, x_val, y_val = data
    loss = model.loss
    replicas = tf.distribute.get_strategy().num_replicas_in_sync

    class Validation(keras.callbacks.Callback):
        """What `validation_data` computes at each epoch end, keeping the outputs."""

        outputs: np.ndarray | None = None

        def on_epoch_end(self, epoch: int, logs: dict[str, float] | None = None) -> None:
            outputs = _predict_in_batches(self.model, x_val, prediction_batch_size)
            logs = logs if logs is not None else {}
            # Keras divides a loss by the replica count (its share of the global mean) even
            # outside the replicas; undone here so val_loss is the loss over x_val.
            logs["val_loss"] = float(loss(y_val, outputs)) * replicas
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
        training.prediction_batch_size,
    )
    if fit_model is not model:
        # The head's variables are the model's trainable ones: sharing the optimizer leaves
        # the model compiled with the same Adam state as after a plain fit.
        model.compile(optimizer=fit_model.optimizer, loss=fit_model.loss, metrics=["accuracy"])
    return model, history, {"outputs": outputs, "y_true": split["y_val"]}


def fine_tune_phase(
    model: Any,
    split: dict[str, np.ndarray],
    training: TrainingParams,
    head: HeadParams,
    seed: Seed,
) -> tuple[Any, pd.DataFrame, dict[str, np.ndarray], str]:
    """Phase 2: the base trainable, recompiled with a small rate (`Adam(1e-5)`); also the
    lesson's second `model.summary()`, once the base is trainable.

    With `freeze_batch_norm` the base's BatchNorm layers stay in inference mode, as the
    lesson's `training=False` intended: a small dataset does not disturb their statistics.
    """
    import keras  # noqa: PLC0415

    keras.utils.set_random_seed(int(seed))
    unfreeze(base_of(model), training.fine_tune.freeze_batch_norm)
    summary = model_summary(model)  # where the lesson calls model.summary() again
    _compile(model, training.fine_tune, head)
    history, outputs = _fit(
        model,
        (split["x_train"], split["y_train"], split["x_val"], split["y_val"]),
        training.fine_tune,
        training.prediction_batch_size,
    )
    return model, history, {"outputs": outputs, "y_true": split["y_val"]}, summary


def train_end_to_end(
    model: Any,
    split: dict[str, np.ndarray],
    training: TrainingParams,
    head: HeadParams,
    baselines: BaselineParams,
    seed: Seed,
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """A fair baseline: the same network from random weights, every layer trained from the
    start (BatchNorm included), with the transfer's whole budget of epochs (frozen plus
    fine-tune), the frozen phase's batch size, and Adam at `baselines.end_to_end_learning_rate`.
    """
    import keras  # noqa: PLC0415

    keras.utils.set_random_seed(int(seed))
    unfreeze(base_of(model), freeze_batch_norm=False)
    phase = PhaseParams(
        learning_rate=baselines.end_to_end_learning_rate,
        epochs=training.frozen.epochs + training.fine_tune.epochs,
        batch_size=training.frozen.batch_size,
    )
    _compile(model, phase, head)
    history, outputs = _fit(
        model,
        (split["x_train"], split["y_train"], split["x_val"], split["y_val"]),
        phase,
        training.prediction_batch_size,
    )
    return history, {"outputs": outputs, "y_true": split["y_val"]}
