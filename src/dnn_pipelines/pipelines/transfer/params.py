"""Typed parameters of the `transfer` pipeline, validated by Kedro before any node runs.

Top key `transfer` of `parameters_transfer.yml`; each node takes the sub-block it needs
(`params:data`, `params:image`, ... inside namespace `transfer`).
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from dnn_pipelines.parameters import StrictParams

PositiveInt = Annotated[int, Field(strict=True, ge=1)]
PositiveFloat = Annotated[float, Field(gt=0.0)]
Digit = Annotated[int, Field(strict=True, ge=0, le=9)]
Fraction = Annotated[float, Field(gt=0.0, lt=1.0)]

# `base_model.weights` values that are not a file path.
IMAGENET = "imagenet"
RANDOM = "random"
SOURCE_TASK = "source_task"


def _distinct(classes: list[int], what: str) -> list[int]:
    if len(set(classes)) != len(classes):
        raise ValueError(f"{what} lists a class twice: {classes}")
    return classes


class DataParams(StrictParams):
    """`load_digits(n_class)`, the target classes and `train_test_split(test_size, seed)`."""

    n_class: Annotated[int, Field(strict=True, ge=2, le=10)] = Field(
        description="Digits loaded by load_digits(n_class=...) (the lesson: 10)."
    )
    target_classes: list[Digit] | None = Field(
        description="Digits of the target task, relabelled 0..k-1 in this order; null = all "
        "n_class digits (the lesson). The offline env uses 5..9."
    )
    max_samples: PositiveInt | None = Field(
        description="Keep only the first max_samples images of the target task (tests); "
        "null = all (the lesson)."
    )
    test_size: Fraction = Field(description="Validation fraction (the lesson: 0.6).")

    @model_validator(mode="after")
    def _classes_exist(self) -> Self:
        if self.target_classes is not None:
            _distinct(self.target_classes, "data.target_classes")
            missing = [c for c in self.target_classes if c >= self.n_class]
            if missing or len(self.target_classes) < 2:
                raise ValueError(
                    f"data.target_classes must hold at least 2 digits below n_class="
                    f"{self.n_class}; got {self.target_classes}"
                )
        return self


class ImageParams(StrictParams):
    """The lesson's enlargement, done by layers inside the model: `img.repeat(r).../8 - 1`."""

    repeat: PositiveInt = Field(
        description="Each pixel repeated along both axes (the lesson: 10, so 8x8 -> 80x80)."
    )
    channels: PositiveInt = Field(description="Copies of the grey channel (the lesson: 3).")
    scale: PositiveFloat = Field(description="Multiplier of the pixel value (the lesson: 1/8).")
    offset: float = Field(description="Added after scaling (the lesson: -1).")


class SmallConvnetParams(StrictParams):
    """A small base for the offline env and tests: Conv-ReLU blocks, then BatchNormalization.

    The final BatchNormalization centres and scales the features in inference mode, which
    lets a linear head learn from them in the lesson's few epochs.
    """

    filters: list[PositiveInt] = Field(min_length=1, description="Filters of each conv block.")
    kernel_size: PositiveInt = Field(description="Square kernel of every conv block.")
    strides: PositiveInt = Field(description="Stride of every conv block (2 halves the size).")
    batch_norm_momentum: Annotated[float, Field(gt=0.0, lt=1.0)] | None = Field(
        description="Momentum of the final BatchNormalization's moving statistics (0.9: they "
        "settle within a short pretraining; Keras' default 0.99 needs ~10x more steps); "
        "null = no final normalisation."
    )


class PretrainingParams(StrictParams):
    """Pretraining of the base on a source task of digits (`weights: source_task` only)."""

    classes: list[Digit] = Field(
        description="Digits of the source task (offline: 0..4); must not meet the target's."
    )
    test_size: Fraction = Field(description="Validation fraction of the source task.")
    epochs: PositiveInt
    batch_size: PositiveInt
    learning_rate: PositiveFloat = Field(description="Adam's learning rate.")

    @model_validator(mode="after")
    def _distinct_classes(self) -> Self:
        _distinct(self.classes, "base_model.pretraining.classes")
        return self


