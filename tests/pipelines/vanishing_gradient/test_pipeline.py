"""The vanishing_gradient pipeline end to end on conf/test, as Kedro runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from kedro.validation.exceptions import ParameterValidationError

from dnn_pipelines.pipelines.vanishing_gradient.params import grid_cells
from dnn_pipelines.pipelines.vanishing_gradient.pipeline import create_pipeline
from tests.conftest import KedroProject, copy_project
from tests.pipelines.vanishing_gradient.lesson_reference import lesson_vanishing_gradient

SEED, N_UNITS, N_LAYERS, COMPARE = 7, 3, 30, 5  # conf/test with the overrides
ARTIFACTS = ("pattern", "weights", "activations", "deltas", "gradients")


class Ran:
    """A project after one run, with one catalog to load from (a context per load is slow)."""

    def __init__(self, project: KedroProject, done: subprocess.CompletedProcess) -> None:
        self.project = project
        self.done = done
        self.data = project.data
        self.catalog = project.context().catalog

    def load(self, name: str) -> Any:
        return self.catalog.load(name)


QUIET_LOGGING = """
version: 1
disable_existing_loggers: false
handlers:
  console: {class: logging.StreamHandler, stream: ext://sys.stderr}
loggers:
  kedro: {level: WARNING}
root: {handlers: [console], level: WARNING}
"""

RUN_IN_FRESH_INTERPRETER = """
import sys
from kedro.framework.cli import main
sys.argv = ["kedro", "run", "--env", "test", "--pipelines", "vanishing_gradient",
            "--params", "seed=7,vanishing_gradient.n_layers=30"]
try:
    main()
except SystemExit as stop:
    code = stop.code
print("RESULT", code, "tensorflow" in sys.modules)
"""


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """The issue's command on conf/test, through Kedro's CLI in a fresh interpreter, once.

    `kedro run --pipelines vanishing_gradient --params "seed=7,vanishing_gradient.n_layers=30"`
    runs the lesson's run, the 9 grid cells and the comparison; the tests below check it.
    """
    project = copy_project(tmp_path_factory.mktemp("vanishing_gradient"))
    logging_yml = project.path / "quiet_logging.yml"
    logging_yml.write_text(QUIET_LOGGING, encoding="utf-8")
    env = os.environ | {"KEDRO_DISABLE_TELEMETRY": "1", "KEDRO_LOGGING_CONFIG": str(logging_yml)}
    done = subprocess.run(
        [sys.executable, "-c", RUN_IN_FRESH_INTERPRETER],
        cwd=project.path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    return Ran(project, done)


def test_the_run_succeeds_without_importing_tensorflow(ran):
    assert "RESULT 0 False" in ran.done.stdout, ran.done.stdout[-3000:] + ran.done.stderr[-3000:]


def test_metrics_reproduce_the_lesson_code(ran):
    metrics = ran.load("vanishing_gradient_metrics")
    reference = lesson_vanishing_gradient(SEED, N_UNITS, N_LAYERS)
    norms = reference["norms"]
    assert metrics["gradient_norms"] == norms.tolist()
    assert metrics["slowdown_vs_output"] == norms[-1] / norms[COMPARE - 1]
    assert metrics["compare_layer"] == COMPARE
    assert metrics["seed"] == SEED
    assert metrics["n_layers"] == N_LAYERS
    assert metrics["activation"] == "sigmoid"
    assert metrics["backward"] == "lesson"
    slope = np.polyfit(np.arange(1, norms.size + 1), np.log10(norms), 1)[0]
    assert metrics["decay_per_layer"] == pytest.approx(slope, rel=1e-12)


def test_artifacts_are_saved_with_the_lesson_shapes(ran):
    n, layers = N_UNITS, N_LAYERS
    reference = lesson_vanishing_gradient(SEED, n, layers)
    pattern = ran.load("vanishing_gradient.pattern")
    weights = ran.load("vanishing_gradient.weights")
    activations = ran.load("vanishing_gradient.activations")
    deltas = ran.load("vanishing_gradient.deltas")
    gradients = ran.load("vanishing_gradient.gradients")
    assert np.array_equal(pattern["x"], reference["x"])
    assert np.array_equal(weights["w"], reference["w"])
    assert activations["o"].shape == activations["a"].shape == (n, layers + 1)
    assert np.array_equal(deltas["d"], reference["d"])
    assert np.array_equal(gradients["grad"], reference["grad"])
    table = ran.load("vanishing_gradient.gradient_norms")
    assert list(table.columns[:2]) == ["layer", "gradient_norm"]
    assert table["layer"].tolist() == list(range(1, layers + 1))
    np.testing.assert_array_equal(table["gradient_norm"], reference["norms"])


def test_every_artifact_is_versioned_and_figures_are_single_pngs(ran):
    for name in ("gradient_norm_plot.png", "comparison.png"):
        versions = list((ran.data / "08_reporting" / "vanishing_gradient" / name).iterdir())
        assert len(versions) == 1
        png = versions[0] / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for name in ARTIFACTS:
        assert ran.catalog.get(f"vanishing_gradient.{name}")._version is not None
        assert ran.catalog.get(f"vanishing_gradient.grid.relu_he.{name}")._version is not None


def test_one_group_with_a_nested_grid_and_top_level_results(ran):
    """kedro-viz: `vanishing_gradient` holds the lesson's run and a `grid` subgroup of cells."""
    pipeline = create_pipeline()
    cells = grid_cells()
    assert {node.namespace for node in pipeline.nodes} == {
        "vanishing_gradient",
        "vanishing_gradient.grid",
        *(f"vanishing_gradient.grid.{cell}" for cell in cells),
    }
    assert pipeline.outputs() == {
        "vanishing_gradient_metrics",
        "vanishing_gradient_theory_check",
        "vanishing_gradient_comparison",
        "vanishing_gradient_comparison_plot",
        "vanishing_gradient.gradient_norm_plot",
    }
    assert pipeline.inputs() == {
        "params:seed",
        "params:vanishing_gradient",
        *(f"params:vanishing_gradient_grid.{cell}" for cell in cells),
    }
    # The cells' catalog factories resolve to each cell's own folder.
    path = Path(ran.catalog.get("vanishing_gradient.grid.tanh_he.metrics")._filepath)
    assert path.parts[-4:] == ("vanishing_gradient", "grid", "tanh_he", "metrics.json")


def test_grid_cells_run_as_namespaced_instances(ran):
    main_weights = ran.load("vanishing_gradient.weights")["w"]
    for cell in grid_cells():
        activation, weight_init = cell.split("_")
        metrics = ran.load(f"vanishing_gradient.grid.{cell}.metrics")
        assert (metrics["activation"], metrics["weight_init"]) == (activation, weight_init)
        assert metrics["backward"] == "exact"
        assert metrics["n_layers"] == N_LAYERS  # the override reaches every cell
        assert metrics["seed"] == SEED
        assert len(metrics["gradient_norms"]) == N_LAYERS
        weights = ran.load(f"vanishing_gradient.grid.{cell}.weights")["w"]
        scale = {"normal": 1.0, "glorot": np.sqrt(1 / 3), "he": np.sqrt(2 / 3)}[weight_init]
        np.testing.assert_allclose(weights, main_weights * scale, rtol=1e-15)


def test_comparison_table_has_one_row_per_cell(ran):
    table = ran.load("vanishing_gradient_comparison")
    assert isinstance(table, pd.DataFrame)
    assert table["cell"].tolist() == grid_cells()
    for cell in ("sigmoid_normal", "tanh_glorot"):
        metrics = ran.load(f"vanishing_gradient.grid.{cell}.metrics")
        row = table.set_index("cell").loc[cell]
        assert row["decay_per_layer"] == pytest.approx(metrics["decay_per_layer"], rel=1e-12)
        assert row["bound_decay_per_layer"] == pytest.approx(
            metrics["bound_decay_per_layer"], rel=1e-12
        )


@pytest.mark.parametrize(
    ("params", "key"),
    [
        ({"vanishing_gradient": {"n_layers": 0}}, "n_layers"),
        ({"vanishing_gradient": {"activation": "softplus"}}, "activation"),
        ({"vanishing_gradient": {"weight_init": "uniform"}}, "weight_init"),
        ({"vanishing_gradient": {"compare_layer": 9}}, "compare_layer"),  # conf/test: n_layers = 8
        ({"vanishing_gradient_grid": {"tanh_he": {"activation": "swish"}}}, "activation"),
    ],
)
def test_a_bad_parameter_stops_the_run_naming_the_key(project, params, key):
    with pytest.raises(ParameterValidationError, match=rf"- vanishing_gradient\S*\.{key} = "):
        project.run(["vanishing_gradient"], params=params)
    assert not (project.data / "01_raw" / "vanishing_gradient").exists()  # no node ran


def test_a_typo_in_the_yaml_stops_the_run(project):
    project.write_conf(
        "test/parameters_vanishing_gradient.yml",
        "vanishing_gradient:\n  n_layers: 8\n  compare_layers: 5\n",
    )
    expected = r"- vanishing_gradient\.compare_layers: unknown key; did you mean `compare_layer`\?"
    with pytest.raises(ParameterValidationError, match=expected):
        project.run(["vanishing_gradient"])


def test_the_comparison_runs_from_saved_cells_alone(ran):
    """The comparison nodes read only the cells' metrics from the catalog."""
    ran.project.run(["vanishing_gradient"], node_names=["vanishing_gradient.grid.compare_cells"])
    versions = list((ran.data / "08_reporting/vanishing_gradient/comparison.csv").iterdir())
    assert len(versions) == 2
    latest = pd.read_csv(Path(max(versions)) / "comparison.csv")
    assert latest["cell"].tolist() == grid_cells()
