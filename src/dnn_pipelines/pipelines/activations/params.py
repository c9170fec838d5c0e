"""Typed parameters of the `activations` pipeline, validated by Kedro before any node runs.

Top key `activations` of `parameters_activations.yml`. The comparison is one namespaced
instance per activation scikit-learn offers (`ACTIVATIONS`); each instance reads its own
block `activations.instances.<name>` (what it fits) and the shared `classifier` and `fit`.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self, get_args

from pydantic import Field, field_validator, model_validator

from dnn_pipelines.parameters import StrictParams

# The hidden-layer activations scikit-learn's MLPs accept (`MLPClassifier(activation=...)`).
Activation = Literal["identity", "logistic", "tanh", "relu"]
ACTIVATIONS: tuple[str, ...] = get_args(Activation)

PositiveInt = Annotated[int, Field(strict=True, ge=1)]
NonNegativeInt = Annotated[int, Field(strict=True, ge=0)]


class IllustrationParams(StrictParams):
    """The lesson's first loop: one single-unit `MLPRegressor` per activation over a grid."""

    activations: list[Activation] = Field(
        min_length=1, description="Activations drawn, in this order (the lesson: all four)."
    )
    n_points: Annotated[int, Field(strict=True, ge=2)] = Field(
        description="Points of the grid (the lesson: 100)."
    )
    x_min: float = Field(description="Left end of the grid (the lesson: -3).")
    x_max: float = Field(description="Right end of the grid (the lesson: 3).")
    max_iter: PositiveInt = Field(
        description="Iterations of the throw-away fit that only creates sklearn's attributes "
        "before the weights are overwritten (the lesson: 1)."
    )

    @field_validator("activations")
    @classmethod
    def _no_repeats(cls, value: list[str]) -> list[str]:
        """The curves table has one column per activation."""
        if len(set(value)) != len(value):
            raise ValueError(f"activations must not repeat, got {value}")
        return value

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        """An empty or reversed interval draws nothing meaningful."""
        if not self.x_min < self.x_max:
            raise ValueError(f"x_min must be < x_max, got {self.x_min} >= {self.x_max}")
        return self


class MoonsParams(StrictParams):
    """The two-moons training set: `make_moons(n_samples, noise, random_state=seed)`."""

    n_samples: Annotated[int, Field(strict=True, ge=2)] = Field(
        description="Points drawn (the lesson: 200)."
    )
    noise: Annotated[float, Field(ge=0.0)] = Field(
        description="Standard deviation of the Gaussian noise (the lesson: 0.15)."
    )
    labels: tuple[int, int] = Field(
        description="Labels given to make_moons' classes 0 and 1 (the lesson: -1 and 1)."
    )

    @field_validator("labels")
    @classmethod
    def _distinct(cls, value: tuple[int, int]) -> tuple[int, int]:
        """Two equal labels would make a one-class problem."""
        if value[0] == value[1]:
            raise ValueError(f"the two labels must differ, got {list(value)}")
        return value


class HeldOutParams(StrictParams):
    """New points of the same moons (same arcs, noise and labels), at new positions."""

    n_samples: Annotated[int, Field(strict=True, ge=1)] = Field(description="Points drawn.")
    seed: NonNegativeInt = Field(
        description="Seed of this sample's positions and noise; must differ from the global seed."
    )


class ClassifierParams(StrictParams):
    """What the four fits share: `MLPClassifier(hidden_layer_sizes, max_iter, tol, ...)`."""

    hidden_layer_sizes: tuple[PositiveInt, ...] = Field(
        min_length=1, description="Units per hidden layer (the lesson: [100, 100])."
    )
    max_iter: PositiveInt = Field(description="Maximum epochs of Adam (the lesson: 1000).")
    tol: Annotated[float, Field(ge=0.0)] = Field(
        description="Adam stops once the loss has not improved by `tol` for `n_iter_no_change` "
        "epochs (the lesson: sklearn's default 1e-4)."
    )
    n_iter_no_change: PositiveInt = Field(
        description="Epochs without improvement before Adam stops (the lesson: sklearn's 10)."
    )


class FitParams(StrictParams):
    """How the fits run; changes speed, never the numbers."""

    blas_threads: PositiveInt | None = Field(
        description="BLAS threads during a fit; 1 is fastest for these small matrices "
        "(thread hand-off costs more than it saves); null leaves BLAS as it is."
    )


class InstanceParams(StrictParams):
    """What one namespaced instance `activations.<name>` fits."""

    activation: Activation = Field(description="Activation of the hidden layers.")


class ActivationsBlock(StrictParams):
    """The whole `activations:` block, checked before any node runs."""

    illustration: IllustrationParams
    moons: MoonsParams
    held_out: HeldOutParams
    classifier: ClassifierParams
    fit: FitParams
    instances: dict[Activation, InstanceParams]


BLOCKS = {"activations": ActivationsBlock}
"""Top-level parameter keys this section owns, and the model of each whole block."""
