"""Perturbed copies of the photo: the lesson's 16, each effect alone, and the same draws
composed (the lesson) against chained."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from dnn_pipelines.parameters import Seed
from dnn_pipelines.pipelines.augmentation.layers import (
    EFFECTS,
    IDENTITY,
    apply_layers,
    augmenter_layers,
    composed_layer,
    describe_transformation,
    only_effect,
    seeded_generator,
    single_effects,
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


STRENGTH = {
    "rotation": lambda r: abs(r["rotation_deg"]),
    "shift": lambda r: math.hypot(r["shift_x_fraction"], r["shift_y_fraction"]),
    "shear": lambda r: abs(r["shear_x"]) + abs(r["shear_y"]),
    "zoom": lambda r: max(abs(math.log(r["zoom_x"])), abs(math.log(r["zoom_y"]))),
    "flip": lambda r: float(r["flipped"]),
}
"""How strong a draw of each effect is: how far it is from the identity."""


def sample_single_effects(
    image: dict[str, np.ndarray], augmenter: Any, params: AugmentationParams, seed: Seed
) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Each effect alone on the photo, at `n_strengths` of the grid's draws spread evenly from
    the weakest to the strongest (`draw` is the grid's copy)."""
    n = params.sampling.n_samples
    picks = np.linspace(0, n - 1, params.effects.n_strengths).round().astype(int)
    batch = np.repeat(image["image"][None], n, axis=0)
    effects: dict[str, np.ndarray] = {}
    rows = []
    for effect, layer, generator in single_effects(augmenter, seed):
        images, records = apply_layers([layer], batch, generator)
        drawn = [{**IDENTITY, **record} for record in records]
        order = sorted(range(n), key=lambda i: STRENGTH[effect](drawn[i]))
        chosen = [order[pick] for pick in picks]
        effects[effect] = to_uint8(images[chosen])
        rows += [
            {"effect": effect, "strength": rank, "draw": i, **records[i]}
            for rank, i in enumerate(chosen)
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
