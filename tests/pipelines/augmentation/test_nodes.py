"""Unit tests of the augmentation nodes: unit conversions, draws, and measured geometry.

The parameters are the project's own conf/base merged with conf/test (a quarter-size photo),
so these tests check the shipped configuration, not a copy of it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from dnn_pipelines.datasets.keras_model import KerasModelDataset
from dnn_pipelines.pipelines.augmentation import data, geometry, layers, report, sampling
from dnn_pipelines.pipelines.augmentation.params import (
    AugmentationParams,
    TransformParams,
    keras_factors,
    shear_fraction,
)

keras = pytest.importorskip("keras")

CONF = Path(__file__).resolve().parents[3] / "conf"


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def raw_params(env: str = "test") -> dict[str, Any]:
    """The `augmentation` block as Kedro builds it: base, softly overridden by `env`."""
    base = yaml.safe_load((CONF / "base" / "parameters_augmentation.yml").read_text())
    raw = base["augmentation"]
    override = CONF / env / "parameters_augmentation.yml"
    if env != "base" and override.exists():
        raw = _merge(raw, yaml.safe_load(override.read_text())["augmentation"])
    return raw


def with_changes(**changes: Any) -> dict[str, Any]:
    """Test params with `section__key=value` changes, e.g. transforms__zoom_range=0.5."""
    raw = raw_params()
    for dotted, value in changes.items():
        section, key = dotted.split("__")
        raw[section] = {**raw[section], key: value}
    return raw


@pytest.fixture(scope="module")
def params() -> AugmentationParams:
    return AugmentationParams.model_validate(raw_params())


@pytest.fixture(scope="module")
def image(params: AugmentationParams) -> dict[str, np.ndarray]:
    return data.load_image(params)


def with_composition(params: AugmentationParams, composition: str) -> AugmentationParams:
    transforms = params.transforms.model_copy(update={"composition": composition})
    return params.model_copy(update={"transforms": transforms})


@pytest.fixture(scope="module")
def augmenter(params: AugmentationParams) -> Any:
    """The configured augmenter: ImageDataGenerator's composed transform."""
    return layers.build_augmenter(params, 123)


@pytest.fixture(scope="module")
def chained(params: AugmentationParams) -> Any:
    """The chained-layers option."""
    return layers.build_augmenter(with_composition(params, "chained"), 123)


@pytest.fixture(scope="module", params=["composed", "chained"])
def each_augmenter(request: pytest.FixtureRequest, augmenter: Any, chained: Any) -> Any:
    return augmenter if request.param == "composed" else chained


@pytest.fixture(scope="module")
def probe(params: AugmentationParams) -> dict[str, np.ndarray]:
    return geometry.make_geometry_probe(params)


# ------------------------------------------------------------------------------ parameters


def test_base_conf_is_the_lessons_image_data_generator():
    transforms = AugmentationParams.model_validate(raw_params("base")).transforms
    assert transforms.model_dump() == {
        "composition": "composed",
        "rotation_range": 40.0,
        "width_shift_range": 0.2,
        "height_shift_range": 0.2,
        "shear_range": 0.2,
        "shear_axis": "x",
        "zoom_range": 0.2,
        "horizontal_flip": True,
        "fill_mode": "nearest",
        "interpolation": "bilinear",
    }


def test_keras_factors_convert_the_lessons_units():
    transforms = AugmentationParams.model_validate(raw_params("base")).transforms
    factors = keras_factors(transforms)
    assert factors["rotation"] == {"factor": pytest.approx(40 / 360)}  # fractions of 2 pi
    assert factors["shift"] == {"height_factor": 0.2, "width_factor": 0.2}
    assert factors["shear"]["x_factor"] == (0.0, pytest.approx(math.sin(math.radians(0.2))))
    assert factors["shear"]["y_factor"] == 0.0
    assert factors["zoom"] == {"height_factor": (-0.2, 0.2), "width_factor": (-0.2, 0.2)}
    swapped = keras_factors(transforms.model_copy(update={"shear_axis": "y"}))
    assert swapped["shear"]["x_factor"] == 0.0
    assert swapped["shear"]["y_factor"] == factors["shear"]["x_factor"]


