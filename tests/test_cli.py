"""`kedro run` on a user's mistake: one clear message and a failing exit code, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import KEDRO, copy_project, kedro_run

TF_LOG_LEVEL = "TF_CPP_MIN_LOG_LEVEL"


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
    assert "Completed 63 out of 63 tasks" in output  # 7 lesson nodes, 9 cells x 6, 2 across
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
    assert "Error: ParameterTreeError" in output
    assert "vanishing_gradient.n_layers = 0: Input should be greater than or equal to 1" in output
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


def _written(project) -> list[str]:
    """What the run left under data/ (a pre-run refusal leaves nothing)."""
    return sorted(p.relative_to(project.data).as_posix() for p in project.data.rglob("*"))


@pytest.mark.parametrize(
    ("args", "code", "expected"),
    [
        (["--pipelines", "dropuot"], 1, "No pipeline named 'dropuot'. Did you mean 'dropout'?"),
        (
            ["--pipelines", "vanishing_gradient", "--env", "tset"],
            1,
            "No env named 'tset': there is no folder",
        ),
        (
            ["--pipelines", "vanishing_gradient", "--from-nodes", "vanishing_gradient.forwrd"],
            1,
            "No node named 'vanishing_gradient.forwrd' in pipeline(s) vanishing_gradient. "
            "Did you mean 'vanishing_gradient.forward_pass'?",
        ),
        (
            ["--pipelines", "vanishing_gradient", "--runner", "SequentalRunner"],
            1,
            "No runner named 'SequentalRunner'. Did you mean 'SequentialRunner'?",
        ),
        (
            ["--pipelines", "vanishing_gradient", "--load-versions", "vanishing_gradient.pattern"],
            2,
            "'vanishing_gradient.pattern' is not DATASET:VERSION",
        ),
        (
            ["--pipelines", "dropout", "--params", "dropout.trainig.epochs=200"],
            1,
            "dropout.trainig: unknown key; did you mean `training`?",
        ),
        (["--pipelines", "dropout", "--params", "sed=7"], 1, "sed: unknown parameter"),
        (
            ["--pipelines", "vanishing_gradient", "--params", "vanishing_gradient.n_units=100000"],
            1,
            "vanishing_gradient needs about 1,831,055 MB of memory",  # 3 x 8 layers x 1e10 x 8 B
        ),
    ],
)
def test_a_mistake_in_the_command_is_one_message_and_nothing_is_written(
    in_project, args, code, expected
):
    """In process, as `kedro run` calls the command (the `kedro` process itself is tested
    by the conf mistakes below and the runs above)."""
    result = _invoke(*args)
    assert result.exit_code == code, result.output[-3000:]
    assert isinstance(result.exception, SystemExit)  # click's exit, not a traceback
    assert expected in result.output
    assert _written(in_project) == []


@pytest.mark.parametrize(
    ("args", "variables", "expected"),
    [
        (["--pipeline", "dropuot"], {}, "No pipeline named 'dropuot'. Did you mean 'dropout'?"),
        (["--pipelines", "vanishing_gradient"], {"KEDRO_ENV": "tset"}, "No env named 'tset'"),
        (
            ["--pipelines", "vanishing_gradient", "--env", "test", "--conf-source", "{project}/x"],
            {},
            "No env named 'test': there is no folder {project}/x/test",
        ),
    ],
)
def test_the_pipeline_alias_kedro_env_and_conf_source_are_checked_too(
    in_project, monkeypatch, args, variables, expected
):
    (in_project.path / "x").mkdir()
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    result = _invoke(*(arg.format(project=in_project.path) for arg in args), env=None)
    assert result.exit_code == 1, result.output[-3000:]
    assert expected.format(project=in_project.path) in result.output
    assert _written(in_project) == []


@pytest.mark.parametrize(
    ("file", "text", "expected"),
    [
        (
            "test/parameters_vanishing_gradient.yml",
            "vanishing_gradient:\n  n_units: [3\n",
            "YAML syntax error in {conf}/test/parameters_vanishing_gradient.yml, line 3, column 1",
        ),
        ("base/parameters_dropout.yml", None, "dropout.data = missing: Field required"),
        ("test/resources.yml", "resources:\n  memory_mb: -1\n", "resources.memory_mb = -1"),
        (
            "test/tensorflow.yml",
            "tensorflow:\n  deterministic_ops: sometimes\n",
            "Error: TensorFlowSettingsError: Invalid TensorFlow settings in "
            "conf/<env>/tensorflow.yml:\n  - tensorflow.deterministic_ops = 'sometimes'",
        ),
        (
            "test/mlflow.yml",
            "enabled: false\n",
            "Error: MlflowSettingsError: Invalid conf/<env>/mlflow.yml:\n  - enabled = False: not "
            "a block of this file; its settings go under `mlflow:`",
        ),
    ],
)
def test_a_mistake_in_conf_is_one_message_naming_the_file_or_key(tmp_path, file, text, expected):
    project = copy_project(tmp_path / "project")
    if text is None:
        (project.path / "conf" / file).unlink()
    else:
        project.write_conf(file, text)
    returned, output = _kedro(project, "--pipelines", "vanishing_gradient")
    assert returned == 1, output[-3000:]
    assert expected.format(conf=project.path / "conf") in output
    assert "Traceback" not in output
    assert _written(project) == []


def test_missing_transfer_weights_are_one_message(tmp_path):
    project = copy_project(tmp_path / "project")
    missing = tmp_path / "nowhere" / "weights.h5"
    returned, output = _kedro(
        project, "--pipelines", "transfer", "--params", f"transfer.base_model.weights={missing}"
    )
    assert returned == 1, output[-3000:]
    assert f"Error: MissingWeightsError: Weights file not found: {missing}" in output
    assert "kedro run --env offline --pipelines transfer" in output  # the remedies follow
    assert "Traceback" not in output


BUGGY_RUN = """
import sys
from dnn_pipelines import hooks
from kedro.framework.cli.cli import main

