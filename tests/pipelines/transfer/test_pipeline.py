"""The transfer pipeline end to end: conf/test (tiny), the missing-weights error, a weights
file, and the offline env that pretrains its own base (digits 0-4 -> 5-9).

Each project copy lives in a temporary folder; nothing touches the network.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from dnn_pipelines.parameters import ParameterTreeError
from dnn_pipelines.pipelines.transfer.errors import MissingWeightsError
from dnn_pipelines.pipelines.transfer.training import HISTORY_COLUMNS
from dnn_pipelines.tracking.pins import UnpinnableInputError
from tests.conftest import KedroProject, copy_project

PIPELINE = ["transfer"]
BOTH = ["transfer", "transfer_from_scratch"]
EXPERIMENTS = ("pretrained", "from_scratch")


def versions(project: KedroProject, relative: str) -> list[Path]:
    """Every saved version of a versioned file, oldest first."""
    folder = project.data / relative
    return sorted(path / folder.name for path in folder.iterdir()) if folder.exists() else []


def metrics_versions(project: KedroProject) -> list[dict[str, Any]]:
    files = versions(project, "08_reporting/transfer/transfer_metrics.json")
    return [json.loads(path.read_text()) for path in files]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> KedroProject:
    """conf/test, both pipelines run twice with the same seed (for the reproducibility test)."""
    project = copy_project(tmp_path_factory.mktemp("transfer"))
    project.run(BOTH)
    project.run(BOTH)
    return project


def test_every_artifact_is_versioned(tiny: KedroProject) -> None:
    expected = [
        "01_raw/transfer/digits.npz",
        "05_model_input/transfer/split.npz",
        "05_model_input/transfer/source_split.npz",
        "06_models/transfer/pretrained/frozen_model.keras",
        "06_models/transfer/pretrained/fine_tuned_model.keras",
        "08_reporting/transfer/learning_curves.png",
        "08_reporting/transfer/confusion_matrix.png",
        "08_reporting/transfer/transfer_metrics.json",
        "08_reporting/transfer/from_scratch/learning_curves.png",
        "08_reporting/transfer/from_scratch/transfer_from_scratch_metrics.json",
    ] + [
        f"07_model_output/transfer/{experiment}/{phase}_{kind}"
        for experiment in EXPERIMENTS
        for phase in ("frozen", "fine_tuned")
        for kind in ("history.csv", "predictions.npz")
    ]
    for relative in expected:
        assert len(versions(tiny, relative)) == 2, relative
    # conf/base keeps the ImageNet base and the baseline's 80 MB models out of the catalog
    assert not (tiny.data / "06_models/transfer/from_scratch").exists()
    assert not (tiny.data / "06_models/transfer/pretrained/base_model.keras").exists()


def test_the_split_holds_8x8_digits(tiny: KedroProject) -> None:
    split = tiny.load("transfer.split")
    assert split["x_train"].shape[1:] == (8, 8)  # enlarged inside the model, not stored
    assert len(split["y_train"]) + len(split["y_val"]) == 60  # conf/test: max_samples
    np.testing.assert_array_equal(split["classes"], np.arange(10))


def test_models_load_in_safe_mode_and_predict(tiny: KedroProject) -> None:
    split = tiny.load("transfer.split")
    for phase in ("frozen_model", "fine_tuned_model"):
        model = tiny.load(f"transfer.pretrained.{phase}")
        assert model.input_shape == (None, 8, 8)
        assert model.predict(split["x_val"], verbose=0).shape == (len(split["y_val"]), 10)
    frozen = tiny.load("transfer.pretrained.frozen_model")
    tuned = tiny.load("transfer.pretrained.fine_tuned_model")
    changed = [
        not np.array_equal(a, b)
        for a, b in zip(frozen.get_weights(), tuned.get_weights(), strict=True)
    ]
    assert any(changed)  # fine tuning moved weights


def test_histories_and_metrics(tiny: KedroProject) -> None:
    metrics = metrics_versions(tiny)[-1]
    for experiment in EXPERIMENTS:
        for phase in ("frozen", "fine_tuned"):
            history = tiny.load(f"transfer.{experiment}.{phase}_history")
            assert tuple(history.columns) == HISTORY_COLUMNS
            assert history["epoch"].tolist() == [1]  # conf/test: one epoch per phase
    pretrained = tiny.load("transfer.pretrained.fine_tuned_history")
    assert metrics["fine_tuned"]["val_accuracy"] == pytest.approx(
        pretrained["val_accuracy"].iloc[-1]
    )
    for phase in ("frozen", "fine_tuned"):  # recomputed from the saved logits, in numpy
        predictions = tiny.load(f"transfer.pretrained.{phase}_predictions")
        logits = predictions["outputs"].astype(np.float64)
        y = predictions["y_true"].astype(int)
        shifted = logits - logits.max(axis=1, keepdims=True)
        log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        assert metrics[phase]["val_accuracy"] == pytest.approx(np.mean(logits.argmax(1) == y))
        assert metrics[phase]["val_loss"] == pytest.approx(
            -np.mean(log_softmax[np.arange(len(y)), y]), rel=1e-4
        )
    # conf/test's base by hand: conv 3*3*3*4 + 4 = 112, conv 3*3*4*8 + 8 = 296, BatchNorm
    # 4*8 = 32; the head Dense(10) on 8 pooled features: 8*10 + 10 = 90.
    assert (metrics["total_params"], metrics["trainable_params_frozen"]) == (530, 90)
    assert metrics["trainable_fraction_frozen"] == pytest.approx(
        metrics["trainable_params_frozen"] / metrics["total_params"]
    )
    assert metrics["base_weights"] == {"source": "random", "path": None, "sha256": None}
    assert (metrics["n_train"], metrics["n_val"]) == (24, 36)


def test_from_scratch_metrics_compare_with_the_pretrained_run(tiny: KedroProject) -> None:
    comparison = tiny.load("transfer_from_scratch_metrics")
    scratch = tiny.load("transfer.from_scratch.fine_tuned_history")
    assert comparison["fine_tuned"] == metrics_versions(tiny)[-1]["fine_tuned"]
    assert comparison["from_scratch"]["val_accuracy"] == pytest.approx(
        scratch["val_accuracy"].iloc[-1]
    )
    assert comparison["transfer_gain"] == pytest.approx(
        comparison["fine_tuned"]["val_accuracy"] - comparison["from_scratch"]["val_accuracy"]
    )


def test_the_lesson_pipeline_does_not_train_from_scratch(registered_pipelines: dict) -> None:
    """`kedro run --pipelines transfer` (and `kedro run`) train the pretrained model only."""
    for name in ("transfer", "__default__"):
        outputs = registered_pipelines[name].all_outputs()
        assert not any(".from_scratch." in output for output in outputs), name
    scratch = registered_pipelines["transfer_from_scratch"]
    assert {name for name in scratch.inputs() if not name.startswith("params:")} == {
        "transfer.split",
        "transfer.pretrained.frozen_history",
        "transfer.pretrained.fine_tuned_history",
    }


def test_from_scratch_before_the_lesson_says_what_to_run(tmp_path: Path) -> None:
    project = copy_project(tmp_path / "fresh")
    with pytest.raises(UnpinnableInputError) as refused:
        project.run(["transfer_from_scratch"])
    message = str(refused.value)
    for name in ("transfer.split", "transfer.pretrained.fine_tuned_history"):
        assert f"'{name}' has no version saved by an earlier run in env 'test'" in message
    assert "`kedro run --pipelines <writer>,<reader>`" in message
    assert not (project.data / "07_model_output").exists()  # nothing trained, nothing written


def test_same_seed_same_metrics(tiny: KedroProject) -> None:
    first, second = metrics_versions(tiny)
    assert first == second
    frozen = [
        pd.read_csv(path)
        for path in versions(tiny, "07_model_output/transfer/pretrained/frozen_history.csv")
    ]
    pd.testing.assert_frame_equal(frozen[0], frozen[1])


def test_a_bad_parameter_stops_the_run_before_any_node(project: KedroProject) -> None:
    project.write_conf(
        "test/parameters_transfer.yml",
        (project.path / "conf/test/parameters_transfer.yml").read_text()
        + "  head:\n    dropout: 1.5\n",
    )
    key = "transfer.head.dropout = 1.5: Input should be less than 1"
    with pytest.raises(ParameterTreeError, match=re.escape(key)):
        project.run(PIPELINE)
    assert not (project.data / "01_raw/transfer").exists()


def test_missing_imagenet_weights_stop_the_run_before_any_training(project: KedroProject) -> None:
    cache = project.path / "empty_keras_cache"
    project.write_conf(
        "test/parameters_transfer.yml",
        f"""