def test_shear_fraction_is_the_sine_of_the_angle():
    assert shear_fraction(0.0) == 0.0
    assert shear_fraction(30.0) == pytest.approx(0.5)
    assert shear_fraction(0.2) == pytest.approx(0.0034906514, rel=1e-8)


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"transforms__rotation_range": -40}, "transforms.rotation_range"),
        ({"transforms__width_shift_range": -0.2}, "transforms.width_shift_range"),
        ({"transforms__width_shift_range": 1.0}, "transforms.width_shift_range"),
        ({"transforms__height_shift_range": 20}, "transforms.height_shift_range"),
        ({"transforms__shear_range": -0.2}, "transforms.shear_range"),
        ({"transforms__zoom_range": -0.2}, "transforms.zoom_range"),
        ({"transforms__zoom_range": 1.0}, "transforms.zoom_range"),
        ({"transforms__fill_mode": "mirror"}, "transforms.fill_mode"),
        ({"transforms__rotation_rnage": 40}, "transforms.rotation_rnage"),
        ({"sampling__n_samples": 5}, "sampling"),
        ({"effects__n_strengths": 5}, "n_strengths"),  # conf/test's grid has 4 copies
        ({"geometry_check__dot_offsets": [[0, 0], [1, 1], [2, 2]]}, "geometry_check"),
    ],
)
def test_bad_parameters_are_rejected_naming_the_key(changes, key):
    with pytest.raises(ValueError, match=key.replace(".", r"\.")):
        AugmentationParams.model_validate(with_changes(**changes))


# ----------------------------------------------------------------------- image and augmenter


def test_load_image_is_the_china_photo_downscaled(params):
    full_size = params.image.model_copy(update={"downscale": 1})
    full = data.load_image(params.model_copy(update={"image": full_size}))
    assert full["image"].shape == (427, 640, 3)
    assert full["image"].dtype == np.uint8
    small = data.load_image(params)["image"]
    assert small.shape == (107, 160, 3)
    np.testing.assert_array_equal(small, full["image"][::4, ::4])


def test_load_image_rejects_an_index_past_the_samples(params):
    bad = params.model_copy(update={"image": params.image.model_copy(update={"index": 2})})
    with pytest.raises(ValueError, match=r"augmentation\.image\.index"):
        data.load_image(bad)


def test_the_configured_augmenter_is_one_composed_layer_with_the_lessons_arguments(augmenter):
    [layer] = augmenter.layers
    assert type(layer).__name__ == "ImageDataGeneratorTransform"
    config = layer.get_config()
    expected = {  # the lesson's ImageDataGenerator, with conf/test's visible shear
        "rotation_range": 40.0,
        "width_shift_range": 0.2,
        "height_shift_range": 0.2,
        "shear_range": 15.0,
        "shear_axis": "x",
        "zoom_range": 0.2,
        "horizontal_flip": True,
        "fill_mode": "nearest",
        "interpolation": "bilinear",
    }
    assert {key: config[key] for key in expected} == expected
    assert layers.composed_effects(layer) == ["rotation", "shift", "shear", "zoom", "flip"]


def test_augmenter_layers_follow_image_data_generators_order_and_fill(chained):
    augmenter = chained
    layers = [type(layer).__name__ for layer in augmenter.layers]
    assert layers == [
        "RandomRotation",
        "RandomTranslation",
        "RandomShear",
        "RandomZoom",
        "RandomFlip",
    ]
    geometric = augmenter.layers[:4]
    assert {layer.fill_mode for layer in geometric} == {"nearest"}
    assert {layer.interpolation for layer in geometric} == {"bilinear"}
    assert augmenter.layers[4].mode == "horizontal"
    rotation, shift, shear, zoom = geometric
    assert rotation.factor == pytest.approx((-40 / 360, 40 / 360))
    assert (shift.width_lower, shift.width_upper) == (-0.2, 0.2)
    assert shear.x_factor == pytest.approx((0.0, math.sin(math.radians(15))))  # conf/test
    assert (zoom.height_lower, zoom.height_upper, zoom.width_lower) == (-0.2, 0.2, -0.2)


def test_no_flip_layer_when_flipping_is_off(params):
    transforms = params.transforms.model_copy(update={"horizontal_flip": False})
    unflipped = params.model_copy(update={"transforms": transforms})
    augmenter = layers.build_augmenter(with_composition(unflipped, "chained"), 1)
    assert "RandomFlip" not in [type(layer).__name__ for layer in augmenter.layers]
    [composed] = layers.build_augmenter(unflipped, 1).layers
    assert "flip" not in layers.composed_effects(composed)
    effects = [
        effect for effect, *_ in layers.single_effects(layers.build_augmenter(unflipped, 1), 1)
    ]
    assert effects == ["rotation", "shift", "shear", "zoom"]


