"""The activations pipeline end to end on conf/test: outputs, namespaces, runners, bad params."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from kedro.runner import ParallelRunner
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from dnn_pipelines.parameters import ParameterTreeError
from dnn_pipelines.pipelines.activations import create_pipeline
from dnn_pipelines.pipelines.activations.params import ACTIVATIONS
from tests.conftest import KedroProject, copy_project

FIELDS = {"train_accuracy", "test_accuracy", "n_iter", "final_loss", "converged", "fit_seconds"}
PER_INSTANCE = ("model_spec", "model_arrays", "training", "metrics", "decision_regions")
SHARED = (
    "activations.moons",
    "activations.moons_plot",
    "activations.held_out",
    "activations.curves",
    "activations.derivatives",
    "activations.illustration",
    "activations.comparison",
    "activations.loss_curves",
    "activations_metrics",
)


@dataclass
class Run:
    """A finished run: its project copy, catalog and parameters, read once.

    `KedroContext.catalog` re-reads every config file on each access, so keep one.
    """

    project: KedroProject
    catalog: Any
    params: dict[str, Any]

    @classmethod
    def of(cls, project: KedroProject) -> Run:
        context = project.context()
        return cls(project, context.catalog, context.params)

    @property
    def data(self) -> Path:
        return self.project.data

    def load(self, name: str) -> Any:
        return self.catalog.load(name)


@pytest.fixture(scope="module")
def sequential(tmp_path_factory) -> Run:
    project = copy_project(tmp_path_factory.mktemp("activations_sequential"))
    project.run(["activations"])
    return Run.of(project)


@pytest.fixture(scope="module")
def parallel(tmp_path_factory) -> Run:
    project = copy_project(tmp_path_factory.mktemp("activations_parallel"))
    project.run(["activations"], runner=ParallelRunner(max_workers=2))
    return Run.of(project)


def versions(project, relative: str) -> list[str]:
    return sorted(p.name for p in (project.data / relative).iterdir())


def test_every_output_is_written_once_as_a_versioned_file(sequential):
    catalog = sequential.catalog
    names = list(SHARED) + [f"activations.{a}.{kind}" for a in ACTIVATIONS for kind in PER_INSTANCE]
    for name in names:
        dataset = catalog.get(name)
        assert dataset._version is not None, f"{name} is not versioned"
        assert len(versions(sequential, str(dataset._filepath.relative_to(sequential.data)))) == 1


def test_metrics_are_keyed_by_activation_and_equal_an_independent_fit(sequential):
    metrics = sequential.load("activations_metrics")
    assert list(metrics) == list(ACTIVATIONS)
    params = sequential.params["activations"]
    moons = sequential.load("activations.moons")
    held_out = sequential.load("activations.held_out")
    x, y = moons[["x1", "x2"]].to_numpy(), moons["y"].to_numpy()
    for activation, entry in metrics.items():
        assert set(entry) == FIELDS
        model = MLPClassifier(
            hidden_layer_sizes=tuple(params["classifier"].hidden_layer_sizes),
            activation=activation,
            max_iter=params["classifier"].max_iter,
            random_state=123,
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(x, y)
        assert entry["train_accuracy"] == model.score(x, y)
        assert entry["test_accuracy"] == model.score(
            held_out[["x1", "x2"]].to_numpy(), held_out["y"].to_numpy()
        )
        assert entry["n_iter"] == model.n_iter_
        assert entry["final_loss"] == model.loss_
        assert entry["converged"] is (model.n_iter_ < model.max_iter)


def test_curves_table_holds_x_and_the_exact_activations(sequential):
    curves = sequential.load("activations.curves")
    assert list(curves.columns) == ["x", *ACTIVATIONS]
    x = curves["x"].to_numpy()
    assert len(x) == 21  # conf/test
    np.testing.assert_allclose(curves["identity"], x, atol=1e-15)
    np.testing.assert_allclose(curves["logistic"], 1 / (1 + np.exp(-x)), atol=1e-15)
    np.testing.assert_allclose(curves["tanh"], np.tanh(x), atol=1e-15)
    np.testing.assert_allclose(curves["relu"], np.maximum(x, 0), atol=1e-15)
    assert sequential.load("activations.derivatives")["logistic"].max() <= 0.25


def test_namespaced_instances_do_not_share_outputs(sequential):
    pipeline = create_pipeline()
    outputs = {}
    for activation in ACTIVATIONS:
        namespace = f"activations.{activation}"
        nodes = [n for n in pipeline.nodes if n.namespace == namespace]
        assert len(nodes) == 4, namespace
        outputs[activation] = {o for n in nodes for o in n.outputs}
        assert all(o.startswith(f"{namespace}.") for o in outputs[activation])
    for first in ACTIVATIONS:
        for second in ACTIVATIONS:
            if first != second:
                assert not outputs[first] & outputs[second]
    # On disk: each instance has its own files, fitted with its own activation.
    catalog = sequential.catalog
    paths = {catalog.get(f"activations.{a}.model_arrays")._filepath for a in ACTIVATIONS}
    assert len(paths) == len(ACTIVATIONS)
    first_layers = []
    for activation in ACTIVATIONS:
        spec = sequential.load(f"activations.{activation}.model_spec")
        assert spec["params"]["activation"] == activation
        assert sequential.load(f"activations.{activation}.metrics")["activation"] == activation
        first_layers.append(sequential.load(f"activations.{activation}.model_arrays")["coef_1"])
    for i, layer in enumerate(first_layers):
        for other in first_layers[i + 1 :]:
            assert not np.array_equal(layer, other)


def test_figures_are_saved_as_single_pngs(sequential):
    for name in ("illustration", "moons", "comparison", "loss_curves", "relu/decision_regions"):
        folder = sequential.data / "08_reporting/activations" / f"{name}.png"
        (version,) = list(folder.iterdir())
        png = version / f"{name.split('/')[-1]}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sequential_and_parallel_runners_give_identical_results(sequential, parallel):
    first = sequential.load("activations_metrics")
    second = parallel.load("activations_metrics")
    for entry in (*first.values(), *second.values()):
        entry.pop("fit_seconds")
    assert first == second
    for activation in ACTIVATIONS:
        a = sequential.load(f"activations.{activation}.model_arrays")
        b = parallel.load(f"activations.{activation}.model_arrays")
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])


def test_unknown_activation_stops_the_run_and_lists_the_allowed_ones(project):
    project.write_conf(
        "test/parameters_activations_bad.yml",
        "activations:\n  instances:\n    relu:\n      activation: relu6\n",
    )
    key = (
        "activations.instances.relu.activation = 'relu6': "
        "Input should be 'identity', 'logistic', 'tanh' or 'relu'"
    )
    with pytest.raises(ParameterTreeError, match=re.escape(key)):
        project.run(["activations"])
    assert not (project.data / "01_raw/activations").exists()  # stopped before any node
