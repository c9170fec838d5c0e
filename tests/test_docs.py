"""The docs site: builds strictly, and renders in headless Chromium with its figures."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import chromium, screenshot, served

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [str(BIN / "mkdocs"), "build", "--strict", "-q", "-d", str(folder)],
        cwd=REPO,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return folder


def test_parameter_tables_come_from_the_models(site):
    from dnn_pipelines.pipelines.dropout.params import DropoutBlock, TrainingParams  # noqa: PLC0415

    page = (site / "parameters" / "index.html").read_text()
    for name in DropoutBlock.model_fields:
        assert f"dropout.{name}</code>" in page
    for name in TrainingParams.model_fields:
        assert f"dropout.training.{name}</code>" in page


def test_the_site_renders_in_chromium_with_its_figures(site, tmp_path):
    chromium()  # skip (fail in CI) before starting anything when there is none
    with served(site) as (port, log):
        for page, shot in (("", "docs_home.png"), ("pipelines/dropout/", "docs_dropout.png")):
            url = f"http://127.0.0.1:{port}/{page}"
            screenshot(url, ARTIFACTS / shot, tmp_path / "chrome", size="1280,2400")
            assert (ARTIFACTS / shot).stat().st_size > 30_000, shot
    assert '"GET /pipelines/dropout/ HTTP/1.1" 200' in log[0]
    assert '"GET /images/dropout_loss.png HTTP/1.1" 200' in log[0]  # the figure loaded


def test_the_site_shows_the_lesson_executed_with_every_answer(site):
    from tests.test_notebook import LESSON_QUESTIONS  # noqa: PLC0415

    page = (site / "lesson" / "index.html").read_text()
    assert page.count("data:image/") >= 13  # the figures, embedded
    for question in LESSON_QUESTIONS:
        assert question in page, question


def test_the_executed_lesson_is_the_current_notebook():
    """docs/lesson.ipynb is regenerated (tools/execute_lesson.py) whenever a cell changes."""
    import nbformat  # noqa: PLC0415

    executed, source = (
        nbformat.read(REPO / path, as_version=4)
        for path in ("docs/lesson.ipynb", "notebooks/lesson.ipynb")
    )
    assert [cell.source for cell in executed.cells] == [cell.source for cell in source.cells]
    assert all(cell.get("execution_count") for cell in executed.cells if cell.cell_type == "code")