def test_augmenter_round_trips_through_a_keras_file(each_augmenter, tmp_path):
    """Safe mode loads the composed layer too: the catalog's `imports` registers it."""
    augmenter = each_augmenter
    dataset = KerasModelDataset(
        filepath=str(tmp_path / "augmenter.keras"),
        load_args={"imports": ["dnn_pipelines.pipelines.augmentation.composed"]},
    )
    dataset.save(augmenter)
    loaded = dataset.load()

    def configs(model: Any) -> str:  # JSON: the file keeps tuples as lists
        return json.dumps([layer.get_config() for layer in model.layers], sort_keys=True)

    assert configs(loaded) == configs(augmenter)
    batch = np.zeros((2, 8, 8, 3), dtype="float32")
    for before, after in zip(augmenter.layers, loaded.layers, strict=True):
        drawn = before.get_random_transformation(batch, seed=keras.random.SeedGenerator(5))
        again = after.get_random_transformation(batch, seed=keras.random.SeedGenerator(5))
        assert layers.describe_transformation(before, drawn, 8, 8) == (
            layers.describe_transformation(after, again, 8, 8)
        )


# ---------------------------------------------------------------------------------- sampling


def test_same_seed_same_samples_other_seed_other_samples(image, each_augmenter, params):
    augmenter = each_augmenter
    first, first_table = sampling.sample_augmentations(image, augmenter, params, 123)
    again, again_table = sampling.sample_augmentations(image, augmenter, params, 123)
    other, other_table = sampling.sample_augmentations(image, augmenter, params, 124)
    np.testing.assert_array_equal(first["images"], again["images"])
    assert first_table.equals(again_table)
    assert not np.array_equal(first["images"], other["images"])
    assert not np.allclose(first_table["rotation_deg"], other_table["rotation_deg"])


def test_samples_are_uint8_copies_within_the_configured_ranges(image, each_augmenter, params):
    augmenter = each_augmenter
    samples, table = sampling.sample_augmentations(image, augmenter, params, 123)
    n = params.sampling.n_samples
    assert samples["images"].dtype == np.uint8
    assert samples["images"].shape == (n, *image["image"].shape)
    assert len(table) == n
    t = params.transforms
    assert table["rotation_deg"].abs().max() <= t.rotation_range
    assert table["shift_x_fraction"].abs().max() <= t.width_shift_range
    assert table["shift_y_fraction"].abs().max() <= t.height_shift_range
    assert table["shear_x_deg"].abs().max() <= t.shear_range + 1e-9
    assert (table["shear_y"] == 0).all()
    for axis in ("zoom_x", "zoom_y"):
        assert table[axis].between(1 - t.zoom_range, 1 + t.zoom_range).all()
    assert table["flipped"].dtype == bool
    assert len(table["rotation_deg"].unique()) == n  # one draw per copy, not one per batch


def test_recorded_shift_fractions_are_the_pixels_over_the_side(image, each_augmenter, params):
    _, table = sampling.sample_augmentations(image, each_augmenter, params, 123)
    height, width = image["image"].shape[:2]  # 107 x 160: a swapped side shows
    np.testing.assert_allclose(table["shift_x_fraction"], table["shift_x_px"] / width)
    np.testing.assert_allclose(table["shift_y_fraction"], table["shift_y_px"] / height)
    assert table["shift_x_px"].abs().max() > 1  # real shifts, not zeros


@pytest.mark.parametrize("key", ["angle", "angle_deg"])
def test_records_are_the_layers_own_draws(image, augmenter, chained, key):
    """The record is `get_random_transformation`'s output, not a re-derivation."""
    rotation = (chained if key == "angle" else augmenter).layers[0]
    batch = np.repeat(image["image"][None], 3, axis=0)
    _, records = layers.apply_layers([rotation], batch, keras.random.SeedGenerator(7))
    drawn = rotation.get_random_transformation(
        batch.astype("float32"), training=True, seed=keras.random.SeedGenerator(7)
    )
    np.testing.assert_allclose([r["rotation_deg"] for r in records], np.asarray(drawn[key]))


