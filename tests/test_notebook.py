"""notebooks/lesson.ipynb runs headless against the outputs of a run on conf/test."""

from __future__ import annotations

import shutil

import nbformat
from nbclient import NotebookClient

from tests.conftest import REPO, copy_project


def test_the_lesson_notebook_runs_on_the_catalog(tmp_path, monkeypatch):
    project = copy_project(tmp_path / "project")
    project.run()  # every pipeline, conf/test
    project.run(["transfer_from_scratch"])  # the opt-in comparison the notebook shows too
    notebooks = project.path / "notebooks"
    notebooks.mkdir()
    shutil.copy2(REPO / "notebooks" / "lesson.ipynb", notebooks / "lesson.ipynb")

    monkeypatch.setenv("KEDRO_ENV", "test")
    monkeypatch.setenv("KEDRO_DISABLE_TELEMETRY", "1")
    notebook = nbformat.read(notebooks / "lesson.ipynb", as_version=4)
    NotebookClient(
        notebook,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(notebooks)}},
    ).execute()  # raises CellExecutionError on the first failing cell

    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    images = [output for output in outputs if "image/png" in output.get("data", {})]
    answers = [
        output["data"]["text/markdown"]
        for output in outputs
        if "text/markdown" in output.get("data", {})
    ]
    assert len(images) >= 13
    assert len(answers) >= 6  # one measured answer per lesson question block
    assert not [output for output in outputs if output.get("output_type") == "error"]
