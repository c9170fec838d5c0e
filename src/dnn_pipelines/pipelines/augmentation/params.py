"""Typed parameters of the `augmentation` pipeline (top key `augmentation`), checked before nodes.

The transform ranges keep the units of the lesson's `ImageDataGenerator` (degrees, fractions
of the image, zoom half-width); `keras_factors` turns them into the arguments of the Keras 3
random layers, so the YAML reads like the notebook and the conversion lives in one place.
"""

from __future__ import annotations

import math
from typing import Annotated, Literal

import numpy as np
from pydantic import Field, model_validator

from dnn_pipelines.parameters import StrictParams

PositiveInt = Annotated[int, Field(strict=True, ge=1)]
FigureSize = tuple[Annotated[float, Field(gt=0)], Annotated[float, Field(gt=0)]]
FillMode = Literal["nearest", "reflect", "wrap", "constant"]
Composition = Literal["composed", "chained"]
Interpolation = Literal["bilinear", "nearest"]


class ImageParams(StrictParams):
    """Which scikit-learn sample image to perturb, and how much to shrink it first."""

    index: int = Field(ge=0, description="Index in load_sample_images().images (0 = china.jpg).")
    downscale: PositiveInt = Field(
        description="Keep every k-th row and column (1 = the full 427 x 640 photo; tests use 4)."
    )


class TransformParams(StrictParams):
    """The lesson's ImageDataGenerator arguments, in ImageDataGenerator's own units, and how
    the transforms are put together."""

    composition: Composition = Field(
        description="composed: one affine matrix, one resampling (ImageDataGenerator, the "
        "lesson); chained: Keras 3's random layers one after another (each crops to the frame)."
    )
    rotation_range: float = Field(ge=0, le=180, description="Rotation within +-this, in degrees.")
    width_shift_range: float = Field(
        ge=0, lt=1, description="Horizontal shift within +-this fraction of the width."
    )
    height_shift_range: float = Field(
        ge=0, lt=1, description="Vertical shift within +-this fraction of the height."
    )
    shear_range: float = Field(
        ge=0, lt=90, description="Shear angle within +-this, in DEGREES (ImageDataGenerator)."
    )
    shear_axis: Literal["x", "y"] = Field(
        description="x: rows slide sideways (last Keras 2 releases); y: columns slide (older)."
    )
    zoom_range: float = Field(
        ge=0, lt=1, description="Zoom factor per axis within [1 - this, 1 + this]; > 1 zooms out."
    )
    horizontal_flip: bool = Field(description="Mirror left-right with probability 1/2.")
    fill_mode: FillMode = Field(description="How every layer fills pixels from outside the image.")
    interpolation: Interpolation = Field(description="Resampling of every geometric layer.")


class SamplingParams(StrictParams):
    """How many perturbed copies to draw, and the grid that shows them."""

    n_samples: PositiveInt
    grid_rows: PositiveInt
    grid_cols: PositiveInt

    @model_validator(mode="after")
    def _grid_holds_the_samples(self) -> SamplingParams:
        """The lesson shows exactly n_rows * n_cols images; anything else leaves holes or drops."""
        if self.grid_rows * self.grid_cols != self.n_samples:
            raise ValueError(
                f"n_samples ({self.n_samples}) must equal grid_rows * grid_cols "
                f"({self.grid_rows} * {self.grid_cols} = {self.grid_rows * self.grid_cols})"
            )
        return self


class EffectParams(StrictParams):
    """The per-effect figure: each effect alone, at a few of the grid's draws."""

    n_strengths: PositiveInt = Field(
        description="Grid draws shown per effect, spread from the weakest to the strongest."
    )


class ComparisonParams(StrictParams):
    """The composed-against-chained figure: the same draws applied both ways."""

    n_samples: PositiveInt = Field(description="Draws shown, one row each.")


class PlotParams(StrictParams):
    """Figure sizes in inches and the resolution of the saved PNGs."""

    dpi: PositiveInt
    original_size: FigureSize
    grid_size: FigureSize
    effects_size: FigureSize
    geometry_size: FigureSize
    comparison_size: FigureSize
    geometry_columns: PositiveInt = Field(description="Draws shown per effect in the check figure.")