def test_single_effects_hold_each_effect_alone_ordered_by_strength(image, each_augmenter, params):
    augmenter = each_augmenter
    effects, table = sampling.sample_single_effects(image, augmenter, params, 123)
    k = params.effects.n_strengths
    assert list(effects) == ["rotation", "shift", "shear", "zoom", "flip"]
    for effect, pictures in effects.items():
        assert pictures.dtype == np.uint8
        assert pictures.shape == (k, *image["image"].shape)
        assert table.loc[table["effect"] == effect, "strength"].tolist() == list(range(k))
    rotation = table[table["effect"] == "rotation"]
    assert rotation["rotation_deg"].abs().is_monotonic_increasing  # weakest to strongest
    others = rotation[["shift_x_px", "shear_x", "zoom_x", "flipped"]]
    if len(augmenter.layers) == 1:  # composed: the other effects drawn as the identity
        assert others.astype(float).to_numpy().tolist() == [[0.0, 0.0, 1.0, 0.0]] * k
    else:  # chained: nothing else was drawn
        assert others.isna().all().all()


def test_the_effects_span_the_grids_weakest_to_strongest_draw(image, each_augmenter, params):
    _, grid = sampling.sample_augmentations(image, each_augmenter, params, 123)
    _, alone = sampling.sample_single_effects(image, each_augmenter, params, 123)
    rotation = alone[alone["effect"] == "rotation"]["rotation_deg"].abs()
    assert rotation.iloc[0] == pytest.approx(grid["rotation_deg"].abs().min(), rel=1e-6)
    assert rotation.iloc[-1] == pytest.approx(grid["rotation_deg"].abs().max(), rel=1e-6)
    flips = alone[alone["effect"] == "flip"]["flipped"].astype(bool)
    assert flips.iloc[-1] == grid["flipped"].astype(bool).any()  # a flip shows when drawn


@pytest.mark.parametrize(
    ("effect", "columns"),
    [
        ("rotation", ["rotation_deg"]),
        ("shift", ["shift_x_px", "shift_y_px"]),
        ("zoom", ["zoom_x", "zoom_y"]),
        ("flip", ["flipped"]),
    ],
)
def test_each_effect_alone_draws_what_the_grid_drew_for_it(
    image, each_augmenter, params, effect, columns
):
    """Draw i of an effect alone is the grid's copy i, for that effect's quantities."""
    _, grid = sampling.sample_augmentations(image, each_augmenter, params, 123)
    _, alone = sampling.sample_single_effects(image, each_augmenter, params, 123)
    rows = alone[alone["effect"] == effect].sort_values("draw")
    expected = grid.loc[rows["draw"].to_numpy(), columns].to_numpy(dtype=float)
    np.testing.assert_allclose(rows[columns].to_numpy(dtype=float), expected, rtol=1e-6)


# -------------------------------------------------------------------------- geometry check


def test_fit_affine_recovers_a_known_map():
    rng = np.random.default_rng(0)
    source = rng.uniform(0, 100, size=(6, 2))
    matrix = np.array([[0.9, -0.2, 5.0], [0.3, 1.1, -7.0]])
    target = source @ matrix[:, :2].T + matrix[:, 2]
    np.testing.assert_allclose(geometry.fit_affine(source, target), matrix, atol=1e-10)


def test_probe_has_one_dot_per_channel_at_its_points(probe, params):
    check = params.geometry_check
    assert probe["image"].shape == (check.height, check.width, len(check.dot_offsets))
    found, mass = geometry.centroids(probe["image"])
    np.testing.assert_allclose(found, probe["points"], atol=0.01)
    assert (mass > 0).all()


def _measure_fixed(layer: Any, probe: dict[str, np.ndarray], effect: str, n: int = 1):
    """Apply a layer whose range is a single value; return draws, measurements, errors."""
    batch = np.repeat(probe["image"][None], n, axis=0)
    outputs, records = layers.apply_layers([layer], batch, keras.random.SeedGenerator(0))
    height, width = probe["image"].shape[:2]
    points, _ = geometry.centroids(probe["image"])
    results = []
    for output, record in zip(outputs, records, strict=True):
        drawn = {**layers.IDENTITY, **record}
        found, _ = geometry.centroids(output)
        measured = geometry.measure(effect, geometry.fit_affine(found, points))
        expected = geometry.expected_positions(effect, drawn, points, height, width)
        results.append((drawn, measured, np.linalg.norm(found - expected, axis=1).max(), found))
    return results, points


