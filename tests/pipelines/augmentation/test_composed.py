"""The composed layer against ImageDataGenerator itself, and against chaining.

References, never the layer's own matrix:
- Keras' legacy copy of ImageDataGenerator's `apply_affine_transform` (scipy.ndimage, last
  Keras 2 release) on a square image, where its two axis slips vanish;
- on the non-square probe, the same composition written here from ImageDataGenerator's
  documented matrices, with scipy.ndimage resampling.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from scipy import ndimage

from dnn_pipelines.pipelines.augmentation import data, geometry, layers, sampling
from dnn_pipelines.pipelines.augmentation.params import AugmentationParams
from tests.pipelines.augmentation.test_nodes import raw_params

keras = pytest.importorskip("keras")
composed = pytest.importorskip("dnn_pipelines.pipelines.augmentation.composed")
legacy = pytest.importorskip("keras.src.legacy.preprocessing.image")

LESSON = {  # ImageDataGenerator(...) of the lesson, with a visible shear
    "rotation_range": 40,
    "width_shift_range": 0.2,
    "height_shift_range": 0.2,
    "shear_range": 15,
    "zoom_range": 0.2,
    "horizontal_flip": True,
}


def draws(layer: Any, images: np.ndarray, seed: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """The layer's output and its draws as numpy."""
    drawn = layer.get_random_transformation(images, seed=keras.random.SeedGenerator(seed))
    output = keras.ops.convert_to_numpy(layer.transform_images(images, drawn))
    return output, {key: keras.ops.convert_to_numpy(value) for key, value in drawn.items()}