def check_budget(*args, **kwargs):
    raise {error}("a bug in the project's code")

hooks.check_budget = check_budget  # called by every run, before any node
sys.argv = ["kedro", "run", "--env", "test", "--pipelines", "vanishing_gradient"]
main()
"""


@pytest.mark.parametrize("error", ["RuntimeError", "ValueError", "KeyError"])
def test_a_bug_keeps_its_traceback(tmp_path, error):
    """Not a user's mistake: the real CLI shows where it happened."""
    project = copy_project(tmp_path / "project")
    result = subprocess.run(
        [sys.executable, "-c", BUGGY_RUN.format(error=error)],
        cwd=project.path,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback (most recent call last)" in result.stderr
    assert "in check_budget" in result.stderr  # the frame of the bug
    assert f"{error}: " in result.stderr.splitlines()[-1]
    assert "a bug in the project's code" in result.stderr.splitlines()[-1]
    assert not any(line.startswith("Error: ") for line in result.stderr.splitlines())


def test_a_data_folder_that_cannot_hold_the_run_is_one_message(tmp_path):
    project = copy_project(tmp_path / "project")
    tracking = project.data / "09_tracking"
    tracking.mkdir(parents=True)
    (tracking / "run_manifest.json").write_text("not a folder")
    returned, output = _kedro(project, "--pipelines", "vanishing_gradient")
    assert returned == 1
    assert "RunStorageError: Cannot record the run" in output
    assert "Traceback" not in output
    assert _written(project) == ["09_tracking", "09_tracking/run_manifest.json"]


def test_a_tensorflow_run_prints_no_native_noise_and_still_its_errors(tmp_path):
    """TensorFlow's absl log (cuInit, oneDNN) is filtered; Python's stderr is not."""
    project = copy_project(tmp_path / "project")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return kedro_run(
            project, "--env", "test", "--pipelines", "dropout", *args, without=(TF_LOG_LEVEL,)
        )

    first = run()
    assert first.returncode == 0, first.stderr[-3000:]
    assert first.stderr == ""  # stdout holds the run log; nothing else on stderr
    [dataset] = (project.data / "01_raw/dropout/dataset.npz").glob("*/dataset.npz")
    dataset.write_bytes(b"PK\x03\x04 truncated")
    failed = run("--from-nodes", "dropout.plot_dataset")
    assert failed.returncode == 1
    assert "Error: DatasetError" in failed.stderr and "truncated or corrupt" in failed.stderr
    assert "cuInit" not in failed.stderr and "absl" not in failed.stderr


def test_parallel_runner_workers_print_no_native_noise(tmp_path):
    """The workers inherit the filtered descriptor 2 of the process that starts them."""
    project = copy_project(tmp_path / "project")
    result = kedro_run(
        project,
        *("--env", "test", "--pipelines", "dropout", "--runner", "ParallelRunner"),
        without=(TF_LOG_LEVEL,),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "parallel_runner.py" in result.stdout  # the nodes ran in worker processes
    assert result.stderr == ""


def test_a_run_started_in_a_subfolder_logs_with_the_projects_config(tmp_path):
    """Kedro looks for conf/logging.yml in the working directory only."""
    project = copy_project(tmp_path / "project")
    subfolder = project.path / "notebooks"
    subfolder.mkdir()
    result = kedro_run(project, "--env", "test", "--pipelines", "vanishing_gradient", cwd=subfolder)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Completed node: vanishing_gradient.backward_pass" in result.stdout
    assert "Loading data from" not in result.stdout  # kedro.io is WARNING in conf/logging.yml
    assert "Saving data to" not in result.stdout


# In-process: the same wrapper, called through click's CliRunner (and so visible to mutmut).


@pytest.fixture
def in_project(tmp_path, monkeypatch):
    """A project copy, bootstrapped and made the working folder, as `kedro` does."""
    from kedro.framework.startup import bootstrap_project  # noqa: PLC0415

    project = copy_project(tmp_path / "project")
    monkeypatch.chdir(project.path)
    monkeypatch.setenv("KEDRO_DISABLE_TELEMETRY", "1")
    bootstrap_project(project.path)
    return project


def _invoke(*args, env: str | None = "test"):
    """`kedro run --env <env> <args>` in process (no `--env` when env is None)."""
    from click.testing import CliRunner  # noqa: PLC0415

    from dnn_pipelines.cli import cli  # noqa: PLC0415

    return CliRunner().invoke(cli, ["run", *(["--env", env] if env else []), *args])


def test_in_process_a_user_error_ends_as_one_click_message(in_project):
    result = _invoke(
        "--pipelines", "vanishing_gradient", "--params", "vanishing_gradient.n_layers=0"
    )
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # click's exit, not a traceback
    assert "\nError: ParameterTreeError: " in result.output
    assert "Traceback" not in result.output
    assert "vanishing_gradient.n_layers = 0: Input should be greater than or equal to 1" in (
        result.output
    )
    assert _written(in_project) == []


@pytest.mark.parametrize("error", [RuntimeError, ValueError, KeyError])
def test_in_process_a_bug_keeps_its_exception(in_project, monkeypatch, error):
    from dnn_pipelines import hooks  # noqa: PLC0415

    def check_budget(*args, **kwargs):
        raise error("a bug in the project's code")

    monkeypatch.setattr(hooks, "check_budget", check_budget)
    result = _invoke("--pipelines", "vanishing_gradient")
    assert type(result.exception) is error  # propagated as is: its traceback is kept
    assert "a bug in the project's code" in str(result.exception)
    assert "Error:" not in result.output


def test_in_process_ctrl_c_exits_130_and_the_manifest_says_interrupted(in_project, monkeypatch):
    from dnn_pipelines.datasets import atomic  # noqa: PLC0415
    from dnn_pipelines.tracking.store import manifest_versions, read_manifest  # noqa: PLC0415

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic, "publish", interrupt)  # Ctrl-C at the first save
    result = _invoke("--pipelines", "vanishing_gradient")
    assert result.exit_code == 130
    assert result.stderr.splitlines()[-1] == (
        "Interrupted: the run manifest records what was saved so far."
    )
    assert "Interrupted" not in result.stdout
    [version] = manifest_versions(in_project.path)
    manifest = read_manifest(in_project.path, version)
    assert manifest["status"] == "interrupted"
    assert manifest["outputs"] == {}


def test_in_process_the_traceback_switch_keeps_a_user_errors_traceback(in_project, monkeypatch):
    monkeypatch.setenv("DNN_PIPELINES_TRACEBACK", "1")
    result = _invoke(
        "--pipelines", "vanishing_gradient", "--params", "vanishing_gradient.n_layers=0"
    )
    assert type(result.exception).__name__ == "ParameterTreeError"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "vanishing_gradient:\n  n_layers: [1, 2\n",
            "line 3, column 1: did not find expected ',' or ']' (while parsing a flow sequence).",
        ),
        (
            "vanishing_gradient: n_layers: 3\n",
            "line 1, column 29: mapping values are not allowed in this context.",
        ),
    ],
)
def test_in_process_a_yaml_syntax_error_names_file_line_and_column(in_project, text, expected):
    broken = in_project.path / "conf" / "test" / "parameters_vanishing_gradient.yml"
    broken.write_text(text)
    result = _invoke("--pipelines", "vanishing_gradient")
    assert result.exit_code == 1
    assert result.stderr == f"Error: YAML syntax error in {broken}, {expected}\n"


def test_in_process_the_traceback_switch_keeps_a_yaml_errors_traceback(in_project, monkeypatch):
    monkeypatch.setenv("DNN_PIPELINES_TRACEBACK", "1")
    broken = in_project.path / "conf" / "test" / "parameters_vanishing_gradient.yml"
    broken.write_text("vanishing_gradient: n_layers: 3\n")
    result = _invoke("--pipelines", "vanishing_gradient")
    assert not isinstance(result.exception, SystemExit)
    assert "mapping values are not allowed in this context" in str(result.exception.__cause__)


def test_in_process_a_run_from_a_subfolder_checks_the_projects_envs(in_project, monkeypatch):
    (in_project.path / "notebooks").mkdir()
    monkeypatch.chdir(in_project.path / "notebooks")
    result = _invoke(
        "--pipelines", "vanishing_gradient", "--params", "vanishing_gradient.n_layers=0"
    )
    assert "Error: ParameterTreeError: " in result.stderr  # the env was found: conf/test
