"""Unit tests of the transfer nodes: the lesson's data, the weights resolution, the models.

Nothing here touches the network: downloads are disabled or the probe is replaced, and the
"ImageNet" files are written by the tests from freshly built models. Keras is imported inside
the tests that need it (PLC0415), so collecting the whole suite does not import TensorFlow.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from dnn_pipelines.errors import UserInputError
from dnn_pipelines.pipelines.transfer import (
    data as transfer_data,
)
from dnn_pipelines.pipelines.transfer import (
    errors as transfer_errors,
)
from dnn_pipelines.pipelines.transfer import (
    model as transfer_model,
)
from dnn_pipelines.pipelines.transfer import (
    report as transfer_report,
)
from dnn_pipelines.pipelines.transfer import (
    training as transfer_training,
)
from dnn_pipelines.pipelines.transfer import (
    weights as transfer_weights,
)
from dnn_pipelines.pipelines.transfer.params import (
    BaselineParams,
    BaseModelParams,
    DataParams,
    HeadParams,
    ImageParams,
    TrainingParams,
)
from tests.conftest import served

SEED = 123
LESSON_IMAGE = ImageParams(repeat=10, channels=3, scale=0.125, offset=-1.0)
TINY_IMAGE = ImageParams(repeat=2, channels=3, scale=0.125, offset=-1.0)
LESSON_DATA = DataParams(n_class=10, target_classes=None, max_samples=None, test_size=0.6)
HEAD = HeadParams(dropout=0.2, output="logits")


def base_params(**changes: object) -> BaseModelParams:
    values: dict[str, object] = {
        "architecture": "small_convnet",
        "weights": "random",
        "cache_dir": None,
        "allow_download": False,
        "download_timeout_s": 1.0,
        "small_convnet": {
            "filters": [4, 8],
            "kernel_size": 3,
            "strides": 2,
            "batch_norm_momentum": 0.9,
        },
        "pretraining": {
            "classes": [0, 1, 2, 3, 4],
            "test_size": 0.2,
            "epochs": 1,
            "batch_size": 32,
            "learning_rate": 0.001,
        },
    }
    values |= changes
    return BaseModelParams.model_validate(values)


def training_params(
    fast: bool = True, epochs: int = 2, freeze_batch_norm: bool = True
) -> TrainingParams:
    fine_tune = {"learning_rate": 0.001, "epochs": 1, "batch_size": 8}
    return TrainingParams.model_validate(
        {
            "frozen": {"learning_rate": 0.01, "epochs": epochs, "batch_size": 8, "fast": fast},
            "fine_tune": fine_tune | {"freeze_batch_norm": freeze_batch_norm},
            "prediction_batch_size": 16,
        }
    )


def lesson_enlarge(x_orig: np.ndarray) -> np.ndarray:
    """The lesson's cell, verbatim (hence the loop variable reassigned)."""
    x = []
    for img in x_orig:
        img = (  # noqa: PLW2901
            img.reshape(8, 8)
            .repeat(10, axis=0)
            .repeat(10, axis=1)[:, :, None]
            .repeat(3, axis=2)
            .reshape(80, 80, 3)
        )
        img = img / 8 - 1  # noqa: PLW2901
        x.append(img)
    return np.array(x)


@pytest.fixture(scope="module")
def digits() -> dict[str, np.ndarray]:
    return transfer_data.load_digit_images(LESSON_DATA)