def test_rotation_by_30_degrees_measures_30_degrees_counter_clockwise(probe):
    layer = keras.layers.RandomRotation((30 / 360, 30 / 360), fill_mode="nearest")
    [(drawn, measured, position_error, found)], points = _measure_fixed(layer, probe, "rotation")
    assert drawn["rotation_deg"] == pytest.approx(30.0, abs=1e-4)
    assert measured["rotation_deg"] == pytest.approx(30.0, abs=1.0)
    assert position_error < 1.0
    # Counter-clockwise on screen: the dot right of the centre (offset (1, 0)) moves up.
    centre, right = points[0], points[1]
    assert found[1, 1] < right[1]
    assert math.degrees(math.atan2(-(found[1, 1] - centre[1]), found[1, 0] - centre[0])) == (
        pytest.approx(30.0, abs=1.0)
    )


def test_shift_measures_the_drawn_pixels_right_and_down(probe):
    height, width = probe["image"].shape[:2]
    layer = keras.layers.RandomTranslation((-0.1, -0.1), (0.15, 0.15), fill_mode="nearest")
    [(drawn, measured, position_error, found)], points = _measure_fixed(layer, probe, "shift")
    assert drawn["shift_x_px"] == pytest.approx(0.15 * width, abs=1e-3)
    assert drawn["shift_y_px"] == pytest.approx(-0.1 * height, abs=1e-3)
    np.testing.assert_allclose(
        found - points, [[0.15 * width, -0.1 * height]] * len(points), atol=1
    )
    assert measured["shift_x_px"] == pytest.approx(drawn["shift_x_px"], abs=1.0)
    assert position_error < 1.0


def test_zoom_factor_above_one_shrinks_the_content(probe):
    layer = keras.layers.RandomZoom((0.2, 0.2), (-0.2, -0.2), fill_mode="nearest")
    [(drawn, measured, position_error, found)], points = _measure_fixed(layer, probe, "zoom")
    assert (drawn["zoom_x"], drawn["zoom_y"]) == pytest.approx((0.8, 1.2))
    spread_before = points.max(axis=0) - points.min(axis=0)
    spread_after = found.max(axis=0) - found.min(axis=0)
    np.testing.assert_allclose(spread_after / spread_before, [1 / 0.8, 1 / 1.2], atol=0.02)
    assert (measured["zoom_x"], measured["zoom_y"]) == pytest.approx((0.8, 1.2), abs=0.01)
    assert position_error < 1.0


def test_shear_measures_the_drawn_angle(probe):
    layer = keras.layers.RandomShear(x_factor=(0.2, 0.2), fill_mode="nearest")
    results, _ = _measure_fixed(layer, probe, "shear", n=4)
    for drawn, measured, position_error, _found in results:
        assert abs(drawn["shear_x"]) == pytest.approx(0.2, abs=1e-6)
        assert measured["shear_x_deg"] == pytest.approx(drawn["shear_x_deg"], abs=1.0)
        assert measured["shear_y_deg"] == pytest.approx(0.0, abs=1.0)
        assert position_error < 1.0


def test_flip_is_measured_as_drawn(probe):
    layer = keras.layers.RandomFlip("horizontal")
    results, _ = _measure_fixed(layer, probe, "flip", n=8)
    flips = [drawn["flipped"] for drawn, *_ in results]
    assert any(flips) and not all(flips)
    for drawn, measured, position_error, _found in results:
        assert measured["flipped"] == float(drawn["flipped"])
        assert position_error < 1.0


def test_check_geometry_passes_for_every_configured_layer(probe, each_augmenter, params):
    augmenter = each_augmenter
    table, evidence = geometry.check_geometry(probe, augmenter, params, 123)
    assert table["passed"].all(), table[~table["passed"]]
    assert list(dict.fromkeys(table["effect"])) == ["rotation", "shift", "shear", "zoom", "flip"]
    n = params.geometry_check.n_draws
    assert (table.groupby("effect")["draw"].nunique() == n).all()
    assert table.loc[table["quantity"] == "position_px", "measured"].max() < 1.0
    assert table.loc[table["quantity"] == "rotation_deg", "error"].max() < 1.0
    assert evidence["rotation_measured"].shape == (n, len(params.geometry_check.dot_offsets), 2)