def textured(height: int, width: int) -> np.ndarray:
    """Noise plus a bright bar: every misplaced pixel shows."""
    image = np.random.default_rng(1).random((height, width, 3)).astype(np.float32)
    image[height // 3 : height // 2, width // 6 : 3 * width // 4] = 1.0
    return image


@pytest.mark.parametrize("fill_mode", ["nearest", "reflect"])
def test_equals_keras_own_image_data_generator_on_a_square_image(fill_mode):
    image = textured(64, 64)
    layer = composed.ImageDataGeneratorTransform(**LESSON, fill_mode=fill_mode)
    output, drawn = draws(layer, np.repeat(image[None], 6, axis=0), seed=3)
    assert drawn["flips"].any() and not drawn["flips"].all()
    for i in range(6):
        reference = legacy.apply_affine_transform(
            image.astype(np.float64),
            theta=drawn["angle_deg"][i],
            tx=-drawn["shift_x_px"][i],  # ImageDataGenerator's tx moves the content left
            ty=-drawn["shift_y_px"][i],
            shear=drawn["shear_deg"][i],
            zx=drawn["zoom_x"][i],
            zy=drawn["zoom_y"][i],
            row_axis=0,
            col_axis=1,
            channel_axis=2,
            fill_mode=fill_mode,
            order=1,
        )
        if drawn["flips"][i]:
            reference = reference[:, ::-1]
        np.testing.assert_allclose(output[i], reference, atol=1e-4)


def image_data_generator_transform(image: np.ndarray, draw: dict[str, float]) -> np.ndarray:
    """ImageDataGenerator's matrix C R T S Z C^-1 in (x, y), pivoting on the true centre,
    resampled by scipy.ndimage in (row, column) order."""
    height, width = image.shape[:2]
    theta, shear = math.radians(draw["angle_deg"]), math.radians(draw["shear_deg"])
    rotation = np.array(
        [[math.cos(theta), -math.sin(theta), 0], [math.sin(theta), math.cos(theta), 0], [0, 0, 1]]
    )
    shift = np.array([[1, 0, -draw["shift_x_px"]], [0, 1, -draw["shift_y_px"]], [0, 0, 1]])
    shearing = np.array([[1, -math.sin(shear), 0], [0, math.cos(shear), 0], [0, 0, 1]])
    zoom = np.diag([draw["zoom_x"], draw["zoom_y"], 1.0])
    centre = np.array([[1, 0, (width - 1) / 2], [0, 1, (height - 1) / 2], [0, 0, 1]])
    matrix = centre @ rotation @ shift @ shearing @ zoom @ np.linalg.inv(centre)
    swap = np.array([[0, 1, 0], [1, 0, 0], [0, 0, 1]])  # (x, y) <-> (row, column)
    matrix = swap @ matrix @ swap
    channels = [
        ndimage.affine_transform(
            image[..., c], matrix[:2, :2], matrix[:2, 2], order=1, mode="nearest"
        )
        for c in range(image.shape[-1])
    ]
    return np.stack(channels, axis=-1)


def test_equals_an_independent_scipy_transform_on_the_non_square_probe():
    params = AugmentationParams.model_validate(raw_params())
    probe = geometry.make_geometry_probe(params)["image"]
    layer = composed.ImageDataGeneratorTransform(**{**LESSON, "horizontal_flip": False})
    output, drawn = draws(layer, np.repeat(probe[None], 5, axis=0), seed=11)
    for i in range(5):
        draw = {key: float(values[i]) for key, values in drawn.items()}
        np.testing.assert_allclose(
            output[i], image_data_generator_transform(probe, draw), atol=1e-5
        )


def test_only_effect_keeps_one_effect_and_sets_the_rest_to_the_identity():
    drawn = {
        "angle_deg": np.array([12.0]),
        "shift_x_px": np.array([3.0]),
        "shift_y_px": np.array([-4.0]),
        "shear_deg": np.array([5.0]),
        "zoom_x": np.array([1.1]),
        "zoom_y": np.array([0.9]),
        "flips": np.array([True]),
    }
    zoom = {k: np.asarray(v).tolist() for k, v in layers.only_effect(drawn, "zoom").items()}
    assert zoom == {
        "angle_deg": [0.0],
        "shift_x_px": [0.0],
        "shift_y_px": [0.0],
        "shear_deg": [0.0],
        "zoom_x": [1.1],
        "zoom_y": [0.9],
        "flips": [False],
    }


def test_alone_zeroes_every_other_range():
    layer = composed.ImageDataGeneratorTransform(**LESSON)
    shift = layers.alone(layer, "shift").get_config()
    assert (shift["width_shift_range"], shift["height_shift_range"]) == (0.2, 0.2)
    assert (shift["rotation_range"], shift["shear_range"], shift["zoom_range"]) == (0, 0, 0)
    assert shift["horizontal_flip"] is False
    with pytest.raises(ValueError, match="Unknown effect 'blur'"):
        layers.alone(layer, "blur")


def test_identity_at_inference_and_a_fresh_draw_while_training():
    layer = composed.ImageDataGeneratorTransform(**LESSON, seed=5)
    images = np.repeat(textured(16, 24)[None], 2, axis=0)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(images, training=False)), images)
    trained = keras.ops.convert_to_numpy(layer(images, training=True))
    assert not np.allclose(trained[0], images[0])
    assert not np.allclose(trained[0], trained[1])  # one draw per image


def test_a_shear_read_about_the_top_left_fails_the_geometry_check():
    """ImageDataGenerator shears about the centre: the top-left reading misplaces the dots."""
    params = AugmentationParams.model_validate(raw_params())
    probe = geometry.make_geometry_probe(params)
    layer = composed.ImageDataGeneratorTransform(shear_range=15)
    batch = np.repeat(probe["image"][None], 4, axis=0)
    outputs, records = layers.apply_layers([layer], batch, keras.random.SeedGenerator(2))
    points, _ = geometry.centroids(probe["image"])
    height, width = probe["image"].shape[:2]
    for about_centre, within in ((True, True), (False, False)):
        errors = [
            np.linalg.norm(
                geometry.centroids(output)[0]
                - geometry.expected_positions(
                    "shear", {**layers.IDENTITY, **record}, points, height, width, about_centre
                ),
                axis=1,
            ).max()
            for output, record in zip(outputs, records, strict=True)
            if abs(record["shear_x_deg"]) > 5
        ]
        assert errors
        assert bool(max(errors) < params.geometry_check.tolerance_px) is within


