"""MLflow tracking: what a run logs (read back with MlflowClient), a real `mlflow server`
over HTTP and its UI in Chromium, a server that dies mid-run, and tracking switched off."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from dnn_pipelines.tracking.store import MANIFEST_DIR
from tests.conftest import KedroProject, copy_project, screenshot, stop_group

BIN = Path(sys.executable).parent
ENV = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "COLUMNS": "250"}
ARTIFACTS = Path(__file__).parent / "artifacts"


def tracked_project(path: Path, uri: str | None = None) -> KedroProject:
    project = copy_project(path)
    lines = ["mlflow:", "  enabled: true", "  timeout_s: 2"]
    if uri:
        lines.append(f"  tracking_uri: {uri}")
    project.write_conf("test/mlflow.yml", "\n".join(lines) + "\n")
    return project


def kedro_run(project: KedroProject, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "kedro"), "run", "--env", "test", *args],
        cwd=project.path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def manifest(project: KedroProject, version: str) -> dict:
    return json.loads((project.path / MANIFEST_DIR / version / "run_manifest.json").read_text())


def client(uri: str):
    from mlflow.tracking import MlflowClient  # noqa: PLC0415

    return MlflowClient(tracking_uri=uri)


@pytest.fixture(scope="module")
def dropout_run(tmp_path_factory):
    """The dropout section (Keras models, loss histories, metrics, figures) on conf/test."""
    project = tracked_project(tmp_path_factory.mktemp("mlflow") / "project")
    result = kedro_run(project, "--pipelines", "dropout")
    assert result.returncode == 0, result.stderr[-3000:]
    uri = f"sqlite:///{project.data / '09_tracking' / 'mlflow.db'}"
    [run] = client(uri).search_runs(
        [client(uri).get_experiment_by_name("dnn_pipelines").experiment_id]
    )
    return project, uri, run


def test_a_run_logs_its_tags_and_every_parameter_flattened(dropout_run):
    project, _, run = dropout_run
    [version] = [p.name for p in (project.path / MANIFEST_DIR).iterdir()]
    tags = run.data.tags
    assert tags["pipelines"] == "dropout"
    assert tags["env"] == "test"
    assert tags["save_version"] == version
    assert tags["manifest"] == f"data/09_tracking/run_manifest.json/{version}"
    assert tags["git_commit"] == "None"  # the test copy is no git work tree
    params = run.data.params
    assert params["dropout.training.epochs"] == str(
        manifest(project, version)["parameters"]["dropout"]["training"]["epochs"]
    )
    assert params["seed"] == "123"
    assert run.info.status == "FINISHED"


def test_every_scalar_of_the_metrics_json_is_a_metric(dropout_run):
    project, _, run = dropout_run
    entry = manifest(project, run.data.tags["save_version"])["outputs"]["dropout_metrics"]
    path = project.path / entry["filepath"] / entry["version"] / "dropout_metrics.json"
    metrics = json.loads(path.read_text())
    for rate, values in metrics.items():
        for key in ("true_mse", "train_mse", "mc_true_mse"):
            assert run.data.metrics[f"dropout_metrics.{rate}.{key}"] == values[key]


def test_training_histories_are_stepped_metrics(dropout_run):
    project, uri, run = dropout_run
    entry = manifest(project, run.data.tags["save_version"])["outputs"][
        "dropout.rate_40.loss_history"
    ]
    table = pd.read_csv(project.path / entry["filepath"] / entry["version"] / "loss_history.csv")
    history = client(uri).get_metric_history(run.info.run_id, "dropout.rate_40.loss_history.loss")
    assert [m.step for m in sorted(history, key=lambda m: m.step)] == table["epoch"].tolist()
    assert [m.value for m in sorted(history, key=lambda m: m.step)] == table["loss"].tolist()


def test_figures_manifest_and_loadable_models_are_artifacts(dropout_run, tmp_path):
    import keras  # noqa: PLC0415
    import mlflow  # noqa: PLC0415

    project, uri, run = dropout_run
    listed = {a.path for a in client(uri).list_artifacts(run.info.run_id, "figures")}
    assert "figures/loss.png" in listed and "figures/predictions.png" in listed
    mlflow.set_tracking_uri(uri)
    copied = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="manifest/run_manifest.json", dst_path=str(tmp_path)
    )
    assert json.loads(Path(copied).read_text())["save_version"] == run.data.tags["save_version"]
    model_file = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id,
        artifact_path="models/dropout.rate_40.model/model.keras",
        dst_path=str(tmp_path),
    )
    model = keras.saving.load_model(model_file)  # the documented loader
    assert model.count_params() > 0
    assert (project.data / "09_tracking" / "mlartifacts").is_dir()  # artifacts stay in data/


def test_tracking_switched_off_writes_no_store(tmp_path):
    project = copy_project(tmp_path / "project")  # conf/test: enabled: false
    result = kedro_run(project, "--pipelines", "vanishing_gradient")
    assert result.returncode == 0, result.stderr[-2000:]
    assert not (project.data / "09_tracking" / "mlflow.db").exists()


TELEMETRY_CHECK = """
import sys
from pathlib import Path
from dnn_pipelines.tracking.experiments import MlflowSettings, _client
_client(MlflowSettings(tracking_uri="sqlite:///mlflow.db"), Path(sys.argv[1]))
from mlflow.telemetry.utils import is_telemetry_disabled
print(is_telemetry_disabled())
"""


def test_mlflow_telemetry_is_off_where_nothing_else_turns_it_off(tmp_path):
    # MLflow also stays quiet in CI and under pytest (its own list of variables): a user's
    # shell has none of them.
    quiet = {"CI", "PYTEST_CURRENT_TEST", "DO_NOT_TRACK", "MLFLOW_DISABLE_TELEMETRY"}
    env = {key: value for key, value in os.environ.items() if key not in quiet}
    result = subprocess.run(
        [sys.executable, "-c", TELEMETRY_CHECK, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.stdout.strip() == "True", result.stderr[-2000:]


def test_a_bad_mlflow_setting_is_one_message(tmp_path):
    project = copy_project(tmp_path / "project")
    project.write_conf("test/mlflow.yml", "mlflow:\n  timeout_s: -1\n  enabeld: true\n")
    result = kedro_run(project, "--pipelines", "vanishing_gradient")
    assert result.returncode == 1
    output = result.stdout + result.stderr
    assert "MlflowSettingsError: Invalid conf/<env>/mlflow.yml" in output
    assert "mlflow.enabeld" in output and "mlflow.timeout_s = -1" in output
    assert "Traceback" not in output


def test_parallel_runner_runs_are_logged(tmp_path):
    project = tracked_project(tmp_path / "project")
    result = kedro_run(project, "--pipelines", "vanishing_gradient", "--runner", "ParallelRunner")
    assert result.returncode == 0, result.stderr[-2000:]
    uri = f"sqlite:///{project.data / '09_tracking' / 'mlflow.db'}"
    experiment = client(uri).get_experiment_by_name("dnn_pipelines").experiment_id
    [run] = client(uri).search_runs([experiment])
    assert run.data.metrics["vanishing_gradient_metrics.slowdown_vs_output"] > 1


# ---------------------------------------------------------------- a real server


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class MlflowServer:
    """`mlflow server` on 127.0.0.1 with a sqlite backend, stopped by process group."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                str(BIN / "mlflow"),
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--backend-store-uri",
                f"sqlite:///{folder / 'server.db'}",
                "--artifacts-destination",
                str(folder / "artifacts"),
                "--workers",
                "1",
            ],
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    break
            except OSError:
                assert self.process.poll() is None, "mlflow server exited"
                assert time.monotonic() < deadline, "mlflow server never listened"
                time.sleep(0.5)

    def stop(self) -> None:
        stop_group(self.process)


