"""The dropout pipeline end to end on conf/test: outputs, namespaces, runners, a bad rate.

ParallelRunner runs here with the `spawn` start method (`KEDRO_MP_CONTEXT=spawn`): this
test process has already run TensorFlow (the sequential run), and TensorFlow's thread pools
do not survive `fork`, so a forked worker would hang in its first TensorFlow op.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from kedro.runner import ParallelRunner

from dnn_pipelines.parameters import ParameterTreeError
from dnn_pipelines.pipelines.dropout import create_pipeline
from dnn_pipelines.pipelines.dropout.params import INSTANCES
from dnn_pipelines.tensorflow_settings import TENSORFLOW_TAG
from tests.conftest import KedroProject, copy_project

RATES = {"rate_00": 0.0, "rate_20": 0.2, "rate_40": 0.4, "rate_60": 0.6, "rate_80": 0.8}
TEST_EPOCHS = 30  # conf/test/parameters_dropout.yml
TEST_PASSES = 8
FIELDS = {
    "instance",
    "rate",
    "train_mse",
    "noise_mse",
    "true_mse",
    "final_loss",
    "min_loss",
    "mc_band_width",
    "mc_true_mse",
    "mc_true_coverage",
}
PER_INSTANCE = (
    "initial_model",
    "model",
    "loss_history",
    "predictions",
    "mc_predictions",
    "metrics",
)
SHARED = (
    "dropout.dataset",
    "dropout.dataset_plot",
    "dropout.predictions",
    "dropout.predictions_plot",
    "dropout.loss_plot",
    "dropout.mc_plot",
    "dropout_metrics",
)


@dataclass
class Run:
    """A finished run: its project copy and catalog, read once."""

    project: KedroProject
    catalog: Any

    @classmethod
    def of(cls, project: KedroProject) -> Run:
        return cls(project, project.context().catalog)

    def load(self, name: str) -> Any:
        return self.catalog.load(name)


@pytest.fixture(scope="module")
def sequential(tmp_path_factory) -> Run:
    project = copy_project(tmp_path_factory.mktemp("dropout_sequential"))
    project.run(["dropout"])
    return Run.of(project)


@pytest.fixture(scope="module")
def parallel(tmp_path_factory) -> Run:
    project = copy_project(tmp_path_factory.mktemp("dropout_parallel"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("KEDRO_MP_CONTEXT", "spawn")
        project.run(["dropout"], runner=ParallelRunner(max_workers=2))
    return Run.of(project)


def test_every_output_is_written_once_as_a_versioned_file(sequential):
    names = [*SHARED, *(f"dropout.{name}.{kind}" for name in INSTANCES for kind in PER_INSTANCE)]
    data = sequential.project.data
    for name in names:
        path = Path(sequential.catalog.get(name)._filepath)  # the versioned folder
        assert path.is_relative_to(data), name
        versions = list(path.iterdir())
        assert len(versions) == 1, name
        assert (versions[0] / path.name).is_file(), name


def test_dataset_and_predictions_have_the_lessons_shapes(sequential):
    dataset = sequential.load("dropout.dataset")
    assert dataset["x"].shape == dataset["y"].shape == (64,)
    assert dataset["x_eval"].shape == (640,)
    table = sequential.load("dropout.predictions")
    assert list(table.columns) == ["x", "x_squared", "0.0", "0.2", "0.4", "0.6", "0.8"]
    assert table.shape == (640, 7)
    np.testing.assert_allclose(table["x"], dataset["x_eval"])
    for name, rate in RATES.items():
        predictions = sequential.load(f"dropout.{name}.predictions")
        assert predictions["observed"].shape == (64,)
        np.testing.assert_allclose(table[repr(rate)], predictions["eval"])
        mc = sequential.load(f"dropout.{name}.mc_predictions")
        assert mc["mean"].shape == mc["std"].shape == (640,)
        assert (mc["std"] == 0).all() == (rate == 0)


def test_saved_models_are_trained_networks_with_their_rate(sequential):
    dataset = sequential.load("dropout.dataset")
    for name, rate in RATES.items():
        initial = sequential.load(f"dropout.{name}.initial_model")
        model = sequential.load(f"dropout.{name}.model")
        assert model.layers[2].rate == pytest.approx(rate)
        steps = TEST_EPOCHS * 2  # 64 points in batches of 32
        assert int(model.optimizer.iterations.numpy()) == steps
        assert int(initial.optimizer.iterations.numpy()) == 0
        reloaded = model(dataset["x_eval"].reshape(-1, 1).astype("float32")).numpy()[:, 0]
        saved = sequential.load(f"dropout.{name}.predictions")["eval"]
        np.testing.assert_allclose(reloaded, saved, rtol=1e-6)


def test_training_loss_decreases_for_every_rate(sequential):
    for name in INSTANCES:
        history = sequential.load(f"dropout.{name}.loss_history")
        assert list(history["epoch"]) == list(range(1, TEST_EPOCHS + 1))
        assert history["loss"].iloc[-5:].mean() < 0.5 * history["loss"].iloc[:5].mean(), name


def test_metrics_are_keyed_by_rate_and_agree_with_the_artifacts(sequential):
    metrics = sequential.load("dropout_metrics")
    assert list(metrics) == ["0.0", "0.2", "0.4", "0.6", "0.8"]
    dataset = sequential.load("dropout.dataset")
    for name, rate in RATES.items():
        entry = metrics[repr(rate)]
        assert set(entry) == FIELDS
        assert entry["instance"] == name
        assert entry == sequential.load(f"dropout.{name}.metrics") | {"instance": name}
        predictions = sequential.load(f"dropout.{name}.predictions")
        truth = dataset["x_eval"] ** 2
        assert entry["true_mse"] == pytest.approx(np.mean((predictions["eval"] - truth) ** 2))
        assert entry["train_mse"] == pytest.approx(
            np.mean((predictions["observed"] - dataset["y"]) ** 2)
        )
        assert entry["noise_mse"] == pytest.approx(np.mean((dataset["x"] ** 2 - dataset["y"]) ** 2))
        history = sequential.load(f"dropout.{name}.loss_history")
        assert entry["final_loss"] == pytest.approx(history["loss"].iloc[-1])
        assert (entry["mc_band_width"] == 0) == (rate == 0)


def test_figures_are_single_pngs(sequential):
    for name in ("dataset_plot", "predictions_plot", "loss_plot", "mc_plot"):
        path = Path(sequential.catalog.get(f"dropout.{name}")._get_load_path())
        assert path.suffix == ".png"
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_one_namespace_per_instance_and_tensorflow_nodes_tagged():
    pipeline = create_pipeline()
    namespaces = {node.namespace for node in pipeline.nodes}
    assert namespaces == {"dropout", *(f"dropout.{name}" for name in INSTANCES)}
    for name in INSTANCES:
        group = [node for node in pipeline.nodes if node.namespace == f"dropout.{name}"]
        assert sorted(node.name.rsplit(".", 1)[-1] for node in group) == [
            "build_model",
            "evaluate",
            "mc_dropout_predict",
            "predict",
            "train_model",
        ]
    tagged = {
        node.name.rsplit(".", 1)[-1] for node in pipeline.only_nodes_with_tags(TENSORFLOW_TAG).nodes
    }
    assert tagged == {"build_model", "train_model", "predict", "mc_dropout_predict"}


def test_sequential_and_parallel_runners_give_identical_results(sequential, parallel):
    assert parallel.load("dropout_metrics") == sequential.load("dropout_metrics")
    for name in INSTANCES:
        a = sequential.load(f"dropout.{name}.mc_predictions")
        b = parallel.load(f"dropout.{name}.mc_predictions")
        np.testing.assert_array_equal(a["mean"], b["mean"])
    assert json.dumps(sequential.load("dropout_metrics"))  # plain JSON types only


def test_a_rate_outside_zero_one_stops_the_run_naming_the_key(project):
    project.write_conf(
        "test/parameters_dropout_bad.yml", "dropout:\n  instances:\n    rate_40: 1.0\n"
    )
    key = "dropout.instances.rate_40 = 1.0: Input should be less than 1"
    with pytest.raises(ParameterTreeError, match=re.escape(key)):
        project.run(["dropout"])
    assert not (project.data / "01_raw/dropout").exists()  # stopped before any node ran
