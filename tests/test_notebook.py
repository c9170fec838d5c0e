"""notebooks/lesson.ipynb runs headless against the outputs of a run on conf/test."""

from __future__ import annotations

import shutil

import nbformat
from nbclient import NotebookClient

from tests.conftest import REPO, copy_project

LESSON_QUESTIONS = (  # the lesson's own questions that numbers answer
    "Does the forward code coincide with the algorithm studied in theory?",
    "Does the backward code coincide with the algorithm studied in theory?",
    "How much slower is the training of layer",
    "Does the resulting empirical distribution match the theoretical one?",
    "Which activation function works best?",
    "Can you distinguish the different distorting effects?",
    "What percentage of the NN parameters will be modified?",
    "How does the model perform?",
    "Did the fine tuning improve the results?",
    "What is the effect of the dropout?",
    "Is it helping to prevent over-fitting?",
)


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
    assert not [output for output in outputs if output.get("output_type") == "error"]
    logged = "".join(output.get("text", "") for output in outputs)
    assert "Loading data from" not in logged  # the project's conf/logging.yml, from notebooks/
    shown = "\n".join(answers)
    for question in LESSON_QUESTIONS:
        assert f"**{question}" in shown, question

    # The numbers shown are the run's, read here from its metrics files.
    gradient = project.load("vanishing_gradient_metrics")
    assert f"{gradient['slowdown_vs_output']:.3g} times" in shown
    activations = project.load("activations_metrics")
    best = max(activations, key=lambda name: activations[name]["test_accuracy"])
    accuracy = activations[best]["test_accuracy"]
    assert f"works best?** {best}: held-out accuracy {accuracy:.3f}" in shown
    transfer = project.load("transfer_metrics")
    frozen, tuned = transfer["frozen"]["val_accuracy"], transfer["fine_tuned"]["val_accuracy"]
    assert f"validation accuracy {frozen:.3f} with the base frozen, {tuned:.3f} after" in shown
    dropout = project.load("dropout_metrics").values()
    lowest = min(dropout, key=lambda metrics: metrics["true_mse"])
    no_dropout = next(metrics for metrics in dropout if metrics["rate"] == 0.0)
    if lowest["rate"] > 0:
        assert f"Yes: {lowest['rate']:.0%} dropout gives the lowest error" in shown
    else:
        assert f"No: no dropout rate beats {no_dropout['true_mse']:.3f}" in shown
    initialization = project.load("initialization_metrics")
    lowest_p = min(layer["ks_pvalue"] for layer in initialization["layers"])
    assert f"(lowest p-value {lowest_p:.3g}, layer" in shown
    augmentation = project.load("augmentation_metrics")["geometry_check"]
    assert f"{augmentation['n_measurements']} measurements of the rotations" in shown