class BaseModelParams(StrictParams):
    """The base network and where its initial weights come from."""

    architecture: Literal["xception", "small_convnet"] = Field(
        description="xception = keras.applications.Xception(include_top=False) (the lesson)."
    )
    weights: str = Field(
        min_length=1,
        description="imagenet (Keras' cache, downloaded once if a network is there), random, "
        "source_task (pretrained inside the DAG on `pretraining.classes`), or the path of a "
        "weights file (.h5 or .weights.h5).",
    )
    cache_dir: str | None = Field(
        description="Keras' cache folder for imagenet weights; null = Keras' own "
        "($KERAS_HOME, else ~/.keras); the file is looked for under <cache_dir>/models/."
    )
    allow_download: bool = Field(
        description="Download missing imagenet weights when the origin answers; false = "
        "never touch the network."
    )
    download_timeout_s: PositiveFloat = Field(
        description="Seconds to wait for the weights' host to answer before giving up."
    )
    small_convnet: SmallConvnetParams
    pretraining: PretrainingParams

    @model_validator(mode="after")
    def _weights_fit_architecture(self) -> Self:
        if self.weights == IMAGENET and self.architecture != "xception":
            raise ValueError(
                f"base_model.weights = imagenet needs architecture xception, "
                f"got {self.architecture!r} (use random, source_task or a weights file)"
            )
        if self.weights == SOURCE_TASK and len(self.pretraining.classes) < 2:
            raise ValueError(
                "base_model.weights = source_task needs at least 2 digits in "
                f"base_model.pretraining.classes, got {self.pretraining.classes}"
            )
        return self


class HeadParams(StrictParams):
    """GlobalAveragePooling2D -> Dropout(dropout) -> Dense(n_classes)."""

    dropout: Annotated[float, Field(ge=0.0, lt=1.0)] = Field(
        description="Dropout rate before the output layer (the lesson: 0.2)."
    )
    output: Literal["logits", "softmax", "lesson_double_softmax"] = Field(
        description="logits + from_logits=True (default, correct); softmax + from_logits=False "
        "(also correct); lesson_double_softmax = softmax + from_logits=True (the lesson's bug)."
    )


class PhaseParams(StrictParams):
    """One `model.fit` phase with Adam."""

    learning_rate: PositiveFloat = Field(description="Adam's learning rate.")
    epochs: PositiveInt
    batch_size: PositiveInt = Field(description="Keras' default, which the lesson used: 32.")


class FrozenPhaseParams(PhaseParams):
    """Phase 1: the base frozen, only the head trains."""

    fast: bool = Field(
        description="Compute the frozen base's features once and fit the head on them (same "
        "training, several times faster); false = the lesson's plain model.fit."
    )


class FineTunePhaseParams(PhaseParams):
    """Phase 2: the base unfrozen, recompiled with a small learning rate."""

    freeze_batch_norm: bool = Field(
        description="Keep the base's BatchNormalization layers frozen, i.e. in inference mode "
        "(what the lesson's training=False meant; in Keras 3 fit's training=True overrides it "
        "once the base is trainable, keras-team/keras#20285). false = the lesson's code as "
        "Keras 3 runs it: BatchNormalization uses batch statistics and updates its averages."
    )


class TrainingParams(StrictParams):
    """Phase 1 (frozen base), phase 2 (the base trainable) and the prediction batch."""

    frozen: FrozenPhaseParams
    fine_tune: FineTunePhaseParams
    prediction_batch_size: PositiveInt = Field(
        description="Batch size of feature extraction and validation passes (no effect on "
        "the numbers beyond float rounding)."
    )


class BaselineParams(StrictParams):
    """The fair baselines of pipeline `transfer_from_scratch` (not in the lesson)."""

    end_to_end_learning_rate: PositiveFloat = Field(
        description="Adam's learning rate when the whole network trains from random weights "
        "(Adam's default 0.001, the lesson's frozen-phase rate)."
    )


class TransferBlock(StrictParams):
    """The whole `transfer:` block of parameters_transfer.yml, checked before any node runs."""

    data: DataParams
    image: ImageParams
    base_model: BaseModelParams
    head: HeadParams
    training: TrainingParams
    baselines: BaselineParams


BLOCKS = {"transfer": TransferBlock}
"""Top-level parameter keys this section owns, and the model of each whole block."""
