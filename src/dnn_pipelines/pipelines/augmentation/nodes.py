"""The lesson's data augmentation, recorded draw by draw and measured.

Two ways to put the lesson's transforms together (`transforms.composition`):
- `composed` (default): ImageDataGenerator's single affine matrix, one resampling, as the
  layer `composed.ImageDataGeneratorTransform`;
- `chained`: Keras 3's random layers in the order of ImageDataGenerator's matrix (rotation,
  shift, shear, zoom, then the flip), each resampling and cropping to the frame.

Either way every layer is driven by hand: `get_random_transformation` draws the parameters,
which are recorded, and `transform_images` applies exactly those. A geometry check applies
each effect alone to a synthetic image of Gaussian dots and measures what it really did.

`keras` is imported inside the functions that need it (`# noqa: PLC0415`): the pipeline
registry imports every pipeline module on every run, and runs that do not augment must not
pay for TensorFlow's start-up. scikit-learn's dataset module is imported lazily for the
same reason.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from dnn_pipelines.parameters import Seed
from dnn_pipelines.pipelines.augmentation.params import AugmentationParams, keras_factors
from dnn_pipelines.plotting import new_figure

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

DOT_MARGIN_SIGMAS = 4.0
"""A dot is drawn out to this many standard deviations; it must stay that far from the border."""


# --------------------------------------------------------------------------- dataset generation


def load_image(params: AugmentationParams) -> dict[str, np.ndarray]:
    """The lesson's photo: `load_sample_images()` ships with scikit-learn, so nothing downloads."""
    from sklearn.datasets import load_sample_images  # noqa: PLC0415

    images = load_sample_images().images
    index = params.image.index
    if index >= len(images):
        raise ValueError(
            f"augmentation.image.index = {index}, but load_sample_images() holds "
            f"{len(images)} images: allowed 0..{len(images) - 1}"
        )
    step = params.image.downscale
    return {"image": np.ascontiguousarray(images[index][::step, ::step], dtype=np.uint8)}


def make_geometry_probe(params: AugmentationParams) -> dict[str, np.ndarray]:
    """A black image with one Gaussian dot per channel, so every dot can be followed alone."""
    probe = params.geometry_check
    height, width, sigma = probe.height, probe.width, probe.dot_sigma_px
    centre = np.array([(width - 1) / 2, (height - 1) / 2])
    points = centre + np.asarray(probe.dot_offsets, float) * probe.dot_spread * min(height, width)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    channels = []
    for x, y in points:
        squared = (xs - x) ** 2 + (ys - y) ** 2
        dot = np.exp(-squared / (2 * sigma**2))
        dot[squared > (DOT_MARGIN_SIGMAS * sigma) ** 2] = 0.0
        channels.append(dot)
    image = np.stack(channels, axis=-1).astype(np.float32)
    _require_inside(points, height, width, sigma, "the probe itself")
    return {"image": image, "points": points}


# ------------------------------------------------------------------------------ model building


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


# ------------------------------------------------------------------------------------ sampling


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


def _seeded_generator(seed: Seed) -> Any:
    import keras  # noqa: PLC0415

    keras.utils.set_random_seed(int(seed))
    return keras.random.SeedGenerator(int(seed))


def _augmenter_layers(augmenter: Any) -> list[Any]:
    recorded = {*EFFECT_OF_LAYER, COMPOSED_LAYER}
    return [layer for layer in augmenter.layers if type(layer).__name__ in recorded]


def single_effect_layers(augmenter: Any) -> list[tuple[str, Any]]:
    """(effect, a layer producing only that effect), in the order of composition."""
    pairs = []
    for layer in _augmenter_layers(augmenter):
        kind = type(layer).__name__
        if kind == COMPOSED_LAYER:
            pairs += [(effect, layer.alone(effect)) for effect in layer.effects()]
        else:
            pairs.append((EFFECT_OF_LAYER[kind], layer))
    return pairs


def sample_augmentations(
    image: dict[str, np.ndarray], augmenter: Any, params: AugmentationParams, seed: Seed
) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """The lesson's 16 perturbed copies, and per copy the parameters every layer drew."""
    generator = _seeded_generator(seed)
    batch = np.repeat(image["image"][None], params.sampling.n_samples, axis=0)
    images, records = apply_layers(_augmenter_layers(augmenter), batch, generator)
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
    generator = _seeded_generator(seed)
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

    generator = _seeded_generator(seed)
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


# ---------------------------------------------------------------------------- geometry check


