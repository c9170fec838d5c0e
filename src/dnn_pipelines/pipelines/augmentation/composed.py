"""The lesson's `ImageDataGenerator` transform as one Keras 3 layer: one matrix, one resampling.

ImageDataGenerator composes rotation, shift, shear and zoom about the image centre into a
single output -> input affine matrix, samples the photo once, then flips. Chaining four
Keras random layers instead resamples four times and crops to the frame at every step, so a
later zoom-out or shift shows fill where the lesson shows photo. This layer keeps the
lesson's single matrix and applies it with `keras.ops.image.affine_transform`.

Coordinates are (x = column, y = row) as in the last Keras 2 releases. Two of their axis
slips are not copied (both vanish on a square image, where the layer equals Keras' own
legacy ImageDataGenerator code): they pivot about ((h-1)/2, (w-1)/2) read as (x, y), off
centre on a non-square photo, and scale the horizontal shift by the height. Here the pivot
is the centre and `width_shift_range` is a fraction of the width, as documented.

Registered as serializable, so an augmenter holding it saves to and loads from a `.keras`
file in safe mode, once this module is imported (the catalog entry's `imports`).
"""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

FILL_MODES = ("nearest", "reflect", "wrap", "constant")
INTERPOLATIONS = ("bilinear", "nearest")


def _check_range(name: str, value: float, upper: float, closed: bool = False) -> float:
    """ImageDataGenerator's ranges are half-widths: not negative, and below `upper` (a shift
    >= 1 would mean pixels there, a zoom range >= 1 allows a factor of 0)."""
    if not (0 <= value <= upper if closed else 0 <= value < upper):
        bracket = "]" if closed else ")"
        raise ValueError(f"{name} must be in [0, {upper:g}{bracket}, got {value!r}")
    return float(value)