@pytest.fixture
def server(tmp_path):
    running = MlflowServer(tmp_path / "server")
    yield running
    running.stop()


def test_runs_log_to_a_real_server_and_its_ui_shows_them(tmp_path, server):
    project = tracked_project(tmp_path / "project", server.uri)
    for seed in ("1", "2"):
        result = kedro_run(project, "--pipelines", "vanishing_gradient", "--params", f"seed={seed}")
        assert result.returncode == 0, result.stderr[-2000:]
    experiment = client(server.uri).get_experiment_by_name("dnn_pipelines")
    runs = client(server.uri).search_runs([experiment.experiment_id])
    assert sorted(run.data.params["seed"] for run in runs) == ["1", "2"]
    shot = ARTIFACTS / "mlflow_ui.png"
    url = f"{server.uri}/#/experiments/{experiment.experiment_id}/runs"
    screenshot(url, shot, tmp_path / "chrome")
    assert shot.exists() and shot.stat().st_size > 20_000  # a rendered page, not a blank one


def test_a_server_that_dies_mid_run_does_not_fail_the_run(tmp_path, server):
    project = tracked_project(tmp_path / "project", server.uri)
    run = subprocess.Popen(
        [str(BIN / "kedro"), "run", "--env", "test", "--pipelines", "dropout"],
        cwd=project.path,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    folder = project.path / MANIFEST_DIR
    deadline = time.monotonic() + 300
    while not (folder.exists() and any(folder.iterdir())):
        assert run.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    server.stop()
    output, _ = run.communicate(timeout=600)
    assert run.returncode == 0, output[-3000:]
    assert output.count("Could not log this run to MLflow at") == 1
    [version] = [p.name for p in folder.iterdir()]
    assert manifest(project, version)["status"] == "success"
