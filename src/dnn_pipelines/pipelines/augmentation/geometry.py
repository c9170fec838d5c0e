"""Beyond the lesson: does each effect do what its drawn parameters say?

A synthetic probe holds one Gaussian dot per channel. Each effect is applied alone to it,
the dots' centroids give the output -> input affine map, and the angle, shift, shear, zoom
and flip read from that map are compared with the draws.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from dnn_pipelines.parameters import Seed
from dnn_pipelines.pipelines.augmentation.layers import (
    COMPOSED_LAYER,
    IDENTITY,
    apply_layers,
    single_effects,
)
from dnn_pipelines.pipelines.augmentation.params import AugmentationParams

DOT_MARGIN_SIGMAS = 4.0
"""A dot is drawn out to this many standard deviations; it must stay that far from the border."""


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
    """Apply each effect alone to the dot probe and compare what it did with what it drew.

    Per draw: the dots' centroids before and after give the output -> input affine map
    (the form Keras layers are written in), from which the angle, shift, shear, zoom and
    flip are read; `position_px` is the largest distance between a measured dot and where
    the drawn parameters say it should be.
    """
    image = probe["image"]
    height, width = image.shape[:2]
    sigma = params.geometry_check.dot_sigma_px
    points, _ = centroids(image)
    tolerances = _tolerances(params, points, height, width)
    batch = np.repeat(image[None], params.geometry_check.n_draws, axis=0)
    rows = []
    evidence: dict[str, np.ndarray] = {}
    for effect, layer, generator in single_effects(augmenter, seed):
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