def centroids(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Intensity-weighted (x, y) centre of every channel, and every channel's total intensity."""
    height, width = image.shape[:2]
    weights = np.clip(np.asarray(image, dtype=np.float64), 0, None)
    mass = weights.sum(axis=(0, 1))
    xs = np.arange(width, dtype=np.float64)
    ys = np.arange(height, dtype=np.float64)
    x = np.einsum("hwk,w->k", weights, xs) / mass
    y = np.einsum("hwk,h->k", weights, ys) / mass
    return np.column_stack([x, y]), mass


def fit_affine(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """The 2 x 3 affine matrix that best maps `source` points onto `target` (least squares)."""
    design = np.column_stack([source, np.ones(len(source))])
    solution, *_ = np.linalg.lstsq(design, target, rcond=None)
    return solution.T


def expected_positions(
    effect: str,
    record: dict[str, Any],
    points: np.ndarray,
    height: int,
    width: int,
    shear_about_centre: bool = False,
) -> np.ndarray:
    """Where the dots at `points` (x, y) should land, from the drawn parameters and their meaning.

    Written from the documented semantics, independently of the layers' matrices: rotation
    counter-clockwise on screen about the image centre; shift right / down in pixels; shear
    about the top-left pixel (Keras' RandomShear: the input pixel of output (x, y) is
    (x + sx*y, y + sy*x)) or, `shear_about_centre`, about the centre with the other axis
    scaled by cos(s) (ImageDataGenerator); zoom about the centre, content shrinking by the
    factor; the flip mirrors x about the centre.
    """
    centre = np.array([(width - 1) / 2, (height - 1) / 2])
    if effect == "rotation":
        angle = math.radians(record["rotation_deg"])
        cos, sin = math.cos(angle), math.sin(angle)
        # y grows downwards, so a counter-clockwise turn on screen is clockwise in (x, y).
        turn = np.array([[cos, sin], [-sin, cos]])
        return centre + (points - centre) @ turn.T
    if effect == "shift":
        return points + np.array([record["shift_x_px"], record["shift_y_px"]])
    if effect == "shear":
        return _sheared(points, record["shear_x"], record["shear_y"], centre, shear_about_centre)
    if effect == "zoom":
        return centre + (points - centre) / np.array([record["zoom_x"], record["zoom_y"]])
    if effect == "flip":
        if not record["flipped"]:
            return points.copy()
        return np.column_stack([width - 1 - points[:, 0], points[:, 1]])
    raise ValueError(f"Unknown effect {effect!r}")


def _sheared(
    points: np.ndarray, sx: float, sy: float, centre: np.ndarray, about_centre: bool
) -> np.ndarray:
    if not about_centre:
        to_input = np.array([[1.0, sx], [sy, 1.0]])
        return points @ np.linalg.inv(to_input).T
    to_input = np.array([[math.sqrt(1 - sy**2), sx], [sy, math.sqrt(1 - sx**2)]])
    return centre + (points - centre) @ np.linalg.inv(to_input).T


def measure(effect: str, to_input: np.ndarray) -> dict[str, float]:
    """Read an effect's parameters off the measured output -> input affine matrix."""
    if effect == "rotation":
        return {"rotation_deg": math.degrees(math.atan2(to_input[1, 0], to_input[0, 0]))}
    if effect == "shift":
        return {"shift_x_px": -to_input[0, 2], "shift_y_px": -to_input[1, 2]}
    if effect == "shear":
        return {
            "shear_x_deg": math.degrees(math.asin(np.clip(to_input[0, 1], -1, 1))),
            "shear_y_deg": math.degrees(math.asin(np.clip(to_input[1, 0], -1, 1))),
        }
    if effect == "zoom":
        return {"zoom_x": to_input[0, 0], "zoom_y": to_input[1, 1]}
    if effect == "flip":
        return {"flipped": float(to_input[0, 0] < 0)}
    raise ValueError(f"Unknown effect {effect!r}")


def _require_inside(
    positions: np.ndarray, height: int, width: int, sigma: float, what: str
) -> None:
    """A dot whose tail is cut by the border (or smeared by the fill) has a biased centroid."""
    reach = DOT_MARGIN_SIGMAS * sigma
    inside = (
        (positions[:, 0] >= reach)
        & (positions[:, 0] <= width - 1 - reach)
        & (positions[:, 1] >= reach)
        & (positions[:, 1] <= height - 1 - reach)
    )
    if not inside.all():
        raise ValueError(
            f"A dot of the geometry probe leaves the image in {what}: "
            f"{positions[~inside].round(1).tolist()} in a {height} x {width} probe. Reduce "
            "augmentation.geometry_check.dot_spread or enlarge its height and width."
        )


def _tolerances(
    params: AugmentationParams, points: np.ndarray, height: int, width: int
) -> dict[str, tuple[str, float]]:
    """Unit and tolerance of every measured quantity.

    A zoom factor error d moves a dot at distance r from the centre by about r*d, so the
    zoom tolerance is the pixel tolerance over the farthest dot's distance along that axis.
    """
    check = params.geometry_check
    reach = np.abs(points - np.array([(width - 1) / 2, (height - 1) / 2])).max(axis=0)
    pixels = ("px", check.tolerance_px)
    degrees = ("deg", check.tolerance_deg)
    return {
        "rotation_deg": degrees,
        "shift_x_px": pixels,
        "shift_y_px": pixels,
        "shear_x_deg": degrees,
        "shear_y_deg": degrees,
        "zoom_x": ("factor", check.tolerance_px / reach[0]),
        "zoom_y": ("factor", check.tolerance_px / reach[1]),
        "flipped": ("bool", 0.0),
        "position_px": pixels,
    }


def check_geometry(
    probe: dict[str, np.ndarray], augmenter: Any, params: AugmentationParams, seed: Seed
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Apply each layer alone to the dot probe and compare what it did with what it drew.

    Per draw: the dots' centroids before and after give the output -> input affine map
    (the form Keras layers are written in), from which the angle, shift, shear, zoom and
    flip are read; `position_px` is the largest distance between a measured dot and where
    the drawn parameters say it should be.
    """
    generator = _seeded_generator(seed)
    image = probe["image"]
    height, width = image.shape[:2]
    sigma = params.geometry_check.dot_sigma_px
    points, _ = centroids(image)
    tolerances = _tolerances(params, points, height, width)
    batch = np.repeat(image[None], params.geometry_check.n_draws, axis=0)
    rows = []
    evidence: dict[str, np.ndarray] = {}
    for effect, layer in single_effect_layers(augmenter):
        outputs, records = apply_layers([layer], batch, generator)
        about_centre = type(layer).__name__ == COMPOSED_LAYER
        measured_all, expected_all = [], []
        for draw, (output, record) in enumerate(zip(outputs, records, strict=True)):
            drawn = {**IDENTITY, **record}
            expected = expected_positions(effect, drawn, points, height, width, about_centre)
            spread = sigma / min(drawn["zoom_x"], drawn["zoom_y"])  # zooming in widens a dot
            _require_inside(expected, height, width, spread, f"{effect} draw {draw}")
            found, _ = centroids(output)
            measured = measure(effect, fit_affine(found, points))
            measured["position_px"] = float(np.linalg.norm(found - expected, axis=1).max())
            drawn["position_px"] = 0.0
            for quantity, value in measured.items():
                unit, tolerance = tolerances[quantity]
                error = abs(float(value) - float(drawn[quantity]))
                rows.append(
                    {
                        "effect": effect,
                        "draw": draw,
                        "quantity": quantity,
                        "unit": unit,
                        "drawn": float(drawn[quantity]),
                        "measured": float(value),
                        "error": error,
                        "tolerance": tolerance,
                        "passed": bool(error <= tolerance),
                    }
                )
            measured_all.append(found)
            expected_all.append(expected)
        evidence[f"{effect}_image"] = outputs.max(axis=-1)
        evidence[f"{effect}_measured"] = np.stack(measured_all)
        evidence[f"{effect}_expected"] = np.stack(expected_all)
    return pd.DataFrame(rows), evidence


# ------------------------------------------------------------------------------------ metrics


def mean_abs_change(original: np.ndarray, pictures: np.ndarray) -> list[float]:
    """Mean absolute pixel difference (0-255) of each picture from the original."""
    difference = np.abs(pictures.astype(np.float64) - original.astype(np.float64)[None])
    return [float(value) for value in difference.mean(axis=(1, 2, 3))]


def summarize_metrics(
    image: dict[str, np.ndarray],
    sample_parameters: pd.DataFrame,
    effects: dict[str, np.ndarray],
    geometry_check: pd.DataFrame,
    composition_draws: pd.DataFrame,
    params: AugmentationParams,
    seed: Seed,
) -> dict[str, Any]:
    """Per sample what was drawn, the Keras arguments the lesson's ranges became, how much each
    effect alone changes the photo (can they be told apart?), the geometry check, and how
    much photo chaining loses against the lesson's single matrix."""
    samples = sample_parameters.to_dict(orient="records")
    numeric = sample_parameters.drop(columns=["sample", "flipped"])
    by_quantity = geometry_check.groupby(["effect", "quantity"], sort=False)
    height, width, channels = image["image"].shape
    composed = composition_draws["photo_fraction_composed"]
    chained = composition_draws["photo_fraction_chained"]
    return {
        "seed": int(seed),
        "image": {"height": height, "width": width, "channels": channels},
        "composition": params.transforms.composition,
        "imagedatagenerator_ranges": params.transforms.model_dump(exclude={"composition"}),
        "keras_layer_arguments": keras_factors(params.transforms),
        "n_samples": len(samples),
        "samples": [
            {key: (bool(v) if key == "flipped" else _plain(v)) for key, v in row.items()}
            for row in samples
        ],
        "drawn_ranges": {
            column: [float(numeric[column].min()), float(numeric[column].max())]
            for column in numeric.columns
        },
        "flipped_fraction": float(sample_parameters["flipped"].astype(bool).mean()),
        "single_effect_mean_abs_change": {
            effect: mean_abs_change(image["image"], pictures)
            for effect, pictures in effects.items()
        },
        "geometry_check": {
            "all_passed": bool(geometry_check["passed"].all()),
            "n_measurements": len(geometry_check),
            "max_error": {
                f"{effect}.{quantity}": {
                    "max_error": float(group["error"].max()),
                    "tolerance": float(group["tolerance"].iloc[0]),
                    "unit": str(group["unit"].iloc[0]),
                    "passed": bool(group["passed"].all()),
                }
                for (effect, quantity), group in by_quantity
            },
        },
        "composed_against_chained": {
            "n_draws": len(composition_draws),
            "mean_photo_fraction_composed": float(composed.mean()),
            "mean_photo_fraction_chained": float(chained.mean()),
            "draws_where_chaining_shows_less_photo": int((chained < composed).sum()),
        },
    }


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


# ----------------------------------------------------------------------------------- plotting


def describe_draw(effect: str, record: dict[str, Any]) -> str:
    """A short panel title for one draw of one effect."""
    if effect == "rotation":
        return f"{record['rotation_deg']:+.1f} deg"
    if effect == "shift":
        return f"dx {record['shift_x_fraction']:+.0%}, dy {record['shift_y_fraction']:+.0%}"
    if effect == "shear":
        return f"shear x {record['shear_x_deg']:+.2f}, y {record['shear_y_deg']:+.2f} deg"
    if effect == "zoom":
        return f"zoom x {record['zoom_x']:.2f}, y {record['zoom_y']:.2f}"
    if effect == "flip":
        return "flipped" if bool(record["flipped"]) else "not flipped"
    raise ValueError(f"Unknown effect {effect!r}")


def plot_original(image: dict[str, np.ndarray], params: AugmentationParams) -> Figure:
    """The lesson's first figure: the photo, titled 'Original'."""
    figure, axes = new_figure(size=params.plots.original_size)
    figure.set_dpi(params.plots.dpi)
    axes[0, 0].imshow(image["image"])
    axes[0, 0].set_title("Original")
    axes[0, 0].axis("off")
    return figure


def lesson_display(picture: np.ndarray) -> np.ndarray:
    """What the lesson's `array_to_img(batch[0])` shows: each image stretched on its own,
    from its darkest value (0) to its brightest (255), in float32 as Keras computes it."""
    pixels = np.asarray(picture, dtype=np.float32)
    pixels = pixels - pixels.min()
    peak = pixels.max()
    if peak != 0:
        pixels /= peak
    return (pixels * 255).astype(np.uint8)


def plot_samples_grid(
    samples: dict[str, np.ndarray], sample_parameters: pd.DataFrame, params: AugmentationParams
) -> Figure:
    """The lesson's 4 x 4 grid of perturbed copies, each titled with what was drawn and shown
    as the lesson's `array_to_img` shows it."""
    sampling = params.sampling
    figure, axes = new_figure(sampling.grid_rows, sampling.grid_cols, params.plots.grid_size)
    figure.set_dpi(params.plots.dpi)
    for ax, picture, record in zip(
        axes.ravel(), samples["images"], sample_parameters.to_dict(orient="records"), strict=True
    ):
        ax.imshow(lesson_display(picture))
        ax.set_title(
            f"{describe_draw('rotation', record)}, {describe_draw('shift', record)}\n"
            f"{describe_draw('zoom', record)}, {describe_draw('flip', record)}",
            fontsize=8,
        )
        ax.axis("off")
    figure.suptitle("Random perturbations (Keras 3 layers)")
    return figure


def plot_single_effects(
    image: dict[str, np.ndarray],
    effects: dict[str, np.ndarray],
    effect_parameters: pd.DataFrame,
    params: AugmentationParams,
) -> Figure:
    """One row per effect alone, weakest to strongest draw: can the effects be told apart?"""
    names = list(dict.fromkeys(effect_parameters["effect"]))
    n_cols = 1 + params.effects.n_strengths
    figure, axes = new_figure(len(names), n_cols, params.plots.effects_size)
    figure.set_dpi(params.plots.dpi)
    for row, effect in zip(axes, names, strict=True):
        row[0].imshow(image["image"])
        row[0].set_title("original", fontsize=8)
        row[0].set_ylabel(effect)
        records = effect_parameters[effect_parameters["effect"] == effect]
        for ax, picture, record in zip(
            row[1:], effects[effect], records.to_dict(orient="records"), strict=True
        ):
            ax.imshow(picture)
            ax.set_title(describe_draw(effect, record), fontsize=8)
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    figure.suptitle("Each perturbation alone, at draws from its configured range")
    return figure


def plot_geometry_check(
    evidence: dict[str, np.ndarray], geometry_check: pd.DataFrame, params: AugmentationParams
) -> Figure:
    """The transformed dot probe: measured centroids (x) on the positions the draws predict (+)."""
    names = list(dict.fromkeys(geometry_check["effect"]))
    n_cols = min(params.plots.geometry_columns, params.geometry_check.n_draws)
    figure, axes = new_figure(len(names), n_cols, params.plots.geometry_size)
    figure.set_dpi(params.plots.dpi)
    for row, effect in zip(axes, names, strict=True):
        rows = geometry_check[geometry_check["effect"] == effect]
        for draw, ax in enumerate(row):
            ax.imshow(evidence[f"{effect}_image"][draw], cmap="gray")
            expected = evidence[f"{effect}_expected"][draw]
            found = evidence[f"{effect}_measured"][draw]
            ax.plot(expected[:, 0], expected[:, 1], "+", color="tab:red", markersize=12)
            ax.plot(found[:, 0], found[:, 1], "x", color="tab:cyan", markersize=7)
            this = rows[rows["draw"] == draw].set_index("quantity")
            error = this.loc["position_px", "measured"]
            drawn = {q: this.loc[q, "drawn"] for q in this.index if q != "position_px"}
            label = ", ".join(f"{q} {v:+.2f}" for q, v in drawn.items())
            ax.set_title(f"{label}\nmax dot error {error:.2f} px", fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
        row[0].set_ylabel(effect)
    figure.suptitle("Geometry check: + where the drawn parameters put each dot, x where it is")
    return figure


PHOTO_MAP = ("0.85", "tab:red", "black")
"""Colours of the comparison map: photo in both, fill only when chained, fill in both."""


def plot_composition_comparison(
    comparison: dict[str, np.ndarray], composition_draws: pd.DataFrame, params: AugmentationParams
) -> Figure:
    """Per draw: the lesson's single matrix, the same draw chained, and where chaining shows
    fill (red) where the lesson shows photo."""
    from matplotlib.colors import ListedColormap  # noqa: PLC0415

    n = len(composition_draws)
    figure, axes = new_figure(n, 3, params.plots.comparison_size)
    figure.set_dpi(params.plots.dpi)
    chained_fill = np.where(~comparison["chained_photo"], 1, 0)
    photo_map = np.where(~comparison["composed_photo"], 2, chained_fill)
    for row, record in zip(axes, composition_draws.to_dict(orient="records"), strict=True):
        i = int(record["draw"])
        row[0].imshow(comparison["composed"][i])
        row[0].set_title(
            f"one matrix: {record['photo_fraction_composed']:.0%} photo\n"
            f"{describe_draw('rotation', record)}, {describe_draw('zoom', record)}",
            fontsize=8,
        )
        row[1].imshow(comparison["chained"][i])
        row[1].set_title(f"chained: {record['photo_fraction_chained']:.0%} photo", fontsize=8)
        row[2].imshow(photo_map[i], cmap=ListedColormap(PHOTO_MAP), vmin=0, vmax=2)
        row[2].set_title("red: fill only when chained", fontsize=8)
        for ax in row:
            ax.axis("off")
    figure.suptitle("The same draws: one matrix (the lesson) and chained layers")
    return figure
