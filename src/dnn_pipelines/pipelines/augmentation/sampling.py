"""Perturbed copies of the photo: the lesson's 16, each effect alone, and the same draws
composed (the lesson) against chained."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from dnn_pipelines.parameters import Seed
from dnn_pipelines.pipelines.augmentation.layers import (
    IDENTITY,
    apply_layers,
    augmenter_layers,
    composed_layer,
    describe_transformation,
    seeded_generator,
    single_effect_layers,
    to_uint8,
)
from dnn_pipelines.pipelines.augmentation.params import AugmentationParams


def sample_augmentations(
    image: dict[str, np.ndarray], augmenter: Any, params: AugmentationParams, seed: Seed
) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """The lesson's 16 perturbed copies, and per copy the parameters every layer drew."""
    generator = seeded_generator(seed)
    batch = np.repeat(image["image"][None], params.sampling.n_samples, axis=0)
    images, records = apply_layers(augmenter_layers(augmenter), batch, generator)
    table = pd.DataFrame([{"sample": i, **IDENTITY, **record} for i, record in enumerate(records)])
    return {"images": to_uint8(images)}, table


STRENGTH_KEY = {
    "rotation": "rotation_deg",
    "shift": "shift_x_fraction",
    "shear": "shear_x",
    "zoom": "zoom_x",
    "flip": "flipped",
}
"""Column that orders the strengths of an effect left to right in the per-effect figure."""


def sample_single_effects(
    image: dict[str, np.ndarray], augmenter: Any, params: AugmentationParams, seed: Seed
) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Each layer alone on the photo at `n_strengths` draws, ordered from weakest to strongest."""
    generator = seeded_generator(seed)
    batch = np.repeat(image["image"][None], params.effects.n_strengths, axis=0)
    effects: dict[str, np.ndarray] = {}
    rows = []
    for effect, layer in single_effect_layers(augmenter):
        images, records = apply_layers([layer], batch, generator)
        key = STRENGTH_KEY[effect]
        if effect == "shear" and params.transforms.shear_axis == "y":
            key = "shear_y"
        order = sorted(range(len(records)), key=lambda i, key=key: records[i][key])
        effects[effect] = to_uint8(images[order])
        rows += [
            {"effect": effect, "strength": rank, "draw": i, **records[i]}
            for rank, i in enumerate(order)
        ]
    return effects, pd.DataFrame(rows)


def compare_compositions(
    image: dict[str, np.ndarray], params: AugmentationParams, seed: Seed
) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """The same draws applied as one matrix (ImageDataGenerator, the lesson) and one effect at
    a time (what chained layers do), and per draw how much of each picture is photo.

    A picture's photo pixels are found by sending an all-ones frame through the same
    transforms with a constant zero fill: what stays above 1/2 came from inside the photo.
    """
    from dnn_pipelines.pipelines.augmentation.composed import EFFECTS, only_effect  # noqa: PLC0415

    generator = seeded_generator(seed)
    batch = np.repeat(image["image"][None], params.comparison.n_samples, axis=0)
    batch = batch.astype(np.float32)
    layer = composed_layer(params)
    framing = composed_layer(params, fill_mode="constant")
    drawn = layer.get_random_transformation(batch, training=True, seed=generator)

    def chained(through: Any, images: np.ndarray) -> np.ndarray:
        for effect in EFFECTS:
            images = through.transform_images(images, only_effect(drawn, effect))
        return np.asarray(images)

    frame = np.ones((*batch.shape[:3], 1), dtype=np.float32)
    pictures = {
        "composed": to_uint8(np.asarray(layer.transform_images(batch, drawn))),
        "chained": to_uint8(chained(layer, batch)),
        "composed_photo": np.asarray(framing.transform_images(frame, drawn))[..., 0] > 0.5,
        "chained_photo": chained(framing, frame)[..., 0] > 0.5,
    }
    height, width = batch.shape[1:3]
    records = describe_transformation(layer, drawn, height, width)
    table = pd.DataFrame(
        [
            {
                "draw": i,
                **record,
                "photo_fraction_composed": float(pictures["composed_photo"][i].mean()),
                "photo_fraction_chained": float(pictures["chained_photo"][i].mean()),
            }
            for i, record in enumerate(records)
        ]
    )
    return pictures, table