@pytest.mark.parametrize("axis", ["x", "y"])
def test_the_geometry_check_passes_for_both_shear_axes(axis):
    raw = raw_params()
    raw["transforms"] = {**raw["transforms"], "shear_axis": axis}
    params = AugmentationParams.model_validate(raw)
    probe = geometry.make_geometry_probe(params)
    table, _ = geometry.check_geometry(probe, layers.build_augmenter(params, 7), params, 7)
    assert table["passed"].all(), table[~table["passed"]]
    shear = table[(table["effect"] == "shear") & table["quantity"].str.startswith("shear_")]
    sliding = shear[shear["quantity"] == f"shear_{axis}_deg"]
    assert sliding["drawn"].abs().max() > 5  # the axis that slides carries the angle


def inside_fraction(draw: dict[str, float], height: int, width: int) -> float:
    """Share of output pixels whose composed source lies inside the photo, by hand."""
    theta, shear = math.radians(draw["angle_deg"]), math.radians(draw["shear_deg"])
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    x, y = xs - (width - 1) / 2, ys - (height - 1) / 2
    x, y = draw["zoom_x"] * x, draw["zoom_y"] * y  # zoom, then shear, shift, rotate
    x, y = x - math.sin(shear) * y, math.cos(shear) * y
    x, y = x - draw["shift_x_px"], y - draw["shift_y_px"]
    x, y = math.cos(theta) * x - math.sin(theta) * y, math.sin(theta) * x + math.cos(theta) * y
    x, y = x + (width - 1) / 2, y + (height - 1) / 2
    return float(((x > -0.5) & (x < width - 0.5) & (y > -0.5) & (y < height - 0.5)).mean())


def test_chaining_loses_photo_that_the_lessons_single_matrix_keeps():
    raw = raw_params()
    raw["comparison"] = {"n_samples": 6}
    params = AugmentationParams.model_validate(raw)
    image = data.load_image(params)
    pictures, table = sampling.compare_compositions(image, params, 123)
    height, width = image["image"].shape[:2]
    for i, row in table.iterrows():
        draw = {
            "angle_deg": row["rotation_deg"],
            "shift_x_px": row["shift_x_px"],
            "shift_y_px": row["shift_y_px"],
            "shear_deg": -row["shear_x_deg"],
            "zoom_x": row["zoom_x"],
            "zoom_y": row["zoom_y"],
        }
        assert row["photo_fraction_composed"] == pytest.approx(
            inside_fraction(draw, height, width), abs=0.01
        )
        # Chaining keeps the same final source pixel and adds a crop at every step.
        only_chained = pictures["chained_photo"][i] & ~pictures["composed_photo"][i]
        assert only_chained.sum() <= 2 * (height + width)  # at most a border line
    assert (table["photo_fraction_chained"] < table["photo_fraction_composed"] - 0.01).sum() >= 4


def test_without_geometry_both_compositions_are_the_photo():
    raw = raw_params()
    raw["transforms"] = {
        **raw["transforms"],
        **dict.fromkeys(["rotation_range", "width_shift_range", "height_shift_range"], 0),
        **dict.fromkeys(["shear_range", "zoom_range"], 0),
    }
    params = AugmentationParams.model_validate(raw)
    image = data.load_image(params)
    pictures, table = sampling.compare_compositions(image, params, 123)
    np.testing.assert_array_equal(pictures["composed"], pictures["chained"])
    assert table[["photo_fraction_composed", "photo_fraction_chained"]].eq(1.0).all().all()
    for picture, flipped in zip(pictures["composed"], table["flipped"], strict=True):
        np.testing.assert_array_equal(
            picture, image["image"][:, ::-1] if flipped else image["image"]
        )


