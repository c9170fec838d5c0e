"""Typed parameters of the `dropout` pipeline, validated by Kedro before any node runs.

Top key `dropout` of `parameters_dropout.yml`. The lesson trains one network per dropout
rate; here each is a namespaced instance `dropout.<name>` of one pipeline definition, with
`<name>` from `INSTANCES` and its rate from `dropout.instances.<name>`. The names are
labels for kedro-viz and the catalog; the rate in conf is the one that is used.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import Field, model_validator

from dnn_pipelines.parameters import StrictParams

PositiveInt = Annotated[int, Field(strict=True, ge=1)]
PositiveFloat = Annotated[float, Field(gt=0.0)]


class DataParams(StrictParams):
    """The noisy parabola: `x = linspace(-limit, limit, n_points)`, `y = x**2 + noise * N(0, 1)`."""

    n_points: Annotated[int, Field(strict=True, ge=2)] = Field(
        description="Observed points (the lesson: n_pat = 64)."
    )
    limit: PositiveFloat = Field(description="Half-width of the interval (the lesson: lim = 3).")
    noise: Annotated[float, Field(ge=0.0)] = Field(
        description="Standard deviation of the Gaussian noise (the lesson: 1e0)."
    )
    eval_factor: PositiveInt = Field(
        description="Evaluation points per observed point: x_long has eval_factor * n_points "
        "points on the same interval (the lesson: 10, so 640)."
    )


class NetworkParams(StrictParams):
    """Input(1) -> Dense(units) -> Dropout(rate) -> Dense(units) -> Dense(1), as in the lesson."""

    hidden_units: PositiveInt = Field(description="Units of each hidden layer (the lesson: 100).")
    activation: Literal["relu", "tanh", "sigmoid", "elu", "gelu", "linear"] = Field(
        description="Activation of both hidden layers (the lesson: relu)."
    )


class OptimizerParams(StrictParams):
    """RMSprop: the lesson compiles without an optimizer, so it gets Keras' default, RMSprop."""

    learning_rate: PositiveFloat = Field(description="Keras' default: 1e-3.")
    rho: Annotated[float, Field(gt=0.0, lt=1.0)] = Field(
        description="Decay of the squared-gradient average (Keras' default: 0.9)."
    )
    epsilon: PositiveFloat = Field(description="Added to the denominator (Keras' default: 1e-7).")


class TrainingParams(StrictParams):
    """`model.fit(x, y, epochs=...)` with Keras' defaults made explicit."""

    epochs: PositiveInt = Field(description="Passes over the data (the lesson: 1000).")
    batch_size: PositiveInt = Field(description="Keras' default batch size: 32 (2 steps/epoch).")
    shuffle: bool = Field(description="Reshuffle the points every epoch (Keras' default: true).")
    optimizer: OptimizerParams


class MonteCarloParams(StrictParams):
    """Monte-Carlo dropout (not in the lesson): `passes` forward passes with dropout on."""

    passes: Annotated[int, Field(strict=True, ge=2)] = Field(
        description="Stochastic forward passes per evaluation point."
    )
    band_std: PositiveFloat = Field(
        description="Half-width of the band in standard deviations: mean +- band_std * std."
    )


DropoutRate = Annotated[float, Field(ge=0.0, lt=1.0)]


class Instances(StrictParams):
    """The rate of each namespaced instance `dropout.<field>`: the lesson's five rates.

    Each node of an instance reads its own field (`params:instances.<name>`, a float);
    this model validates all of them before the run: every name present, no unknown
    name, each rate in [0, 1) (a rate of 1 would drop every unit), all rates distinct.
    """

    rate_00: DropoutRate
    rate_20: DropoutRate
    rate_40: DropoutRate
    rate_60: DropoutRate
    rate_80: DropoutRate

    @model_validator(mode="after")
    def _distinct(self) -> Self:
        """The metrics JSON and the predictions table are keyed by rate."""
        rates = list(self.rates().values())
        if len(set(rates)) != len(rates):
            raise ValueError(f"the instances' rates must be distinct, got {rates}")
        return self

    def rates(self) -> dict[str, float]:
        """`{instance name: rate}`, in the order of `INSTANCES`."""
        return {name: getattr(self, name) for name in type(self).model_fields}


# One namespaced instance per experiment of the lesson's loop `for d in (0.0, 0.2, ...)`.
INSTANCES: tuple[str, ...] = tuple(Instances.model_fields)


class DropoutBlock(StrictParams):
    """The whole `dropout:` block of parameters_dropout.yml, checked before any node runs."""

    data: DataParams
    network: NetworkParams
    training: TrainingParams
    monte_carlo: MonteCarloParams
    instances: Instances


BLOCKS = {"dropout": DropoutBlock}
"""Top-level parameter keys this section owns, and the model of each whole block."""
