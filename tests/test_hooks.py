"""The parameter, MLflow and summary hooks, driven call by call in this process.

The session tests show them working together in a real run (in a subprocess, which mutation
testing cannot see); here each hook's own decisions are checked: what it passes on, and when
it stays silent. TensorFlowHook's are in test_tensorflow_settings_double.py.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from kedro.pipeline import Pipeline, node

from dnn_pipelines import hooks
from dnn_pipelines.hooks import MlflowHook, ParametersHook, SummaryHook
from dnn_pipelines.parameters import ParameterTreeError
from dnn_pipelines.resources import ResourceBudget
from dnn_pipelines.tracking.experiments import MlflowSettings
from dnn_pipelines.tracking.latest import IN_SWEEP_ENV
from dnn_pipelines.tracking.store import MANIFEST_DIR, MANIFEST_NAME
from tests.conftest import ConfigContext

FIRST, SECOND = "2026-01-02T03.04.05.006Z", "2026-01-02T03.04.05.007Z"
DROPOUT_METRICS = {
    "0.0": {"rate": 0.0, "train_mse": 0.6, "noise_mse": 1.0, "true_mse": 0.30},
    "0.4": {"rate": 0.4, "train_mse": 1.1, "noise_mse": 1.0, "true_mse": 0.10},
}
DROPOUT_ANSWERS = [
    "  What is the effect of the dropout? Without dropout the training MSE is 0.600, below "
    "the noise's own 1.000: the network fits the noise.",
    "  Is it helping to prevent over-fitting? Yes: 40% dropout gives the lowest error against "
    "the true curve, 0.100 against 0.300 without dropout.",
]


def write_manifest(project: Path, version: str, outputs: dict[str, Any]) -> dict[str, Any]:
    manifest = {"save_version": version, "env": "test", "status": "success", "outputs": outputs}
    path = project / MANIFEST_DIR / version
    path.mkdir(parents=True)
    (path / MANIFEST_NAME).write_text(json.dumps(manifest))
    return manifest


@pytest.fixture
def tree_checked(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """The parameters the hook checks (the check itself: test_parameter_fuzz.py)."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(hooks, "check_parameter_tree", calls.append)
    return calls


