"""`kedro run` on a user's mistake: one clear message and a failing exit code, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import copy_project

KEDRO = str(Path(sys.executable).with_name("kedro"))


def _kedro(project, *args, **env):
    result = subprocess.run(
        [KEDRO, "run", "--env", "test", *args],
        cwd=project.path,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "COLUMNS": "200", **env},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    return result.returncode, result.stdout + result.stderr


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    project = copy_project(tmp_path_factory.mktemp("cli") / "project")
    code, output = _kedro(project, "--pipelines", "vanishing_gradient")
    assert code == 0, output[-3000:]
    return project, output


@pytest.fixture(scope="module")
def project_with_a_run(first_run):
    return first_run[0]


def test_the_run_log_is_one_line_per_node_event_without_third_party_noise(first_run):
    _, output = first_run
    assert "Running node:" in output
    assert "Completed 62 out of 62 tasks" in output
    for noise in ("Loading data from", "Saving data to", "register_new_resolver", "Workflow"):
        assert noise not in output, noise


def test_a_bad_parameter_is_one_message_naming_the_key(project_with_a_run):
    code, output = _kedro(
        project_with_a_run,
        "--pipelines",
        "vanishing_gradient",
        "--params",
        "vanishing_gradient.n_layers=0",
    )
    assert code == 1
    assert "Error: ParameterValidationError" in output
    assert "n_layers = 0: Input should be greater than or equal to 1" in output
    assert "Traceback" not in output


def test_a_corrupt_artifact_is_one_message_naming_dataset_version_and_file(project_with_a_run):
    folder = project_with_a_run.data / "05_model_input" / "vanishing_gradient" / "weights.npz"
    [version] = [path.name for path in folder.iterdir()]
    file = folder / version / "weights.npz"
    intact = file.read_bytes()
    file.write_bytes(intact[:100])
    try:
        code, output = _kedro(
            project_with_a_run,
            "--pipelines",
            "vanishing_gradient",
            "--from-nodes",
            "vanishing_gradient.forward_pass",
        )
        assert code == 1
        message = output[output.index("Error: DatasetError") :]
        assert "vanishing_gradient.weights" in message
        assert version in message
        assert "weights.npz" in message
        assert "truncated or corrupt" in message
        assert "Traceback" not in output

        code, output = _kedro(
            project_with_a_run,
            "--pipelines",
            "vanishing_gradient",
            "--from-nodes",
            "vanishing_gradient.forward_pass",
            DNN_PIPELINES_TRACEBACK="1",
        )
        assert code == 1
        assert "Traceback" in output
    finally:
        file.write_bytes(intact)