transfer:
  image: {{repeat: 10}}
  base_model:
    architecture: xception
    weights: imagenet
    cache_dir: {cache}
    allow_download: false
""",
    )
    with pytest.raises(MissingWeightsError) as raised:
        project.run(PIPELINE)
    message = str(raised.value)
    assert (
        f"Looked for: {cache}/models/xception_weights_tf_dim_ordering_tf_kernels_notop.h5"
        in message
    )
    assert f"Cache folder: {cache}/models" in message
    assert "kedro run --env offline --pipelines transfer" in message
    assert not (project.data / "07_model_output").exists()  # nothing trained
    assert not (project.data / "06_models").exists()


def test_base_weights_from_a_local_file(project: KedroProject) -> None:
    """A weights file made from a freshly built base, loaded by the pipeline's own code."""
    import keras  # noqa: PLC0415

    from dnn_pipelines.pipelines.transfer.model import build_random_base  # noqa: PLC0415
    from dnn_pipelines.pipelines.transfer.params import BaseModelParams, ImageParams  # noqa: PLC0415

    params = project.context().params["transfer"]
    donor = build_random_base(
        {"x_train": np.zeros((1, 8, 8))},
        ImageParams.model_validate(params["image"]),
        BaseModelParams.model_validate(params["base_model"]),
        99,
    )
    path = project.path / "my_base.weights.h5"
    donor.save_weights(path)
    project.run(PIPELINE, params={"transfer": {"base_model": {"weights": str(path)}}})

    metrics = metrics_versions(project)[0]
    assert metrics["base_weights"] == {
        "source": "file",
        "path": str(path),
        "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }
    frozen = project.load("transfer.pretrained.frozen_model")
    base = next(layer for layer in frozen.layers if isinstance(layer, keras.Model))
    for loaded, original in zip(base.weights, donor.weights, strict=True):
        np.testing.assert_array_equal(loaded.numpy(), original.numpy())  # frozen: unchanged


@pytest.mark.slow
def test_offline_env_transfers_from_digits_0_4_to_5_9(tmp_path: Path) -> None:
    """`kedro run --env offline --pipelines transfer,transfer_from_scratch`: the base is
    pretrained in the DAG, and a random base with the same budget is the reference."""
    project = copy_project(tmp_path / "offline")
    project.run(BOTH, env="offline")

    metrics = metrics_versions(project)[0]
    assert metrics["classes"] == [5, 6, 7, 8, 9]
    weights = metrics["base_weights"]
    assert weights["source"] == "source_task"
    assert weights["source_classes"] == [0, 1, 2, 3, 4]
    assert weights["source_val_accuracy"] > 0.95
    assert metrics["frozen"]["val_accuracy"] >= 0.85  # the target
    comparison = project.load("transfer_from_scratch_metrics", env="offline")
    random_frozen = comparison["from_scratch_frozen"]["val_accuracy"]
    assert metrics["frozen"]["val_accuracy"] > random_frozen + 0.3  # clearly above random
    base = project.load("transfer.pretrained.base_model", env="offline")  # versioned .keras
    assert base.name == "small_convnet"
    assert len(versions(project, "06_models/transfer/pretrained/base_model.keras")) == 1