@pytest.fixture
def budget_checked(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """What the hook hands to `check_budget` (the check itself: test_parameter_fuzz.py)."""
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(hooks, "check_budget", lambda *args: calls.append(args))
    return calls


@pytest.fixture
def native_filtered(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Each time the hook would filter TensorFlow's native log (a process-wide change)."""
    calls: list[bool] = []
    monkeypatch.setattr(hooks, "filter_native_stderr", lambda: calls.append(True))
    return calls


@pytest.fixture
def summary_log(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> pytest.LogCaptureFixture:
    """The summary hook's log lines, outside a sweep."""
    monkeypatch.delenv(IN_SWEEP_ENV, raising=False)
    caplog.set_level(logging.INFO, logger=hooks.__name__)
    return caplog


def no_manifest(project: Path) -> str:
    return (
        f"No run manifest under {project / MANIFEST_DIR}: every `kedro run` of this project "
        "writes one; run a pipeline first."
    )


@pytest.fixture
def logged(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """What the MLflow hook hands to `log_run` (MLflow itself: test_mlflow.py)."""
    calls: list[tuple[Any, ...]] = []
    monkeypatch.setattr(hooks, "log_run", lambda *args: calls.append(args))
    return calls


# --- parameters and budget ----------------------------------------------------------------


def test_an_unknown_parameter_key_stops_the_run_when_the_context_is_made():
    with pytest.raises(ParameterTreeError, match=r"dropout\.trainig"):
        ParametersHook().after_context_created(
            ConfigContext(parameters={"dropout": {"trainig": {"epochs": 3}}})
        )


def test_the_budget_is_checked_for_the_sections_that_run(
    tmp_path, tree_checked, budget_checked, native_filtered
):
    hook = ParametersHook()
    parameters = {"dropout": {"seed": 7}}
    hook.after_context_created(
        ConfigContext(tmp_path, parameters=parameters, resources={"resources": {"memory_mb": 512}})
    )
    pipeline = Pipeline(
        [
            node(abs, "a", "b", name="one", namespace="dropout.rate_20"),
            node(abs, "b", "c", name="two", namespace="dropout.rate_40"),
            node(abs, "c", "d", name="three", namespace="transfer"),
            node(abs, "d", "e", name="plain"),
        ]
    )
    assert tree_checked == [parameters]
    hook.before_pipeline_run(pipeline)
    assert budget_checked == [
        ({"dropout", "transfer"}, parameters, ResourceBudget(memory_mb=512), tmp_path / "data")
    ]
    assert native_filtered == []  # no TensorFlow node: TensorFlow's native log is not touched


def test_a_tensorflow_run_filters_the_native_log_before_tensorflow_loads(
    tmp_path, tree_checked, budget_checked, native_filtered
):
    hook = ParametersHook()
    hook.after_context_created(ConfigContext(tmp_path, parameters={}))
    hook.before_pipeline_run(Pipeline([node(abs, "a", "b", name="fit", tags=["tensorflow"])]))
    assert native_filtered == [True]


def test_without_resources_yml_the_budget_is_the_default(tmp_path, tree_checked, budget_checked):
    hook = ParametersHook()
    hook.after_context_created(ConfigContext(tmp_path, parameters={}))
    hook.before_pipeline_run(Pipeline([node(abs, "a", "b", name="one", namespace="dropout")]))
    assert budget_checked[0][2] == ResourceBudget()


# --- MLflow -------------------------------------------------------------------------------


@pytest.mark.parametrize("event", ["after_pipeline_run", "on_pipeline_error"])
def test_mlflow_gets_the_manifest_of_the_run_that_ended(tmp_path, logged, event):
    wanted = write_manifest(tmp_path, FIRST, {})
    write_manifest(tmp_path, SECOND, {})  # the newest, not the one that ended
    hook = MlflowHook()
    hook.after_context_created(ConfigContext(tmp_path))
    getattr(hook, event)(run_params={"run_id": FIRST})
    assert logged == [(MlflowSettings(), tmp_path, wanted)]


def test_mlflow_switched_off_logs_nothing(tmp_path, logged, monkeypatch):
    write_manifest(tmp_path, FIRST, {})
    monkeypatch.chdir(tmp_path)  # where a hook without context would look
    hook = MlflowHook()
    hook.after_pipeline_run(run_params={"run_id": FIRST})  # no context yet: off
    hook.after_context_created(ConfigContext(tmp_path, mlflow={"mlflow": {"enabled": False}}))
    hook.after_pipeline_run(run_params={"run_id": FIRST})
    hook.on_pipeline_error(run_params={"run_id": FIRST})
    assert logged == []


def test_a_run_without_manifest_is_a_warning_not_an_error(tmp_path, logged, caplog):
    caplog.set_level(logging.WARNING, logger=hooks.__name__)
    hook = MlflowHook()
    hook.after_context_created(ConfigContext(tmp_path))
    hook.after_pipeline_run(run_params={"run_id": FIRST})
    assert logged == []
    assert caplog.messages == [f"No manifest to log to MLflow: {no_manifest(tmp_path)}"]


# --- the closing summary ------------------------------------------------------------------


def summarise(project: Path) -> None:
    """The summary hook at the end of run FIRST of `project`."""
    hook = SummaryHook()
    hook.after_context_created(ConfigContext(project))
    hook.after_pipeline_run(run_params={"run_id": FIRST})


def dropout_run(project: Path) -> None:
    metrics = project / "data" / "08_reporting" / "dropout_metrics.json"
    metrics.parent.mkdir(parents=True)
    metrics.write_text(json.dumps(DROPOUT_METRICS))
    entry = {"filepath": "data/08_reporting/dropout_metrics.json", "version": None}
    write_manifest(project, FIRST, {"dropout_metrics": entry})


def test_a_run_ends_with_its_answers_and_the_envs_page(tmp_path, summary_log):
    dropout_run(tmp_path)
    summarise(tmp_path)
    assert summary_log.messages == [
        "The lesson's questions, answered by this run:",
        *DROPOUT_ANSWERS,
        "Newest figures and answers of env 'test': data/08_reporting/latest/test.html",
    ]
    assert (
        "40% dropout gives the lowest error"
        in (tmp_path / "data" / "08_reporting" / "latest" / "test.html").read_text()
    )


def test_a_run_without_metrics_names_only_the_page(tmp_path, summary_log):
    write_manifest(tmp_path, FIRST, {})
    summarise(tmp_path)
    assert summary_log.messages == [
        "Newest figures and answers of env 'test': data/08_reporting/latest/test.html"
    ]


def test_a_sweep_point_leaves_the_summary_to_the_sweep(tmp_path, summary_log, monkeypatch):
    monkeypatch.setenv(IN_SWEEP_ENV, "1")
    dropout_run(tmp_path)
    summarise(tmp_path)
    assert summary_log.messages == []
    assert not (tmp_path / "data" / "08_reporting" / "latest").exists()


def test_a_summary_that_fails_costs_one_warning(tmp_path, summary_log):
    dropout_run(tmp_path)
    (tmp_path / "data" / "08_reporting" / "dropout_metrics.json").write_text("{not json")
    summarise(tmp_path)
    assert [(record.levelname, record.getMessage()) for record in summary_log.records] == [
        (
            "WARNING",
            "No summary of this run: JSONDecodeError: Expecting property name enclosed in "
            "double quotes: line 1 column 2 (char 1)",
        )
    ]


# --- hooks called before any context (outside a session, e.g. in a notebook) --------------


def test_before_any_context_the_budget_is_the_default_for_data_here(budget_checked):
    ParametersHook().before_pipeline_run(
        Pipeline([node(abs, "a", "b", name="one", namespace="dropout")])
    )
    assert budget_checked == [({"dropout"}, {}, ResourceBudget(), Path("data"))]


def test_before_any_context_the_summary_looks_in_the_current_folder(
    tmp_path, summary_log, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    SummaryHook().after_pipeline_run(run_params={"run_id": FIRST})
    assert summary_log.messages == [
        f"No summary of this run: VersionsError: {no_manifest(tmp_path)}"
    ]
