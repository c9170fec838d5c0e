"""The registry: six lesson pipelines, `__default__` runs them all, TensorFlow only where tagged."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

LESSON = {
    "vanishing_gradient",
    "initialization",
    "activations",
    "augmentation",
    "transfer",
    "dropout",
}
OPT_IN = {"transfer_from_scratch", "sweep_report"}
KEDRO = str(Path(sys.executable).with_name("kedro"))


def _kedro(project, *args, env=None):
    return subprocess.run(
        [KEDRO, *args],
        cwd=project.path,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "COLUMNS": "250", **(env or {})},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def test_every_lesson_section_is_a_pipeline_and_default_runs_them_all(registered_pipelines):
    registered = registered_pipelines
    assert set(registered) == LESSON | OPT_IN | {"__default__"}
    every_node = set().union(*(registered[name].nodes for name in LESSON))
    assert set(registered["__default__"].nodes) == every_node


def test_kedro_registry_list_shows_the_pipelines(project):
    result = _kedro(project, "registry", "list")
    assert result.returncode == 0, result.stderr
    for name in LESSON:
        assert f"- {name}" in result.stdout


def test_only_tensorflow_tagged_nodes_are_the_tensorflow_ones(registered_pipelines):
    registered = registered_pipelines
    """Pipelines of numpy and scikit-learn carry no `tensorflow` tag at all."""
    for name in ("vanishing_gradient", "activations"):
        assert not any("tensorflow" in node.tags for node in registered[name].nodes)
    for name in ("augmentation", "transfer", "dropout"):
        assert any("tensorflow" in node.tags for node in registered[name].nodes)


def test_numpy_and_sklearn_nodes_run_where_tensorflow_cannot_be_imported(project, tmp_path):
    """A `tensorflow` package that fails on import shadows the real one."""
    blocker = tmp_path / "blocker"
    for package in ("tensorflow", "keras"):
        (blocker / package).mkdir(parents=True)
        (blocker / package / "__init__.py").write_text(
            f"raise ImportError('{package} is blocked in this test')\n"
        )
    env = {"PYTHONPATH": str(blocker)}
    for args in (
        ["run", "--env", "test", "--pipelines", "vanishing_gradient,activations"],
        ["run", "--env", "test", "--pipelines", "initialization", "--tags", "faithful"],
    ):
        result = _kedro(project, *args, env=env)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert "Pipeline execution completed successfully" in result.stdout + result.stderr
