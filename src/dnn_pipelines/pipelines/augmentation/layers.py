"""The augmenter: the lesson's transforms as Keras layers, driven by hand so every draw is kept.

Two ways to put the lesson's transforms together (`transforms.composition`):
- `composed` (default): ImageDataGenerator's single affine matrix, one resampling, as the
  layer `composed.ImageDataGeneratorTransform`;
- `chained`: Keras 3's random layers in the order of ImageDataGenerator's matrix (rotation,
  shift, shear, zoom, then the flip), each resampling and cropping to the frame.

Either way `get_random_transformation` draws the parameters, which are recorded, and
`transform_images` applies exactly those. `keras` is imported inside the functions
(`# noqa: PLC0415`): the pipeline registry imports every pipeline module on every run, and
runs that do not augment must not pay for TensorFlow's start-up.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from dnn_pipelines.parameters import Seed
from dnn_pipelines.pipelines.augmentation.params import AugmentationParams, keras_factors

EFFECT_OF_LAYER = {
    "RandomRotation": "rotation",
    "RandomTranslation": "shift",
    "RandomShear": "shear",
    "RandomZoom": "zoom",
    "RandomFlip": "flip",
}
"""Keras layer class -> the effect it produces (also the layer's name in the augmenter)."""


COMPOSED_LAYER = "ImageDataGeneratorTransform"
"""The class name of the composed layer, which produces every effect at once."""


IDENTITY = {
    "rotation_deg": 0.0,
    "shift_x_px": 0.0,
    "shift_y_px": 0.0,
    "shift_x_fraction": 0.0,
    "shift_y_fraction": 0.0,
    "shear_x": 0.0,
    "shear_y": 0.0,
    "shear_x_deg": 0.0,
    "shear_y_deg": 0.0,
    "zoom_x": 1.0,
    "zoom_y": 1.0,
    "flipped": False,
}
"""The recorded parameters of a layer that is absent (e.g. no flip configured)."""


def build_augmenter(params: AugmentationParams, seed: Seed) -> Any:
    """A Keras Sequential of the lesson's perturbations: the composed layer, or the chained
    random layers, every one filling with `fill_mode`."""
    import keras  # noqa: PLC0415

    keras.utils.set_random_seed(int(seed))
    if params.transforms.composition == "composed":
        layers = [composed_layer(params)]
    else:
        layers = _chained_layers(params)
    return keras.Sequential([keras.Input(shape=(None, None, None)), *layers], name="augmenter")


def composed_layer(params: AugmentationParams, **overrides: Any) -> Any:
    """ImageDataGenerator's transform as one layer, built from the lesson's arguments."""
    from dnn_pipelines.pipelines.augmentation.composed import (  # noqa: PLC0415
        ImageDataGeneratorTransform,
    )

    arguments = params.transforms.model_dump(exclude={"composition"})
    return ImageDataGeneratorTransform(**{**arguments, **overrides}, name="image_data_generator")


def _chained_layers(params: AugmentationParams) -> list[Any]:
    import keras  # noqa: PLC0415

    transforms = params.transforms
    factors = keras_factors(transforms)
    common = {"fill_mode": transforms.fill_mode, "interpolation": transforms.interpolation}
    layers = [
        keras.layers.RandomRotation(**factors["rotation"], **common, name="rotation"),
        keras.layers.RandomTranslation(**factors["shift"], **common, name="shift"),
        keras.layers.RandomShear(**factors["shear"], **common, name="shear"),
        keras.layers.RandomZoom(**factors["zoom"], **common, name="zoom"),
    ]
    if transforms.horizontal_flip:
        layers.append(keras.layers.RandomFlip("horizontal", name="flip"))
    return layers


def describe_transformation(
    layer: Any, transformation: dict[str, Any], height: int, width: int
) -> list[dict[str, Any]]:
    """Per image of the batch, the parameters a layer drew, read from its own transformation.

    Units: degrees (counter-clockwise positive), pixels (right / down positive) and their
    fractions of the size, shear fractions (the off-diagonal of the output -> input matrix,
    RandomShear's unit) and their angle, zoom factors (> 1 zooms out), flipped (bool).
    """
    kind = type(layer).__name__
    if kind == COMPOSED_LAYER:
        return _describe_composed(layer, transformation, height, width)
    if kind == "RandomRotation":
        return [{"rotation_deg": float(a)} for a in np.asarray(transformation["angle"]).ravel()]
    if kind == "RandomTranslation":
        shifts = np.asarray(transformation["translations"], dtype=np.float64)
        return [
            {
                "shift_x_px": float(dx),
                "shift_y_px": float(dy),
                "shift_x_fraction": float(dx / width),
                "shift_y_fraction": float(dy / height),
            }
            for dx, dy in shifts
        ]
    if kind == "RandomShear":
        shears = np.asarray(transformation["shear_factor"], dtype=np.float64)
        return [
            {
                "shear_x": float(sx),
                "shear_y": float(sy),
                "shear_x_deg": math.degrees(math.asin(sx)),
                "shear_y_deg": math.degrees(math.asin(sy)),
            }
            for sx, sy in shears
        ]
    if kind == "RandomZoom":
        zoom_x = np.asarray(transformation["width_zoom"], dtype=np.float64).ravel()
        zoom_y = np.asarray(transformation["height_zoom"], dtype=np.float64).ravel()
        return [
            {"zoom_x": float(zx), "zoom_y": float(zy)}
            for zx, zy in zip(zoom_x, zoom_y, strict=True)
        ]
    if kind == "RandomFlip":
        return [{"flipped": bool(f)} for f in np.asarray(transformation["flips"]).ravel()]
    raise TypeError(f"No parameter record for layer {layer.name!r} of type {kind}")


def _describe_composed(
    layer: Any, transformation: dict[str, Any], height: int, width: int
) -> list[dict[str, Any]]:
    """The composed layer's draws in the units of the chained layers' records.

    ImageDataGenerator's shear angle s puts -sin(s) off the diagonal, so the recorded
    `shear_x_deg` (or `shear_y_deg`, by `shear_axis`) is -s, read the same way as RandomShear's.
    """
    drawn = {key: np.asarray(value).ravel() for key, value in transformation.items()}
    slide = "shear_x" if layer.shear_axis == "x" else "shear_y"
    still = "shear_y" if layer.shear_axis == "x" else "shear_x"
    records = []
    for i in range(len(drawn["angle_deg"])):
        dx, dy = float(drawn["shift_x_px"][i]), float(drawn["shift_y_px"][i])
        shear_deg = float(drawn["shear_deg"][i])
        records.append(
            {
                "rotation_deg": float(drawn["angle_deg"][i]),
                "shift_x_px": dx,
                "shift_y_px": dy,
                "shift_x_fraction": dx / width,
                "shift_y_fraction": dy / height,
                slide: -math.sin(math.radians(shear_deg)),
                f"{slide}_deg": -shear_deg,
                still: 0.0,
                f"{still}_deg": 0.0,
                "zoom_x": float(drawn["zoom_x"][i]),
                "zoom_y": float(drawn["zoom_y"][i]),
                "flipped": bool(drawn["flips"][i]),
            }
        )
    return records


def apply_layers(
    layers: list[Any], images: np.ndarray, generator: Any
) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """Run `images` through `layers`, drawing from `generator`; return images and draws.

    Each layer's own `get_random_transformation` draws the parameters and its own
    `transform_images` applies them, so the record is what was applied, not a re-derivation.
    """
    batch = np.asarray(images, dtype=np.float32)
    height, width = batch.shape[1:3]
    records: list[dict[str, Any]] = [{} for _ in range(len(batch))]
    for layer in layers:
        transformation = layer.get_random_transformation(batch, training=True, seed=generator)
        for record, drawn in zip(
            records, describe_transformation(layer, transformation, height, width), strict=True
        ):
            record.update(drawn)
        batch = layer.transform_images(batch, transformation, training=True)
    return np.asarray(batch, dtype=np.float32), records


def to_uint8(images: np.ndarray) -> np.ndarray:
    """Round and clip resampled pixels back to the photo's 8-bit range."""
    return np.clip(np.rint(images), 0, 255).astype(np.uint8)


def seeded_generator(seed: Seed) -> Any:
    import keras  # noqa: PLC0415

    keras.utils.set_random_seed(int(seed))
    return keras.random.SeedGenerator(int(seed))


def augmenter_layers(augmenter: Any) -> list[Any]:
    recorded = {*EFFECT_OF_LAYER, COMPOSED_LAYER}
    return [layer for layer in augmenter.layers if type(layer).__name__ in recorded]


EFFECTS = ("rotation", "shift", "shear", "zoom", "flip")
"""ImageDataGenerator's order of composition; the flip comes after the resampling."""

RANGE_OF_EFFECT = {
    "rotation": ("rotation_range",),
    "shift": ("width_shift_range", "height_shift_range"),
    "shear": ("shear_range",),
    "zoom": ("zoom_range",),
    "flip": ("horizontal_flip",),
}
"""The composed layer's arguments that switch each effect on."""

DRAWS_OF_EFFECT = {
    "rotation": ("angle_deg",),
    "shift": ("shift_x_px", "shift_y_px"),
    "shear": ("shear_deg",),
    "zoom": ("zoom_x", "zoom_y"),
    "flip": ("flips",),
}
"""The entries of the composed layer's drawn transformation that belong to each effect."""


def composed_effects(layer: Any) -> list[str]:
    """The effects a composed layer can produce: the flip only when flipping is on."""
    return [effect for effect in EFFECTS if effect != "flip" or layer.horizontal_flip]


def alone(layer: Any, effect: str) -> Any:
    """A copy of the composed `layer` with every other effect's range set to zero."""
    if effect not in EFFECTS:
        raise ValueError(f"Unknown effect {effect!r}: one of {', '.join(EFFECTS)}")
    config = layer.get_config()
    for other, keys in RANGE_OF_EFFECT.items():
        if other != effect:
            config.update(dict.fromkeys(keys, 0.0))
    config["horizontal_flip"] = effect == "flip" and layer.horizontal_flip
    config["name"] = f"{layer.name}_{effect}"
    return type(layer).from_config(config)


def only_effect(transformation: dict[str, Any], effect: str) -> dict[str, Any]:
    """A composed layer's drawn `transformation` with every other effect set to the identity
    (zoom 1, else 0), so the same draw can be applied one effect at a time, as chained layers do."""
    from keras import ops  # noqa: PLC0415

    kept = DRAWS_OF_EFFECT[effect]
    identity = {"zoom_x": ops.ones_like, "zoom_y": ops.ones_like}
    return {
        key: value if key in kept else identity.get(key, ops.zeros_like)(value)
        for key, value in transformation.items()
    }


def single_effects(augmenter: Any, seed: Seed) -> list[tuple[str, Any, Any]]:
    """(effect, a layer producing only that effect, the generator to draw it with), in the order
    of composition, so that each effect draws what the whole augmenter draws for it.

    Chained layers draw in turn from one generator, as in the chain. The composed layer draws
    every quantity at each call, so each effect alone restarts from the seed.
    """
    shared = seeded_generator(seed)
    triples = []
    for layer in augmenter_layers(augmenter):
        kind = type(layer).__name__
        if kind == COMPOSED_LAYER:
            triples += [
                (effect, alone(layer, effect), seeded_generator(seed))
                for effect in composed_effects(layer)
            ]
        else:
            triples.append((EFFECT_OF_LAYER[kind], layer, shared))
    return triples