def test_the_last_keras_2_release_pivots_off_centre_on_a_non_square_image():
    """The slip the layer does not copy: a 180 degree turn of a 40 x 80 image by Keras' legacy
    code sends a dot off the image; the layer sends it to its mirror about the centre."""
    image = np.zeros((40, 80, 1))
    image[10, 20, 0] = 1.0  # row 10, column 20
    legacy_turn = legacy.apply_affine_transform(
        image, theta=180, row_axis=0, col_axis=1, channel_axis=2, order=0
    )
    assert legacy_turn.max() == 0.0
    layer = composed.ImageDataGeneratorTransform(interpolation="nearest")
    drawn = {key: np.zeros(1, "float32") for key in ("shift_x_px", "shift_y_px", "shear_deg")}
    drawn |= {"angle_deg": np.array([180.0], "float32"), "flips": np.array([False])}
    drawn |= {"zoom_x": np.ones(1, "float32"), "zoom_y": np.ones(1, "float32")}
    turned = keras.ops.convert_to_numpy(layer.transform_images(image[None], drawn))[0, ..., 0]
    assert np.unravel_index(turned.argmax(), turned.shape) == (29, 59)  # (39 - 10, 79 - 20)


def test_an_integer_seed_gives_independent_quantities():
    layer = composed.ImageDataGeneratorTransform(**LESSON)
    drawn = layer.get_random_transformation(np.zeros((64, 8, 8, 3), "float32"), seed=5)
    zoom_x, zoom_y = (keras.ops.convert_to_numpy(drawn[key]) for key in ("zoom_x", "zoom_y"))
    assert not np.allclose(zoom_x, zoom_y)
    assert abs(np.corrcoef(zoom_x, zoom_y)[0, 1]) < 0.5


def test_works_inside_a_tf_function_with_unknown_sizes():
    tf = pytest.importorskip("tensorflow")
    layer = composed.ImageDataGeneratorTransform(**LESSON, seed=3)
    spec = tf.TensorSpec((None, None, None, 3), tf.float32)
    traced = tf.function(lambda images: layer(images, training=True), input_signature=[spec])
    images = textured(24, 40)[None].repeat(2, axis=0)
    out = traced(images).numpy()
    assert out.shape == images.shape
    assert not np.allclose(out, images)


def test_inference_is_the_identity_in_the_compute_dtype_and_a_single_image_works():
    layer = composed.ImageDataGeneratorTransform(**LESSON, seed=1)
    photo = (textured(12, 20) * 255).astype(np.uint8)
    assert layer.get_random_transformation(photo[None], training=False) is None
    kept = layer(photo[None], training=False)
    assert keras.backend.standardize_dtype(kept.dtype) == "float32"
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(kept)[0], photo.astype(np.float32))
    single = keras.ops.convert_to_numpy(layer(photo.astype("float32"), training=True))
    assert single.shape == photo.shape


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"zoom_range": 1.0}, r"zoom_range must be in \[0, 1\)"),
        ({"width_shift_range": 1.5}, r"width_shift_range must be in \[0, 1\)"),
        ({"rotation_range": 200}, r"rotation_range must be in \[0, 180\]"),
        ({"shear_range": -1}, r"shear_range must be in \[0, 90\)"),
        ({"fill_mode": "mirror"}, "fill_mode must be one of"),
        ({"interpolation": "bicubic"}, "interpolation must be one of"),
        ({"shear_axis": "z"}, "shear_axis must be 'x' or 'y'"),
    ],
)
def test_bad_arguments_are_refused_naming_them(arguments, message):
    with pytest.raises(ValueError, match=message):
        composed.ImageDataGeneratorTransform(**arguments)


def test_constant_fill_uses_fill_value():
    layer = composed.ImageDataGeneratorTransform(
        zoom_range=0.5, fill_mode="constant", fill_value=0.25, interpolation="nearest"
    )
    drawn = {key: np.zeros(1, "float32") for key in ("angle_deg", "shift_x_px", "shift_y_px")}
    drawn |= {"shear_deg": np.zeros(1, "float32"), "flips": np.array([False])}
    drawn |= {"zoom_x": np.array([1.4], "float32"), "zoom_y": np.array([1.4], "float32")}
    out = keras.ops.convert_to_numpy(layer.transform_images(np.ones((1, 20, 20, 1)), drawn))
    assert out[0, 0, 0, 0] == 0.25  # zoomed out: the corner comes from outside the image
    assert out[0, 10, 10, 0] == 1.0