@keras.saving.register_keras_serializable(package="dnn_pipelines")
class ImageDataGeneratorTransform(keras.layers.Layer):
    """Random rotation, shift, shear, zoom and horizontal flip, drawn as ImageDataGenerator draws
    them (uniform per image, independently per zoom axis) and applied as one affine matrix.

    Like Keras' random layers, `get_random_transformation` draws and `transform_images`
    applies, so a caller can record exactly what was applied. Identity at inference.
    """

    def __init__(
        self,
        rotation_range: float = 0.0,
        width_shift_range: float = 0.0,
        height_shift_range: float = 0.0,
        shear_range: float = 0.0,
        shear_axis: str = "x",
        zoom_range: float = 0.0,
        horizontal_flip: bool = False,
        fill_mode: str = "nearest",
        fill_value: float = 0.0,
        interpolation: str = "bilinear",
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if shear_axis not in ("x", "y"):
            raise ValueError(f"shear_axis must be 'x' or 'y', got {shear_axis!r}")
        if fill_mode not in FILL_MODES:
            raise ValueError(f"fill_mode must be one of {FILL_MODES}, got {fill_mode!r}")
        if interpolation not in INTERPOLATIONS:
            raise ValueError(
                f"interpolation must be one of {INTERPOLATIONS}, got {interpolation!r}"
            )
        self.rotation_range = _check_range("rotation_range", rotation_range, 180.0, closed=True)
        self.width_shift_range = _check_range("width_shift_range", width_shift_range, 1.0)
        self.height_shift_range = _check_range("height_shift_range", height_shift_range, 1.0)
        self.shear_range = _check_range("shear_range", shear_range, 90.0)
        self.shear_axis = shear_axis
        self.zoom_range = _check_range("zoom_range", zoom_range, 1.0)
        self.horizontal_flip = bool(horizontal_flip)
        self.fill_mode = fill_mode
        self.fill_value = float(fill_value)
        self.interpolation = interpolation
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def get_config(self) -> dict[str, Any]:
        """Every constructor argument, so the `.keras` file rebuilds the same layer."""
        return {
            **super().get_config(),
            "rotation_range": self.rotation_range,
            "width_shift_range": self.width_shift_range,
            "height_shift_range": self.height_shift_range,
            "shear_range": self.shear_range,
            "shear_axis": self.shear_axis,
            "zoom_range": self.zoom_range,
            "horizontal_flip": self.horizontal_flip,
            "fill_mode": self.fill_mode,
            "fill_value": self.fill_value,
            "interpolation": self.interpolation,
            "seed": self.seed,
        }

    def get_random_transformation(
        self, images: Any, training: bool = True, seed: Any = None
    ) -> dict[str, Any] | None:
        """Per image: angle (degrees, counter-clockwise on screen), content shift (pixels, right
        and down), ImageDataGenerator's shear angle (degrees), zoom factors (> 1 zooms out)
        and the flip; None at inference.

        Every quantity is drawn, even one whose range is 0, in a fixed order: the draws of a
        given seed then stay the same whichever ranges are on, so each effect alone (a copy
        of the layer with the other ranges at 0) draws what the whole layer draws.
        """
        if not training:
            return None
        if seed is None:
            seed = self.seed_generator
        elif not isinstance(seed, keras.random.SeedGenerator):
            seed = keras.random.SeedGenerator(seed)  # an int alone would repeat one draw
        shape = ops.shape(images)
        batch = shape[0]
        height = ops.cast(shape[-3], "float32")
        width = ops.cast(shape[-2], "float32")

        def uniform(half_width: float, centre: float = 0.0) -> Any:
            low, high = centre - half_width, centre + half_width
            return keras.random.uniform((batch,), minval=low, maxval=high, seed=seed)

        theta = uniform(self.rotation_range)
        shift_y = uniform(self.height_shift_range) * height
        shift_x = uniform(self.width_shift_range) * width
        shear = uniform(self.shear_range)
        zoom_x = uniform(self.zoom_range, 1.0)
        zoom_y = uniform(self.zoom_range, 1.0)
        flips = keras.random.uniform((batch,), seed=seed) < 0.5
        return {
            "angle_deg": theta,
            "shift_x_px": shift_x,
            "shift_y_px": shift_y,
            "shear_deg": shear,
            "zoom_x": zoom_x,
            "zoom_y": zoom_y,
            "flips": ops.logical_and(flips, self.horizontal_flip),
        }

    def output_to_input(self, transformation: dict[str, Any], height: Any, width: Any) -> Any:
        """Per image, the 3 x 3 output -> input matrix C R T S Z C^-1 of ImageDataGenerator,
        in (x, y) pixel coordinates, C moving the origin to the image centre."""
        theta = transformation["angle_deg"] * (math.pi / 180.0)
        shear = transformation["shear_deg"] * (math.pi / 180.0)
        zeros, ones = ops.zeros_like(theta), ops.ones_like(theta)

        def matrix(rows: list[list[Any]]) -> Any:  # (batch, 3, 3) from 3 x 3 entries
            return ops.stack([ops.stack(row, axis=-1) for row in rows], axis=-2)

        cos, sin = ops.cos(theta), ops.sin(theta)
        rotation = matrix([[cos, -sin, zeros], [sin, cos, zeros], [zeros, zeros, ones]])
        shift = matrix(
            [
                [ones, zeros, -transformation["shift_x_px"]],
                [zeros, ones, -transformation["shift_y_px"]],
                [zeros, zeros, ones],
            ]
        )
        slide, stretch = -ops.sin(shear), ops.cos(shear)
        if self.shear_axis == "x":  # rows slide sideways
            shear_rows = [[ones, slide, zeros], [zeros, stretch, zeros]]
        else:  # columns slide up and down
            shear_rows = [[stretch, zeros, zeros], [slide, ones, zeros]]
        shearing = matrix([*shear_rows, [zeros, zeros, ones]])
        zoom = matrix(
            [
                [transformation["zoom_x"], zeros, zeros],
                [zeros, transformation["zoom_y"], zeros],
                [zeros, zeros, ones],
            ]
        )
        centre_x = (ops.cast(width, "float32") - 1.0) / 2.0  # sizes may be symbolic
        centre_y = (ops.cast(height, "float32") - 1.0) / 2.0
        to_centre = matrix(
            [[ones, zeros, -centre_x * ones], [zeros, ones, -centre_y * ones], [zeros, zeros, ones]]
        )
        back = matrix(
            [[ones, zeros, centre_x * ones], [zeros, ones, centre_y * ones], [zeros, zeros, ones]]
        )
        composed = rotation
        for step in (shift, shearing, zoom, to_centre):
            composed = ops.matmul(composed, step)
        return ops.matmul(back, composed)

    def transform_images(
        self, images: Any, transformation: dict[str, Any] | None, training: bool = True
    ) -> Any:
        """Resample every image once through its composed matrix, then flip the drawn ones."""
        images = ops.convert_to_tensor(images, dtype=self.compute_dtype)
        if not training or transformation is None:
            return images
        shape = ops.shape(images)
        full = self.output_to_input(transformation, shape[1], shape[2])
        affine = ops.reshape(full[:, :2], (-1, 6))
        # keras.ops.image takes [a0, a1, a2, b0, b1, b2, c0, c1]; c0 = c1 = 0 for an affine map.
        projective = ops.concatenate([affine, ops.zeros_like(affine[:, :2])], axis=-1)
        resampled = ops.image.affine_transform(
            images,
            ops.cast(projective, "float32"),
            interpolation=self.interpolation,
            fill_mode=self.fill_mode,
            fill_value=self.fill_value,
        )
        mirrored = ops.flip(resampled, axis=2)
        return ops.where(ops.reshape(transformation["flips"], (-1, 1, 1, 1)), mirrored, resampled)

    def call(self, inputs: Any, training: bool = True) -> Any:
        """A fresh draw per image while training; the images unchanged at inference. A single
        image (height, width, channels) is treated as a batch of one."""
        images = ops.convert_to_tensor(inputs, dtype=self.compute_dtype)
        single = len(images.shape) == 3
        if single:
            images = ops.expand_dims(images, 0)
        transformation = self.get_random_transformation(images, training=training)
        images = self.transform_images(images, transformation, training=training)
        return ops.squeeze(images, 0) if single else images

    def compute_output_shape(self, input_shape: Any) -> Any:
        """Same shape: the transform resamples within the frame."""
        return input_shape
