"""Typed parameters of the `vanishing_gradient` pipeline, validated by Kedro before any node runs.

`VanishingGradientParams` is the lesson's experiment (top key `vanishing_gradient`);
`GridCellParams` is what one cell of the comparison grid changes in it
(keys `vanishing_gradient_grid.<activation>_<weight_init>`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import Field, RootModel, ValidationInfo, field_validator

from dnn_pipelines.parameters import StrictParams

Activation = Literal["sigmoid", "tanh", "relu"]
WeightInit = Literal["normal", "glorot", "he"]
Backward = Literal["lesson", "exact"]

ACTIVATIONS: tuple[str, ...] = get_args(Activation)
WEIGHT_INITS: tuple[str, ...] = get_args(WeightInit)

PositiveInt = Annotated[int, Field(strict=True, ge=1)]


class VanishingGradientParams(StrictParams):
    """One pattern pushed through `n_layers` square layers of `n_units` units, no biases."""

    n_units: PositiveInt = Field(description="Units of the input, output and every layer.")
    n_layers: PositiveInt = Field(description="Number of weight layers (the lesson: 50).")
    activation: Activation = Field(description="Activation of every layer.")
    weight_init: WeightInit = Field(
        description="Scale of the Gaussian weights: normal N(0,1) (the lesson), glorot, he."
    )
    compare_layer: PositiveInt = Field(
        description="Layer whose gradient is compared with the output layer's (the lesson: 30)."
    )
    backward: Backward = Field(
        description="lesson: the notebook's backward formula, draw for draw; exact: true backprop."
    )

    @field_validator("compare_layer")
    @classmethod
    def _compare_layer_is_a_layer(cls, value: int, info: ValidationInfo) -> int:
        """A layer outside 1..n_layers has no gradient to compare with."""
        n_layers = info.data.get("n_layers")
        if n_layers is not None and value > n_layers:
            raise ValueError(f"compare_layer must be in 1..n_layers = 1..{n_layers}, got {value}")
        return value


class GridCellParams(StrictParams):
    """What one namespaced grid cell overrides in `vanishing_gradient` (sizes stay shared)."""

    activation: Activation
    weight_init: WeightInit
    backward: Backward


def grid_cells() -> list[str]:
    """Namespace of every grid cell: each allowed activation with each allowed init."""
    return [f"{activation}_{init}" for activation in ACTIVATIONS for init in WEIGHT_INITS]


GridCell = Literal[tuple(grid_cells())]  # type: ignore[valid-type]


class GridBlock(RootModel[dict[GridCell, GridCellParams]]):
    """The whole `vanishing_gradient_grid:` block: one entry per allowed cell name."""


BLOCKS = {"vanishing_gradient": VanishingGradientParams, "vanishing_gradient_grid": GridBlock}
"""Top-level parameter keys this section owns, and the model of each whole block."""


def resource_needs(parameters: dict[str, Any]) -> tuple[int, int]:
    """(memory, disk) bytes of a run: every experiment (the lesson's and each grid cell,
    at the same sizes) saves its weights and gradients, n_layers x n_units^2 float64 each,
    and holds about three such arrays in memory at once (measured: +100 MB of peak RSS and
    566 MB under data/ at n_units=300, n_layers=50, where this says 108 MB and 720 MB)."""
    block = parameters["vanishing_gradient"]
    experiments = 1 + len(parameters.get("vanishing_gradient_grid") or {})
    matrices = int(block["n_layers"]) * int(block["n_units"]) ** 2 * 8
    return 3 * matrices, 2 * matrices * experiments
