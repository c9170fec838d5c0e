"""Typed parameters of the `initialization` pipeline (top key `initialization`).

Every node takes the whole `params:initialization`, so Kedro validates the top level too: a
misspelt section name is an error before any node runs, not a silently ignored key.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from dnn_pipelines.parameters import StrictParams

# scikit-learn's MLP activations; the forward-propagation experiment accepts the same names.
Activation = Literal["identity", "logistic", "tanh", "relu"]
# Keras initializers whose theoretical distribution the pipeline knows (nodes.INITIALIZER_SPECS).
KerasInitializer = Literal[
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "lecun_uniform",
    "lecun_normal",
    "random_uniform",
    "random_normal",
]

PositiveInt = Annotated[int, Field(strict=True, ge=1)]


def _unique(values: list[str]) -> list[str]:
    duplicates = sorted({value for value in values if values.count(value) > 1})
    if duplicates:
        raise ValueError(f"each name may appear once, repeated: {duplicates}")
    return values


class MLPParams(StrictParams):
    """The lesson's MLPClassifier, fitted one iteration on zero patterns to expose its init."""

    n_patterns: PositiveInt = Field(description="Rows of the all-zero dataset (lesson: 10).")
    n_features: PositiveInt = Field(description="Columns of the dataset (lesson: 5).")
    hidden_layer_sizes: list[PositiveInt] = Field(
        min_length=1, description="Hidden layer widths (lesson: [20, 500, 100])."
    )
    activation: Activation = Field(
        description="MLPClassifier activation; 'logistic' switches sklearn's bound to sqrt(2/..)."
    )
    max_iter: PositiveInt = Field(description="Training iterations (lesson: 1).")
    learning_rate_init: float = Field(
        gt=0, description="Adam's step (lesson: 1e-50, so the weights stay the initial ones)."
    )


class StatisticsParams(StrictParams):
    """How the empirical distributions are tested and drawn."""

    alpha: float = Field(gt=0, lt=1, description="KS significance level of every verdict.")
    histogram_bins: PositiveInt = Field(description="Bins of every histogram (lesson: 10).")


class KerasParams(StrictParams):
    """Keras initializers drawn for the MLP's layer shapes and tested against their theory."""

    initializers: list[KerasInitializer] = Field(min_length=1)

    _check_unique = field_validator("initializers")(_unique)


class ForwardParams(StrictParams):
    """A deep, wide, bias-free network: how the activation variance evolves with depth."""

    depth: Annotated[int, Field(strict=True, ge=2)] = Field(description="Weight layers.")
    width: PositiveInt = Field(description="Units of the input and of every layer.")
    n_samples: Annotated[int, Field(strict=True, ge=2)] = Field(
        description="Standard-normal input patterns pushed through the network."
    )
    activations: list[Activation] = Field(min_length=1)
    initializers: list[KerasInitializer] = Field(min_length=1)
    regime_factor: float = Field(
        gt=1,
        description="A last/first variance ratio below 1/f is 'vanishing', above f 'exploding'.",
    )

    _check_unique = field_validator("activations", "initializers")(_unique)


class InitializationParams(StrictParams):
    """Everything under `initialization:` in parameters_initialization.yml."""

    mlp: MLPParams
    statistics: StatisticsParams
    keras: KerasParams
    forward: ForwardParams


BLOCKS = {"initialization": InitializationParams}
"""Top-level parameter keys this section owns, and the model of each whole block."""
