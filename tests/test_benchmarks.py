"""benchmarks/: the lesson's own code runs as a script, and run.py reports both ratios.

The measurement itself takes minutes of both cores, so run.py is tested with its process
measurement replaced by fixed numbers; lesson_code.py runs for real on its cheap sections.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import matplotlib.image
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


@pytest.fixture
def run(monkeypatch) -> ModuleType:
    """benchmarks/run.py as a module (benchmarks/ is scripts, not a package)."""
    spec = importlib.util.spec_from_file_location("benchmarks_run", BENCHMARKS / "run.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_lesson_code_runs_the_cheap_sections_cells_and_saves_their_figures(tmp_path):
    sections = ["vanishing_gradient", "initialization"]
    script = str(BENCHMARKS / "lesson_code.py")
    result = subprocess.run(
        [sys.executable, "-X", "importtime", script, *sections, "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    # One figure for the gradient norms, one per weight matrix of the (20, 500, 100) network.
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "initialization_01.png",
        "initialization_02.png",
        "initialization_03.png",
        "initialization_04.png",
        "vanishing_gradient_01.png",
    ]
    image = matplotlib.image.imread(tmp_path / "vanishing_gradient_01.png")
    assert image.shape[:2] == (500, 1500)  # the lesson's matplotlib.rc figsize (15, 5)
    assert (image[..., :3] < 0.5).mean() > 0.005  # something is drawn: axes, ticks, the curve
    # A numpy section run alone is not charged TensorFlow's import.
    imported = {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()}
    assert "sklearn.neural_network" in imported
    assert "tensorflow" not in imported


def test_results_and_docs_table_report_the_pipeline_against_both_scripts(
    run, tmp_path, monkeypatch
):
    pipeline_wall = {"transfer": 30.0, "lesson": 60.0}
    wall = {"baseline": 100.0, "lesson_code": 120.0}
    calls = []

    def fake_measure_side(side: str, name: str) -> dict[str, float]:
        calls.append((side, name))
        seconds = pipeline_wall[name] if side == "pipeline" else wall[side]
        return {"wall_s": seconds, "cpu_s": seconds / 2, "peak_rss_mb": 1000.0}

    results, doc = tmp_path / "results", tmp_path / "benchmarks.md"
    results.mkdir()
    older = {  # a result from before the lesson-code side: one ratio list, one median
        "pipeline": {"wall_s": 5.0, "cpu_s": 5.0, "peak_rss_mb": 900.0},
        "baseline": {"wall_s": 100.0, "cpu_s": 90.0, "peak_rss_mb": 800.0},
        "ratios": [0.05, 0.05],
        "median_ratio": 0.05,
    }
    (results / "2000-01-01T00.00.00Z.json").write_text(json.dumps({"results": {"dropout": older}}))
    doc.write_text(f"intro\n{run.DOC_START}\nold table\n{run.DOC_END}\nafter\n")
    monkeypatch.setattr(run, "measure_side", fake_measure_side)
    monkeypatch.setattr(run, "RESULTS", results)
    monkeypatch.setattr(run, "DOC", doc)
    monkeypatch.setattr(
        sys,
        "argv",
        ["run.py", "--repeat", "2", "--sections", "transfer", "lesson", "--update-docs"],
    )

    run.main()

    round_ = [("pipeline", "transfer"), ("baseline", "transfer"), ("lesson_code", "transfer")]
    assert calls[:6] == round_ * 2  # interleaved A B C A B C
    written = json.loads(next(p for p in results.iterdir() if p.name[:4] != "2000").read_text())
    transfer = written["results"]["transfer"]
    assert transfer["median_ratio"] == pytest.approx({"baseline": 0.3, "lesson_code": 0.25})
    assert transfer["ratios"]["lesson_code"] == pytest.approx([0.25, 0.25])
    assert transfer["lesson_code"] == {"wall_s": 120.0, "cpu_s": 60.0, "peak_rss_mb": 1000.0}

    text = doc.read_text()
    assert text.startswith("intro\n") and text.endswith(f"{run.DOC_END}\nafter\n")
    assert "old table" not in text
    rows = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("|")}
    assert "pipeline / baseline" in rows["benchmark"]
    assert "pipeline / lesson code" in rows["benchmark"]
    assert "| 30.0, 100.0, 120.0 | **0.30** | **0.25** |" in rows["transfer"]
    assert "| ≤ 0.35x lesson code | yes |" in rows["transfer"]
    assert "| **0.60** | **0.50** |" in rows["lesson"]  # 60 / 120 against a goal of 0.25
    assert "| **no** |" in rows["lesson"]
    assert "| 5.0, 100.0, — | **0.05** | — |" in rows["dropout"]  # the older file
    assert "| not measured |" in rows["dropout"]


def test_the_pipeline_side_runs_in_a_project_whose_tracking_store_exists(run):
    project = run.project_copy()
    try:
        store = project / "data" / "09_tracking" / "mlflow.db"
        with sqlite3.connect(store) as db:
            tables = {row[0] for row in db.execute("select name from sqlite_master")}
        assert {"experiments", "runs", "metrics", "alembic_version"} <= tables
        assert (project / "conf" / "base" / "mlflow.yml").is_file()
        assert not (project / "conf" / "local" / "mlflow.yml").exists()  # no one's local conf
    finally:
        shutil.rmtree(project)