class GeometryCheckParams(StrictParams):
    """A synthetic probe, one Gaussian dot per channel, to measure what each layer does."""

    height: int = Field(ge=16, description="Probe height in pixels.")
    width: int = Field(ge=16, description="Probe width in pixels.")
    dot_sigma_px: float = Field(gt=0, le=5, description="Standard deviation of each dot, pixels.")
    dot_spread: float = Field(
        gt=0, lt=0.5, description="Dot offsets are in units of this fraction of min(height, width)."
    )
    dot_offsets: list[tuple[float, float]] = Field(
        min_length=3, description="(x, y) of each dot from the centre, in units of dot_spread."
    )
    n_draws: PositiveInt = Field(description="Transformations drawn per layer.")
    tolerance_px: float = Field(gt=0, description="Allowed position / shift error, pixels.")
    tolerance_deg: float = Field(gt=0, description="Allowed rotation / shear angle error, degrees.")

    @model_validator(mode="after")
    def _dots_fix_an_affine_map(self) -> GeometryCheckParams:
        """An affine map is only measurable from at least three dots that are not on one line."""
        offsets = np.asarray(self.dot_offsets, dtype=float)
        design = np.column_stack([offsets, np.ones(len(offsets))])
        if np.linalg.matrix_rank(design) < 3:
            raise ValueError("dot_offsets must hold at least three dots that are not collinear")
        return self


class AugmentationParams(StrictParams):
    """The whole `augmentation:` block of parameters_augmentation.yml."""

    image: ImageParams
    transforms: TransformParams
    sampling: SamplingParams
    effects: EffectParams
    comparison: ComparisonParams
    plots: PlotParams
    geometry_check: GeometryCheckParams

    @model_validator(mode="after")
    def _strengths_come_from_the_grid(self) -> AugmentationParams:
        """The per-effect figure picks its draws among the grid's copies."""
        if self.effects.n_strengths > self.sampling.n_samples:
            raise ValueError(
                f"effects.n_strengths ({self.effects.n_strengths}) must not exceed "
                f"sampling.n_samples ({self.sampling.n_samples}): its draws are the grid's"
            )
        return self


def shear_fraction(shear_degrees: float) -> float:
    """ImageDataGenerator's shear angle (degrees) as the fraction Keras' RandomShear takes.

    ImageDataGenerator maps an output pixel to the input with [[1, -sin s], [0, cos s]];
    RandomShear with [[1, f], [0, 1]]. Equal off-diagonals give |f| = sin(s); the cos(s)
    stretch of the other axis (1 - 6e-6 at 0.2 degrees) has no Keras 3 counterpart.
    """
    return math.sin(math.radians(shear_degrees))


def keras_factors(transforms: TransformParams) -> dict[str, dict[str, object]]:
    """The keyword arguments of each Keras 3 layer that reproduce the ImageDataGenerator ranges.

    - RandomRotation takes fractions of a full turn: degrees / 360.
    - RandomTranslation takes fractions of the height and width, like ImageDataGenerator.
    - RandomShear takes a fraction (see `shear_fraction`). It draws |f| from the range and
      then flips the sign with probability 1/2, so (0, f) already gives +-f uniformly; the
      symmetric float form would be equivalent but does not reload from a `.keras` file
      (Keras 3.15 stores it as (-f, f) and its own check rejects the negative bound).
    - RandomZoom takes offsets from 1 with positive = zoom out, the same convention as
      ImageDataGenerator's factor z (the input span per output span): (-z, z) gives a factor
      in [1 - z, 1 + z], drawn independently per axis because width_factor is given.
    """
    shear = (0.0, shear_fraction(transforms.shear_range))
    zoom = (-transforms.zoom_range, transforms.zoom_range)
    return {
        "rotation": {"factor": transforms.rotation_range / 360.0},
        "shift": {
            "height_factor": transforms.height_shift_range,
            "width_factor": transforms.width_shift_range,
        },
        "shear": {
            "x_factor": shear if transforms.shear_axis == "x" else 0.0,
            "y_factor": shear if transforms.shear_axis == "y" else 0.0,
        },
        "zoom": {"height_factor": zoom, "width_factor": zoom},
    }


BLOCKS = {"augmentation": AugmentationParams}
"""Top-level parameter keys this section owns, and the model of each whole block."""