@pytest.mark.parametrize(
    ("effect", "wrong"),
    [
        ("rotation", lambda r: {**r, "rotation_deg": -r["rotation_deg"]}),  # clockwise reading
        ("zoom", lambda r: {**r, "zoom_x": 1 / r["zoom_x"], "zoom_y": 1 / r["zoom_y"]}),
        ("shift", lambda r: {**r, "shift_y_px": -r["shift_y_px"]}),  # y up instead of down
    ],
)
def test_the_check_catches_a_misread_convention(probe, each_augmenter, params, effect, wrong):
    """The check has teeth: reading a parameter with the opposite convention fails it."""
    layer = {name: layer for name, layer, _ in layers.single_effects(each_augmenter, 3)}[effect]
    batch = np.repeat(probe["image"][None], 4, axis=0)
    outputs, records = layers.apply_layers([layer], batch, keras.random.SeedGenerator(3))
    points, _ = geometry.centroids(probe["image"])
    height, width = probe["image"].shape[:2]
    errors = []
    for output, record in zip(outputs, records, strict=True):
        found, _ = geometry.centroids(output)
        misread = wrong({**layers.IDENTITY, **record})
        expected = geometry.expected_positions(effect, misread, points, height, width)
        errors.append(np.linalg.norm(found - expected, axis=1).max())
    assert max(errors) > params.geometry_check.tolerance_px


def test_check_geometry_refuses_dots_that_leave_the_probe(augmenter, params):
    tight = params.geometry_check.model_copy(update={"height": 32, "width": 32, "dot_spread": 0.2})
    small = params.model_copy(update={"geometry_check": tight})
    probe = geometry.make_geometry_probe(small)
    with pytest.raises(ValueError, match=r"geometry_check\.dot_spread"):
        geometry.check_geometry(probe, augmenter, small, 123)


# --------------------------------------------------------------------------------- metrics


def test_metrics_record_every_sample_and_are_json(image, augmenter, probe, params):
    _, table = sampling.sample_augmentations(image, augmenter, params, 123)
    effects, _ = sampling.sample_single_effects(image, augmenter, params, 123)
    check, _ = geometry.check_geometry(probe, augmenter, params, 123)
    draws = pd.DataFrame(
        {"photo_fraction_composed": [0.9, 0.8], "photo_fraction_chained": [0.7, 0.8]}
    )
    metrics = report.summarize_metrics(image, table, effects, check, draws, params, 123)
    json.dumps(metrics)  # plain types only
    assert metrics["n_samples"] == len(metrics["samples"]) == params.sampling.n_samples
    first = metrics["samples"][0]
    assert set(first) == {"sample", *layers.IDENTITY}
    assert first["rotation_deg"] == pytest.approx(table.loc[0, "rotation_deg"])
    assert metrics["geometry_check"]["all_passed"] is True
    assert metrics["keras_layer_arguments"]["rotation"]["factor"] == pytest.approx(40 / 360)
    assert metrics["composition"] == "composed"
    assert metrics["composed_against_chained"] == {
        "n_draws": 2,
        "mean_photo_fraction_composed": pytest.approx(0.85),
        "mean_photo_fraction_chained": pytest.approx(0.75),
        "draws_where_chaining_shows_less_photo": 1,
    }
    change = metrics["single_effect_mean_abs_change"]
    assert set(change) == set(effects)
    assert all(len(values) == params.effects.n_strengths for values in change.values())
    assert min(change["rotation"]) > 0


def test_mean_abs_change_is_zero_for_the_original_and_counts_every_pixel():
    original = np.zeros((2, 2, 3), dtype=np.uint8)
    changed = original.copy()
    changed[0, 0, 0] = 120
    assert report.mean_abs_change(original, np.stack([original, changed])) == [0.0, 10.0]


def test_transform_params_are_strict():
    with pytest.raises(ValueError, match=r"vertical_flip"):
        TransformParams.model_validate(
            {**raw_params()["transforms"], "vertical_flip": True}  # not supported: say so
        )


@pytest.mark.parametrize(
    "picture",
    [
        np.array([[[10.0, 20.0, 30.0], [40.0, 50.0, 200.0]]]),  # stretched to 0..255
        np.array([[[-20.0, 0.0, 10.0], [5.0, 60.0, 100.0]]]),  # negative values too
        np.zeros((1, 2, 3)),  # all black stays black
        np.random.default_rng(3).uniform(0, 255, size=(8, 9, 3)),
    ],
)
def test_the_grid_shows_images_as_the_lessons_array_to_img(picture):
    import keras  # noqa: PLC0415

    shown = np.asarray(keras.utils.array_to_img(picture))  # what the lesson's plt.imshow gets
    np.testing.assert_array_equal(report.lesson_display(picture), shown)