@pytest.fixture(scope="module")
def tiny_split(digits: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    data = DataParams(n_class=10, target_classes=None, max_samples=60, test_size=0.5)
    split, _ = transfer_data.split_tasks(digits, data, base_params(), SEED)
    return split


# ---------------------------------------------------------------- data


def test_split_is_the_lessons_split(digits: dict[str, np.ndarray]) -> None:
    x_orig, y = load_digits(n_class=10, return_X_y=True)
    x_tr, x_va, y_tr, y_va = train_test_split(
        lesson_enlarge(x_orig), y, test_size=0.6, random_state=SEED
    )
    split, source = transfer_data.split_tasks(digits, LESSON_DATA, base_params(), SEED)
    assert (len(y_tr), len(y_va)) == (718, 1079)
    np.testing.assert_array_equal(split["y_train"], y_tr)
    np.testing.assert_array_equal(split["y_val"], y_va)
    np.testing.assert_array_equal(
        transfer_data.enlarge_digits(split["x_train"], LESSON_IMAGE), x_tr
    )
    np.testing.assert_array_equal(transfer_data.enlarge_digits(split["x_val"], LESSON_IMAGE), x_va)
    np.testing.assert_array_equal(split["classes"], np.arange(10))
    assert len(source["y_train"]) == 0  # no source task unless weights = source_task
    assert source["x_train"].shape == (0, 8, 8)


def enlargement(image: ImageParams) -> Any:
    """The model's enlargement layers alone, as a model of 8x8 digit images."""
    import keras  # noqa: PLC0415

    inputs = keras.Input(shape=(8, 8))
    return keras.Model(inputs, transfer_model._preprocess(inputs, image))


@pytest.mark.parametrize("channels", [1, 2])
def test_enlargement_copies_the_grey_channel_as_asked(
    digits: dict[str, np.ndarray], channels: int
) -> None:
    image = ImageParams(repeat=2, channels=channels, scale=0.125, offset=-1.0)
    enlarge = enlargement(image)
    expected = transfer_data.enlarge_digits(digits["images"][:4], image).astype(np.float32)
    np.testing.assert_array_equal(enlarge.predict(digits["images"][:4], verbose=0), expected)
    # the names the saved model summary shows for the enlargement
    assert [layer.name for layer in enlarge.layers[1:]] == [
        "as_image",
        "rescale",
        "enlarge",
        "to_channels",
    ][: 3 + (channels > 1)]


def test_a_model_without_exactly_one_base_is_refused() -> None:
    import keras  # noqa: PLC0415

    inputs = keras.Input(shape=(3,))
    flat = keras.Model(inputs, keras.layers.Dense(2)(inputs), name="flat")
    with pytest.raises(ValueError) as raised:
        transfer_model.base_of(flat)
    assert str(raised.value) == "Expected one base network in flat, found 0"


def test_an_empty_source_task_has_every_key_and_dtype_of_a_full_one(
    digits: dict[str, np.ndarray],
) -> None:
    """The pipeline saves both tasks through one dataset type: same keys, same dtypes."""
    target, source = transfer_data.split_tasks(digits, LESSON_DATA, base_params(), SEED)
    assert list(source) == list(target)
    assert {key: (source[key].dtype, source[key].shape[1:]) for key in source} == {
        key: (target[key].dtype, target[key].shape[1:]) for key in target
    }
    assert [len(source[key]) for key in source] == [0] * 7
    assert (target["y_train"].dtype, target["classes"].dtype) == (np.int64, np.int64)


def test_enlargement_layers_give_the_lessons_pixels(digits: dict[str, np.ndarray]) -> None:
    enlarge = enlargement(LESSON_IMAGE)
    images = digits["images"][:16]
    expected = lesson_enlarge(images.reshape(16, 64)).astype(np.float32)
    np.testing.assert_array_equal(enlarge.predict(images, verbose=0), expected)


def test_target_classes_are_relabelled_and_the_source_task_is_disjoint(
    digits: dict[str, np.ndarray],
) -> None:
    data = DataParams(n_class=10, target_classes=[5, 6, 7, 8, 9], max_samples=None, test_size=0.6)
    split, source = transfer_data.split_tasks(
        digits, data, base_params(weights="source_task"), SEED
    )
    labels = digits["labels"]
    np.testing.assert_array_equal(split["classes"], [5, 6, 7, 8, 9])
    np.testing.assert_array_equal(split["classes"][split["y_train"]], labels[split["train_index"]])
    np.testing.assert_array_equal(split["classes"][split["y_val"]], labels[split["val_index"]])
    np.testing.assert_array_equal(source["classes"][source["y_val"]], labels[source["val_index"]])
    assert set(labels[source["train_index"]]) == {0, 1, 2, 3, 4}
    assert len(split["y_val"]) == round(0.6 * np.isin(labels, [5, 6, 7, 8, 9]).sum())


def test_the_source_task_is_split_with_its_own_test_size_and_the_seed(
    digits: dict[str, np.ndarray], caplog: pytest.LogCaptureFixture
) -> None:
    data = DataParams(n_class=10, target_classes=[5, 6, 7, 8, 9], max_samples=300, test_size=0.6)
    caplog.set_level(logging.INFO, logger=transfer_data.__name__)
    target, source = transfer_data.split_tasks(
        digits, data, base_params(weights="source_task"), SEED
    )
    index = np.flatnonzero(np.isin(digits["labels"], [0, 1, 2, 3, 4]))
    train, val = train_test_split(index, test_size=0.2, random_state=SEED)
    np.testing.assert_array_equal(source["train_index"], train)
    np.testing.assert_array_equal(source["val_index"], val)
    assert len(target["y_train"]) + len(target["y_val"]) == 300  # max_samples, target only
    assert caplog.messages == [
        f"Target task: digits [5, 6, 7, 8, 9], 120 train / 180 validation images; source "
        f"task: digits [0, 1, 2, 3, 4], {len(index)}"
    ]


def test_source_digits_that_are_not_loaded_are_refused() -> None:
    data = DataParams(n_class=5, target_classes=[0, 1], max_samples=None, test_size=0.6)
    digits = transfer_data.load_digit_images(data)  # digits 0-4 only
    pretraining = base_params().pretraining.model_dump() | {"classes": [3, 7, 9]}
    params = base_params(weights="source_task", pretraining=pretraining)
    with pytest.raises(UserInputError) as raised:
        transfer_data.split_tasks(digits, data, params, SEED)
    assert str(raised.value) == (
        "base_model.pretraining.classes = [3, 7, 9]: digits [7, 9] are not loaded "
        "(data.n_class = 5)."
    )


def test_tasks_sharing_a_digit_are_refused(digits: dict[str, np.ndarray]) -> None:
    data = DataParams(n_class=10, target_classes=[4, 5, 6], max_samples=None, test_size=0.6)
    with pytest.raises(UserInputError, match=r"Digits \[4\] are in both"):
        transfer_data.split_tasks(digits, data, base_params(weights="source_task"), SEED)


@pytest.mark.parametrize(
    ("block", "values", "message"),
    [
        ("base", {"architecture": "small_convnet", "weights": "imagenet"}, "needs architecture"),
        ("base", {"weights": "source_task", "pretraining": {"classes": [1]}}, "at least 2"),
        ("base", {"weights": ""}, "at least 1 character"),
        ("data", {"target_classes": [5, 5, 6]}, "twice"),
        ("data", {"test_size": 1.0}, "less than 1"),
        ("head", {"dropout": 1.0}, "less than 1"),
        ("head", {"output": "sigmoid"}, "logits"),
        ("head", {"droput": 0.2}, "Extra inputs"),
    ],
)
def test_bad_parameters_are_refused(block: str, values: dict[str, object], message: str) -> None:
    values = dict(values)  # the parametrized dict is shared: a repeated run must see it whole
    with pytest.raises(ValueError, match=message):
        if block == "base":
            pretraining = base_params().pretraining.model_dump()
            pretraining |= values.pop("pretraining", {})  # type: ignore[arg-type]
            base_params(**values, pretraining=pretraining)
        elif block == "data":
            DataParams.model_validate(LESSON_DATA.model_dump() | values)
        else:
            HeadParams.model_validate(HEAD.model_dump() | values)


# ---------------------------------------------------------------- weights


def test_keras_constants_are_keras_own() -> None:
    from keras.src.applications import xception  # noqa: PLC0415

    published = transfer_weights.IMAGENET_WEIGHTS["xception"]
    assert published.origin == xception.WEIGHTS_PATH_NO_TOP
    assert published.origin.endswith("/" + published.file_name)
    assert f'file_hash="{published.md5}"' in inspect.getsource(xception)


def test_random_and_source_task_need_no_file() -> None:
    for weights in ("random", "source_task"):
        assert transfer_weights.resolve_base_weights(base_params(weights=weights)) == {
            "source": weights,
            "path": None,
            "sha256": None,
        }


def test_keras_cache_falls_back_to_tmp_when_home_is_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert transfer_weights.keras_cache_dir(None) == tmp_path / ".keras"
    asked: list[tuple[Path, int]] = []
    monkeypatch.setattr(os, "access", lambda path, mode: asked.append((path, mode)) and False)
    assert transfer_weights.keras_cache_dir(None) == Path("/tmp/.keras")
    assert asked == [(tmp_path, os.W_OK)]


def remedies(path: Path) -> str:
    """The end of every missing-weights message, written out."""
    return (
        "Remedies:\n"
        f"  1. copy the weights file to {path} (on a machine with a network, Keras puts it in "
        "~/.keras/models/ on first use);\n"
        "  2. point the parameter at a local file: transfer.base_model.weights: "
        "/path/to/file.h5 in conf/local/parameters_transfer.yml (or --params "
        "transfer.base_model.weights=...);\n"
        "  3. run the offline variant, which pretrains its own base on digits 0-4 and needs "
        "no download: kedro run --env offline --pipelines transfer"
    )


def test_missing_weights_file_names_it_and_the_remedies(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "weights.h5"
    with pytest.raises(transfer_errors.MissingWeightsError) as raised:
        transfer_weights.resolve_base_weights(base_params(weights=str(missing)))
    assert str(raised.value) == (
        f"Weights file not found: {missing} (transfer.base_model.weights).\n" + remedies(missing)
    )


def never_called(*args: object, **kwargs: object) -> None:
    raise AssertionError("the network must not be touched")


def test_missing_imagenet_weights_fail_without_the_network(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import keras  # noqa: PLC0415

    monkeypatch.setattr(transfer_weights, "origin_reachable", never_called)
    monkeypatch.setattr(keras.utils, "get_file", never_called)
    params = base_params(architecture="xception", weights="imagenet", cache_dir=str(tmp_path))
    with pytest.raises(transfer_errors.MissingWeightsError) as raised:
        transfer_weights.resolve_base_weights(params)
    expected = tmp_path / "models" / "xception_weights_tf_dim_ordering_tf_kernels_notop.h5"
    assert str(raised.value) == (
        "ImageNet weights for xception are not available: downloads are disabled "
        "(transfer.base_model.allow_download: false).\n"
        f"Looked for: {expected}\n"
        f"Cache folder: {tmp_path / 'models'} (Keras' cache: base_model.cache_dir, else "
        "$KERAS_HOME, else ~/.keras; weights go under models/)\n" + remedies(expected)
    )
    assert isinstance(raised.value, UserInputError)  # the CLI prints it without a traceback


def test_unreachable_origin_fails_before_any_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import keras  # noqa: PLC0415

    asked: list[tuple[str, float]] = []
    monkeypatch.setattr(
        transfer_weights, "origin_reachable", lambda url, t: asked.append((url, t)) or False
    )
    monkeypatch.setattr(keras.utils, "get_file", never_called)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    params = base_params(architecture="xception", weights="imagenet", allow_download=True)
    with pytest.raises(transfer_errors.MissingWeightsError, match="cannot be reached") as raised:
        transfer_weights.resolve_base_weights(params)
    assert asked == [(transfer_weights.IMAGENET_WEIGHTS["xception"].origin, 1.0)]
    assert str(tmp_path / "keras_home" / "models") in str(raised.value)


def test_origin_probe_gives_up_after_its_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """A host that never answers: the probe returns while the connection still hangs."""
    released, finished = threading.Event(), threading.Event()

    def hang(*args: object, **kwargs: object) -> None:
        released.wait(60)  # until the test lets go
        finished.set()
        raise OSError("no answer")

    monkeypatch.setattr(socket, "create_connection", hang)
    try:
        assert not transfer_weights.origin_reachable("https://example.invalid/weights.h5", 0.2)
        assert not finished.is_set()  # it returned while the connection still hung
        # and the abandoned probe cannot keep the process alive at exit
        [probe] = [t for t in threading.enumerate() if t.name == "weights-origin-probe"]
        assert probe.daemon
    finally:
        released.set()


@pytest.mark.parametrize(
    ("url", "address"),
    [
        ("https://weights.invalid/w.h5", ("weights.invalid", 443)),
        ("http://weights.invalid/w.h5", ("weights.invalid", 80)),
        ("https://weights.invalid:8443/w.h5", ("weights.invalid", 8443)),
    ],
)
def test_origin_probe_connects_to_the_urls_port_else_its_schemes(
    url: str, address: tuple[str, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[tuple[tuple[str, int], float]] = []

    def connect(where: tuple[str, int], timeout: float) -> nullcontext:
        asked.append((where, timeout))
        return nullcontext()

    monkeypatch.setattr(socket, "create_connection", connect)
    assert transfer_weights.origin_reachable(url, 2.5)
    assert asked == [(address, 2.5)]


def test_origin_probe_says_no_for_a_closed_port() -> None:
    with socket.socket() as server:  # bound, never listening: connections are refused
        server.bind(("127.0.0.1", 0))
        port = server.getsockname()[1]
        assert not transfer_weights.origin_reachable(f"http://127.0.0.1:{port}/weights.h5", 1.0)


@contextmanager
def serve_weights(
    folder: Path, payload: bytes, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[str, list[str]]]:
    """The weights file on a local HTTP server, published as Keras' Xception weights for
    the rest of the test."""
    name = transfer_weights.IMAGENET_WEIGHTS["xception"].file_name
    folder.mkdir()
    (folder / name).write_bytes(payload)
    with served(folder) as (port, log):
        published = transfer_weights.PublishedWeights(
            name, f"http://127.0.0.1:{port}/{name}", hashlib.md5(payload).hexdigest()
        )
        monkeypatch.setitem(transfer_weights.IMAGENET_WEIGHTS, "xception", published)
        yield name, log


WEIGHTS_PAYLOAD = bytes(range(256)) * 4100
"""Just over 1 MiB: hashed in two chunks."""


def test_missing_imagenet_weights_are_downloaded_from_a_reachable_origin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The download path against an HTTP server on 127.0.0.1 standing in for Keras' origin."""
    import keras  # noqa: PLC0415

    (tmp_path / "cache" / "models").mkdir(parents=True)  # the folder exists, the file not
    params = base_params(
        architecture="xception",
        weights="imagenet",
        cache_dir=str(tmp_path / "cache"),
        allow_download=True,
    )
    caplog.set_level(logging.INFO, logger=transfer_weights.__name__)
    with serve_weights(tmp_path / "origin", WEIGHTS_PAYLOAD, monkeypatch) as (name, log):
        found = transfer_weights.resolve_base_weights(params)
        origin = transfer_weights.IMAGENET_WEIGHTS["xception"].origin
    # the file matches the published md5: no warning
    assert caplog.messages == [f"Downloading {origin} into {tmp_path / 'cache' / 'models'}"]
    cached = tmp_path / "cache" / "models" / name
    assert found == {
        "source": "imagenet",
        "path": str(cached),
        "sha256": hashlib.sha256(WEIGHTS_PAYLOAD).hexdigest(),
        "matches_published_md5": True,
    }
    assert cached.read_bytes() == WEIGHTS_PAYLOAD
    assert log[0].count(f'"GET /{name} HTTP/1.1" 200') == 1
    # Once cached, the file is used as it is: no probe, no download.
    monkeypatch.setattr(transfer_weights, "origin_reachable", never_called)
    monkeypatch.setattr(keras.utils, "get_file", never_called)
    assert transfer_weights.resolve_base_weights(params) == found


def test_the_first_download_into_a_cache_folder_not_yet_created(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A first run on a fresh machine: ~/.keras (or base_model.cache_dir) does not exist."""
    params = base_params(
        architecture="xception",
        weights="imagenet",
        cache_dir=str(tmp_path / "cache"),
        allow_download=True,
    )
    fallback = Path("/tmp/.keras/models")  # where Keras puts it
    file = fallback / transfer_weights.IMAGENET_WEIGHTS["xception"].file_name
    created = [path for path in (file, fallback, fallback.parent) if not path.exists()]
    try:
        with serve_weights(tmp_path / "origin", WEIGHTS_PAYLOAD, monkeypatch):
            found = transfer_weights.resolve_base_weights(params)
    finally:
        for path in created:  # what this test made there, file first
            if path.is_dir():
                path.rmdir()
            else:
                path.unlink(missing_ok=True)
    expected = tmp_path / "cache" / "models" / file.name  # where the next run looks
    assert found["path"] == str(expected)
    assert expected.read_bytes() == WEIGHTS_PAYLOAD
    assert not any(path.exists() for path in created)  # nothing left under /tmp/.keras


def test_cached_imagenet_file_is_loaded_into_xception(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The real loading code on a Keras-format .h5 written from a freshly built Xception."""
    import keras  # noqa: PLC0415

    keras.utils.set_random_seed(7)
    donor = keras.applications.Xception(weights=None, include_top=False, input_shape=(72, 72, 3))
    cached = tmp_path / "models" / transfer_weights.IMAGENET_WEIGHTS["xception"].file_name
    cached.parent.mkdir()
    donor.save(cached)  # legacy HDF5, the format of Keras' published weights
    params = base_params(architecture="xception", weights="imagenet", cache_dir=str(tmp_path))

    caplog.set_level(logging.WARNING, logger=transfer_weights.__name__)
    weights_file = transfer_weights.resolve_base_weights(params)
    published = transfer_weights.IMAGENET_WEIGHTS["xception"].md5
    assert caplog.messages == [
        f"{cached} differs from the file Keras publishes (md5 {published}); using it as it is"
    ]
    assert weights_file["path"] == str(cached)
    assert weights_file["sha256"] == hashlib.sha256(cached.read_bytes()).hexdigest()
    assert weights_file["matches_published_md5"] is False  # ours, not Keras' download

    source = {"x_train": np.zeros((0, 8, 8))}
    image = ImageParams(repeat=9, channels=3, scale=0.125, offset=-1.0)  # 72x72: Xception's min
    base, provenance = transfer_model.prepare_base_model(weights_file, source, image, params, SEED)
    assert provenance["source"] == "imagenet"
    assert base.input_shape == (None, 72, 72, 3)
    for loaded, original in zip(base.weights, donor.weights, strict=True):
        np.testing.assert_array_equal(loaded.numpy(), original.numpy())


def test_weights_file_is_loaded_into_the_small_base(tmp_path: Path) -> None:
    import keras  # noqa: PLC0415

    donor = transfer_model.build_random_base(
        {"x_train": np.zeros((1, 8, 8))}, TINY_IMAGE, base_params(), 1
    )
    path = tmp_path / "base.weights.h5"
    donor.save_weights(path)
    params = base_params(weights=str(path))
    weights_file = transfer_weights.resolve_base_weights(params)
    assert weights_file == {
        "source": "file",
        "path": str(path),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }
    keras.utils.set_random_seed(2)
    base, _ = transfer_model.prepare_base_model(
        weights_file, {"x_train": np.zeros((0, 8, 8))}, TINY_IMAGE, params, 2
    )
    for loaded, original in zip(base.weights, donor.weights, strict=True):
        np.testing.assert_array_equal(loaded.numpy(), original.numpy())


@pytest.mark.parametrize("filters", [[3], [4]])
def test_a_file_that_does_not_fit_the_base_is_reported(tmp_path: Path, filters: list[int]) -> None:
    """[3]: shapes differ (Keras raises); [4]: a prefix of [4, 8] (Keras only warns)."""
    spec = {**base_params().small_convnet.model_dump(), "filters": filters}
    other = base_params(small_convnet=spec)
    donor = transfer_model.build_random_base({"x_train": np.zeros((1, 8, 8))}, TINY_IMAGE, other, 1)
    path = tmp_path / "other.weights.h5"
    donor.save_weights(path)
    params = base_params(weights=str(path))
    with pytest.raises(UserInputError, match=r"Cannot load .*other\.weights\.h5"):
        transfer_model.prepare_base_model(
            transfer_weights.resolve_base_weights(params),
            {"x_train": np.zeros((0, 8, 8))},
            TINY_IMAGE,
            params,
            SEED,
        )


# ---------------------------------------------------------------- models and training


def build(split: dict[str, np.ndarray], head: HeadParams = HEAD, seed: int = SEED) -> object:
    base = transfer_model.build_random_base(split, TINY_IMAGE, base_params(), seed)
    model, _, _ = transfer_model.build_transfer_model(
        base, split, TINY_IMAGE, head, training_params(), seed
    )
    return model


def test_the_frozen_model_trains_only_its_head(tiny_split: dict[str, np.ndarray]) -> None:
    base = transfer_model.build_random_base(tiny_split, TINY_IMAGE, base_params(), SEED)
    model, counts, summary = transfer_model.build_transfer_model(
        base, tiny_split, TINY_IMAGE, HEAD, training_params(), SEED
    )
    features = base.output_shape[-1]
    assert counts["trainable_params_frozen"] == (features + 1) * 10  # Dense(10) on the pooling
    assert counts["total_params"] == model.count_params()
    batch_norm = 4 * features  # gamma, beta (kept frozen), moving mean and variance
    assert counts["trainable_params_fine_tuned"] == counts["total_params"] - batch_norm
    assert not transfer_model.base_of(model).trainable
    assert model.output_shape == (None, 10)
    # The lesson's first model.summary(), with the base frozen:
    assert f"Trainable params: {(features + 1) * 10} " in summary
    assert f"Total params: {model.count_params()} " in summary
    assert "small_convnet (Functional)" in summary


@pytest.mark.parametrize(("freeze_batch_norm", "kept_frozen"), [(True, 4), (False, 2)])
def test_the_counted_fine_tune_parameters_are_those_unfreezing_makes_trainable(
    tiny_split: dict[str, np.ndarray], freeze_batch_norm: bool, kept_frozen: int
) -> None:
    base = transfer_model.build_random_base(tiny_split, TINY_IMAGE, base_params(), SEED)
    training = training_params(freeze_batch_norm=freeze_batch_norm)
    model, counts, _ = transfer_model.build_transfer_model(
        base, tiny_split, TINY_IMAGE, HEAD, training, SEED
    )
    features = base.output_shape[-1]
    # moving mean and variance never train; gamma and beta stay frozen when asked
    expected = model.count_params() - kept_frozen * features
    assert counts["trainable_params_fine_tuned"] == expected
    _, _, _, summary = transfer_training.fine_tune_phase(model, tiny_split, training, HEAD, SEED)
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == expected
    assert f"Trainable params: {expected} " in summary  # the lesson's second model.summary()


@pytest.mark.parametrize(
    ("output", "from_logits", "sums_to_one"),
    [("logits", True, False), ("softmax", False, True), ("lesson_double_softmax", True, True)],
)
def test_head_output_and_loss_agree(
    tiny_split: dict[str, np.ndarray], output: str, from_logits: bool, sums_to_one: bool
) -> None:
    head = HeadParams(dropout=0.2, output=output)  # type: ignore[arg-type]
    model = build(tiny_split, head)
    outputs = model.predict(tiny_split["x_val"], verbose=0)
    assert np.allclose(outputs.sum(axis=1), 1.0, atol=1e-5) == sums_to_one
    transfer_training._compile(model, training_params().frozen, head)
    assert model.loss.get_config()["from_logits"] is from_logits


def test_fast_frozen_phase_is_the_plain_frozen_fit(tiny_split: dict[str, np.ndarray]) -> None:
    """Head fitted on precomputed features = the lesson's model.fit with the base frozen."""
    results = {}
    for fast in (False, True):
        model = build(tiny_split)
        trained, history, predictions = transfer_training.train_frozen_phase(
            model, tiny_split, training_params(fast=fast, epochs=3), HEAD, SEED
        )
        results[fast] = (
            trained.get_layer(transfer_model.OUTPUT_LAYER).get_weights(),
            history,
            predictions,
        )
    (plain_weights, plain_history, plain_out), (fast_weights, fast_history, fast_out) = (
        results[False],
        results[True],
    )
    untrained = build(tiny_split).get_layer(transfer_model.OUTPUT_LAYER).get_weights()
    assert not np.allclose(plain_weights[0], untrained[0])  # the head did train
    for plain, fast in zip(plain_weights, fast_weights, strict=True):
        np.testing.assert_allclose(fast, plain, rtol=1e-5, atol=1e-6)
    pd.testing.assert_frame_equal(fast_history, plain_history, rtol=1e-5)
    np.testing.assert_allclose(fast_out["outputs"], plain_out["outputs"], rtol=1e-4, atol=1e-5)
    assert list(plain_history.columns) == list(transfer_training.HISTORY_COLUMNS)


def test_validation_matches_keras_evaluate(tiny_split: dict[str, np.ndarray]) -> None:
    model, history, predictions = transfer_training.train_frozen_phase(
        build(tiny_split), tiny_split, training_params(fast=False), HEAD, SEED
    )
    loss, accuracy = model.evaluate(tiny_split["x_val"], tiny_split["y_val"], verbose=0)
    assert history["val_loss"].iloc[-1] == pytest.approx(loss, rel=1e-5)
    assert history["val_accuracy"].iloc[-1] == pytest.approx(accuracy)
    np.testing.assert_array_equal(predictions["y_true"], tiny_split["y_val"])


def test_fine_tuning_trains_the_base_but_keeps_batch_norm_in_inference_mode(
    tiny_split: dict[str, np.ndarray], tmp_path: Path
) -> None:
    """Also: the frozen model round-trips through its .keras file in safe mode."""
    from dnn_pipelines.datasets.keras_model import KerasModelDataset  # noqa: PLC0415

    frozen, _, _ = transfer_training.train_frozen_phase(
        build(tiny_split), tiny_split, training_params(), HEAD, SEED
    )
    dataset = KerasModelDataset(filepath=str(tmp_path / "frozen.keras"))
    dataset.save(frozen)
    reloaded = dataset.load()  # safe_mode: no Lambda layer in the model
    np.testing.assert_allclose(
        reloaded.predict(tiny_split["x_val"], verbose=0),
        frozen.predict(tiny_split["x_val"], verbose=0),
        rtol=1e-6,
    )
    before = {w.path: w.numpy().copy() for w in transfer_model.base_of(reloaded).weights}
    tuned, history, _, _ = transfer_training.fine_tune_phase(
        reloaded, tiny_split, training_params(), HEAD, SEED
    )
    after = {w.path: w.numpy() for w in transfer_model.base_of(tuned).weights}
    batch_norm = [path for path in before if "feature_norm" in path]
    kernels = [path for path in before if "kernel" in path]
    assert len(batch_norm) == 4 and kernels
    for path in batch_norm:  # statistics, gamma and beta untouched by fine tuning
        np.testing.assert_array_equal(after[path], before[path])
    assert all(not np.array_equal(after[path], before[path]) for path in kernels)
    assert len(history) == 1


def nested_base(seed: int) -> object:
    """Xception's layout in miniature: Conv -> BatchNorm -> ReLU, then a block that is a
    Functional model nested as a layer, with a BatchNormalization of its own."""
    import keras  # noqa: PLC0415

    keras.utils.set_random_seed(seed)
    block_inputs = keras.Input(shape=(8, 8, 4))
    x = keras.layers.Conv2D(4, 3, padding="same", name="inner_conv")(block_inputs)
    x = keras.layers.BatchNormalization(name="inner_norm")(x)
    block = keras.Model(block_inputs, keras.layers.Activation("relu")(x), name="block")
    inputs = keras.Input(shape=(16, 16, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same", name="outer_conv")(inputs)
    x = keras.layers.BatchNormalization(name="outer_norm")(x)
    return keras.Model(inputs, block(keras.layers.Activation("relu")(x)), name="nested_base")


def test_fine_tuning_freezes_batch_norm_inside_a_nested_base(
    tiny_split: dict[str, np.ndarray],
) -> None:
    """Counted by hand: outer_conv 3*3*3*4 + 4 = 112, inner_conv 3*3*4*4 + 4 = 148, each
    BatchNorm 4 x 4 = 16 (gamma, beta, moving mean, variance), head 4*10 + 10 = 50."""
    base = nested_base(SEED)
    model, counts, _ = transfer_model.build_transfer_model(
        base, tiny_split, TINY_IMAGE, HEAD, training_params(), SEED
    )
    assert counts == {
        "total_params": 342,
        "trainable_params_frozen": 50,
        "trainable_params_fine_tuned": 342 - 2 * 16,
    }
    before = {w.path: w.numpy().copy() for w in base.weights}
    transfer_training.fine_tune_phase(model, tiny_split, training_params(), HEAD, SEED)
    block = base.get_layer("block")
    norms = [base.get_layer("outer_norm"), block.get_layer("inner_norm")]
    assert [norm.trainable for norm in norms] == [False, False]
    assert block.get_layer("inner_conv").trainable
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == 310
    after = {w.path: w.numpy() for w in base.weights}
    normed = [path for path in before if "_norm/" in path]
    kernels = [path for path in before if path.endswith("conv/kernel")]
    assert len(normed) == 8 and len(kernels) == 2
    for path in normed:  # inference mode: statistics, gamma and beta untouched
        np.testing.assert_array_equal(after[path], before[path])
    for path in kernels:  # the convolutions, the nested one included, did train
        assert not np.array_equal(after[path], before[path]), path


def test_keras_3_ignores_training_false_once_the_base_is_trainable(
    tiny_split: dict[str, np.ndarray],
) -> None:
    """Why `freeze_batch_norm` exists: without it, fine tuning moves the BN statistics."""
    frozen, _, _ = transfer_training.train_frozen_phase(
        build(tiny_split), tiny_split, training_params(), HEAD, SEED
    )
    norm = transfer_model.base_of(frozen).get_layer("feature_norm")
    before = norm.moving_mean.numpy().copy()
    transfer_training.fine_tune_phase(
        frozen, tiny_split, training_params(freeze_batch_norm=False), HEAD, SEED
    )
    assert not np.array_equal(norm.moving_mean.numpy(), before)


# ---------------------------------------------------------------- reporting


def history(val_accuracy: list[float]) -> pd.DataFrame:
    n = len(val_accuracy)
    return pd.DataFrame(
        {
            "epoch": range(1, n + 1),
            "loss": np.linspace(2, 1, n),
            "accuracy": np.linspace(0.2, 0.5, n),
            "val_loss": np.linspace(2.1, 1.1, n),
            "val_accuracy": val_accuracy,
        }
    )


def test_metrics_answer_the_lessons_questions() -> None:
    split = {"classes": np.arange(10), "y_train": np.zeros(718), "y_val": np.zeros(1079)}
    counts = {
        "total_params": 20_881_970,
        "trainable_params_frozen": 20_490,
        "trainable_params_fine_tuned": 20_827_442,
    }
    metrics = transfer_report.summarize_transfer(
        history([0.5, 0.8]), history([0.9]), counts, {"source": "imagenet", "sha256": "abc"}, split
    )
    assert metrics["frozen"]["val_accuracy"] == 0.8
    assert metrics["fine_tuned"]["val_accuracy"] == 0.9
    assert metrics["fine_tuning_gain"] == pytest.approx(0.1)
    assert metrics["trainable_fraction_frozen"] == pytest.approx(20_490 / 20_881_970)
    assert metrics["base_weights"]["sha256"] == "abc"
    assert (metrics["n_train"], metrics["n_val"]) == (718, 1079)
    assert "from_scratch" not in metrics  # the opt-in pipeline's own metrics


def test_from_scratch_metrics_say_whether_transfer_helped() -> None:
    metrics = transfer_report.summarize_from_scratch(
        history([0.9]), history([0.2, 0.3]), history([0.35]), history([0.7]), history([0.5, 0.8])
    )
    assert metrics["fine_tuned"]["val_accuracy"] == 0.9
    assert metrics["from_scratch"]["val_accuracy"] == 0.35
    assert metrics["from_scratch_frozen"]["val_accuracy"] == 0.3
    assert metrics["bn_recomputed"]["val_accuracy"] == 0.7
    assert metrics["end_to_end"]["val_accuracy"] == 0.8
    assert metrics["gains"] == pytest.approx(
        {"from_scratch": 0.55, "bn_recomputed": 0.2, "end_to_end": 0.1}
    )
    assert metrics["strongest_baseline"] == "end_to_end"
    assert metrics["transfer_gain"] == pytest.approx(0.1)  # against the strongest


def test_recomputed_batch_norm_statistics_are_those_of_the_target_images(
    tiny_split: dict[str, np.ndarray],
) -> None:
    """AdaBN: the BatchNorm layer gets the mean and variance of its inputs over the batches."""
    import keras  # noqa: PLC0415

    base = transfer_model.build_random_base(tiny_split, TINY_IMAGE, base_params(), SEED)
    norm = base.get_layer("feature_norm")  # the small convnet's one BatchNorm, after the convs
    assert np.allclose(norm.moving_mean.numpy(), 0) and np.allclose(norm.moving_variance.numpy(), 1)
    images = np.random.default_rng(0).normal(2.0, 3.0, size=(32, *base.input_shape[1:]))
    into_norm = keras.Model(base.inputs, norm.input)  # what the BatchNorm sees
    batches = [into_norm(images[start : start + 8]).numpy() for start in range(0, 32, 8)]
    axes = tuple(range(batches[0].ndim - 1))
    expected_mean = np.mean([batch.mean(axis=axes) for batch in batches], axis=0)
    expected_variance = np.mean([batch.var(axis=axes) for batch in batches], axis=0)
    momentum = norm.momentum
    transfer_model.recompute_batch_norm(base, images.astype(np.float32), batch_size=8)
    np.testing.assert_allclose(norm.moving_mean.numpy(), expected_mean, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(norm.moving_variance.numpy(), expected_variance, rtol=1e-4)
    assert norm.momentum == momentum  # restored


def test_the_end_to_end_baseline_trains_every_layer_for_the_whole_budget(
    tiny_split: dict[str, np.ndarray],
) -> None:
    model = build(tiny_split)
    base = transfer_model.base_of(model)
    before = {w.path: w.numpy().copy() for w in base.weights if "kernel" in w.path}
    training = training_params(epochs=2)  # frozen 2 + fine-tune 1
    history, predictions = transfer_training.train_end_to_end(
        model, tiny_split, training, HEAD, BaselineParams(end_to_end_learning_rate=0.01), SEED
    )
    assert len(history) == 3
    assert all(
        not np.array_equal(w.numpy(), before[w.path]) for w in base.weights if w.path in before
    )
    assert predictions["outputs"].shape == (len(tiny_split["y_val"]), 10)


def _drawn(figure: Figure) -> list:
    accuracy_axis = figure.axes[0]
    return [line for line in accuracy_axis.lines if not line.get_label().startswith("_")]


def test_figures() -> None:
    curves = transfer_report.plot_learning_curves(history([0.5, 0.8]), history([0.9]))
    assert isinstance(curves, Figure)
    assert [line.get_label() for line in _drawn(curves)] == [
        "pretrained, train",
        "pretrained, validation",
    ]
    np.testing.assert_array_equal(_drawn(curves)[1].get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(_drawn(curves)[1].get_ydata(), [0.5, 0.8, 0.9])
    both = transfer_report.plot_learning_curves(
        history([0.5, 0.8]), history([0.9]), history([0.2, 0.3]), history([0.35])
    )
    assert len(_drawn(both)) == 4  # train and validation, pretrained and from scratch
    np.testing.assert_array_equal(_drawn(both)[3].get_ydata(), [0.2, 0.3, 0.35])
    every = transfer_report.plot_learning_curves(
        *(history([0.5, 0.8]), history([0.9]), history([0.2, 0.3]), history([0.35])),
        bn_recomputed_frozen_history=history([0.6, 0.7]),
        bn_recomputed_fine_tuned_history=history([0.75]),
        end_to_end_history=history([0.4, 0.7, 0.95]),
    )
    labels = [line.get_label() for line in _drawn(every)]
    assert labels[4:] == [
        "BatchNorm recomputed, train",
        "BatchNorm recomputed, validation",
        "end to end, train",
        "end to end, validation",
    ]
    np.testing.assert_array_equal(_drawn(every)[5].get_ydata(), [0.6, 0.7, 0.75])
    np.testing.assert_array_equal(_drawn(every)[7].get_xdata(), [1, 2, 3])  # one phase
    predictions = {"outputs": np.eye(3)[[0, 1, 2, 2]], "y_true": np.array([0, 1, 2, 1])}
    matrices = transfer_report.plot_confusion_matrices(
        predictions, predictions, {"classes": np.array([5, 6, 7])}
    )
    assert "0.750" in matrices.axes[0].get_title()


def test_a_file_keras_cannot_read_is_one_message_naming_the_error() -> None:
    class Unreadable:
        def load_weights(self, path: str) -> None:
            raise ValueError("Layer count mismatch")

    with pytest.raises(UserInputError) as raised:
        transfer_model._load_weights(Unreadable(), "base.weights.h5", "small_convnet")
    assert str(raised.value) == (
        "Cannot load base.weights.h5 into the small_convnet base: ValueError: Layer count mismatch"
    )


def test_other_warnings_of_a_load_reach_the_caller_unchanged() -> None:
    import warnings  # noqa: PLC0415

    class Noting:
        def load_weights(self, path: str) -> None:
            warnings.warn_explicit("optimizer state not loaded", RuntimeWarning, "keras.py", 42)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        transfer_model._load_weights(Noting(), "base.weights.h5", "small_convnet")
    assert [(str(w.message), w.category, w.filename, w.lineno) for w in caught] == [
        ("optimizer state not loaded", RuntimeWarning, "keras.py", 42)
    ]


def test_a_partly_loaded_file_is_refused() -> None:
    """Keras only warns when parts of a file fit no layer; the pipeline refuses that file."""
    import warnings  # noqa: PLC0415

    class HalfLoading:
        def load_weights(self, path: str) -> None:
            warnings.warn("Skipping variable loading for layer 'conv_1'", UserWarning, stacklevel=2)

    with pytest.raises(UserInputError, match=r"would leave random weights: Skipping"):
        transfer_model._load_weights(HalfLoading(), "base.weights.h5", "small_convnet")
