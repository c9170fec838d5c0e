"""The run's closing answers and the env's page of newest results."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from dnn_pipelines import answers
from tests.conftest import KedroProject, chromium, copy_project, kedro_run, screenshot, served

ARTIFACTS = Path(__file__).parent / "artifacts"


def rate(value: float, train: float, true: float, noise: float = 1.0) -> dict[str, float]:
    return {"rate": value, "train_mse": train, "noise_mse": noise, "true_mse": true}


def test_dropout_answers_follow_the_numbers():
    helps = {
        "0.0": rate(0.0, train=0.6, true=0.30),
        "0.4": rate(0.4, train=1.1, true=0.10),
        "0.8": rate(0.8, train=4.0, true=2.50),
    }
    (_, effect), (_, prevention) = answers.dropout(helps)
    assert effect == (
        "Without dropout the training MSE is 0.600, below the noise's own 1.000: the network "
        "fits the noise. At 80% the error against the true curve rises to 2.500: too much "
        "dropout under-fits."
    )
    assert prevention == (
        "Yes: 40% dropout gives the lowest error against the true curve, 0.100 against 0.300 "
        "without dropout."
    )
    no_help = {"0.0": rate(0.0, train=1.2, true=0.05), "0.5": rate(0.5, train=1.3, true=0.07)}
    (_, effect), (_, prevention) = answers.dropout(no_help)
    assert effect == (
        "Without dropout the training MSE is 1.200, not below the noise's own 1.000. At 50% the "
        "error against the true curve rises to 0.070: too much dropout under-fits."
    )
    assert prevention == "No: no dropout rate beats 0.050, the error without dropout."


def test_the_backward_answer_is_no_when_the_lesson_formula_is_off():
    check = {
        "checked_layers": [48, 49, 50],
        "lesson_relative_error": 1.22,
        "exact_relative_error": 3e-9,
    }
    forward, backward = answers.backward_theory(check)
    assert forward[1].startswith("Yes: a_l = W_l o_(l-1) and o_l = g(a_l), without biases")
    assert backward[1] == (
        "No: on layers 48, 49, 50, the lesson's formula is 1.22 (relative) away from finite "
        "differences of the loss; backpropagation, d_(l-1) = g'(a_(l-1)) * (W_l^T d_l), is "
        "3e-09 away."
    )
    close = check | {"lesson_relative_error": 2e-5}
    assert answers.backward_theory(close)[1][1].startswith("Yes: on layers 48, 49, 50")


def test_the_best_activation_is_the_best_on_held_out_points_not_on_training():
    metrics = {
        "tanh": {"train_accuracy": 1.0, "test_accuracy": 0.90},
        "relu": {"train_accuracy": 0.95, "test_accuracy": 0.93},
    }
    [(question, answer)] = answers.activations(metrics)
    assert question == "Which activation function works best?"
    assert answer == "relu: held-out accuracy 0.930 (training 0.950); tanh 0.900."


def test_initialization_names_the_layer_that_rejects_the_uniform_law():
    metrics = {
        "alpha": 0.05,
        "all_layers_match_uniform": False,
        "layers": [{"layer": 0, "ks_pvalue": 0.4}, {"layer": 1, "ks_pvalue": 0.001}],
    }
    [(_, answer)] = answers.initialization(metrics)
    assert answer == (
        "No: at alpha = 0.05, the Kolmogorov-Smirnov test rejects the uniform law U(-b, b) for "
        "some layer (lowest p-value 0.001, layer 1)."
    )


def test_transfer_says_when_fine_tuning_did_not_help():
    metrics = {
        "frozen": {"val_accuracy": 0.9},
        "fine_tuned": {"val_accuracy": 0.85},
        "fine_tuning_gain": -0.05,
        "trainable_fraction_frozen": 20_490 / 20_881_970,
        "trainable_params_frozen": 20_490,
        "total_params": 20_881_970,
    }
    fraction, performance, improved = answers.transfer(metrics)
    assert fraction[1] == "0.098 % (20,490 of 20,881,970) while the base is frozen."
    assert performance[1] == (
        "validation accuracy 0.900 with the base frozen, 0.850 after fine tuning."
    )
    assert improved[1] == "No: -0.050 validation accuracy."


def run(project: KedroProject, env: str, *args: str) -> str:
    result = kedro_run(project, "--env", env, "--pipelines", "vanishing_gradient", *args)
    assert result.returncode == 0, result.stderr[-3000:]
    return " ".join(result.stdout.split())


def metrics_of(project: KedroProject, version: str) -> dict:
    path = project.data / "08_reporting/vanishing_gradient/vanishing_gradient_metrics.json"
    return json.loads((path / version / "vanishing_gradient_metrics.json").read_text())


def versions(project: KedroProject) -> list[str]:
    return sorted(p.name for p in (project.data / "09_tracking/run_manifest.json").iterdir())


@pytest.fixture(scope="module")
def two_envs(tmp_path_factory) -> tuple[KedroProject, list[str], list[str]]:
    """A run in env test, then one in env other (seed 7): logs and save versions."""
    project = copy_project(tmp_path_factory.mktemp("summary") / "project")
    shutil.copytree(project.path / "conf" / "test", project.path / "conf" / "other")
    logs = [run(project, "test"), run(project, "other", "--params", "seed=7")]
    return project, logs, versions(project)


def test_every_run_ends_with_the_answers_of_its_own_numbers(two_envs):
    project, logs, runs = two_envs
    for log, version in zip(logs, runs, strict=True):
        metrics = metrics_of(project, version)
        layer, slowdown = metrics["compare_layer"], metrics["slowdown_vs_output"]
        assert "The lesson's questions, answered by this run:" in log
        assert (
            f"How much slower is the training of layer {layer} than that of the output layer? "
            f"{slowdown:.3g} times" in log
        )
    assert metrics_of(project, runs[0]) != metrics_of(project, runs[1])  # seeds 123 and 7


def test_each_env_has_a_page_of_its_own_newest_results(two_envs):
    project, logs, runs = two_envs
    assert "Newest figures and answers of env 'test': data/08_reporting/latest/test.html" in logs[0]
    for env, version, other in (("test", runs[0], runs[1]), ("other", runs[1], runs[0])):
        page = (project.data / "08_reporting/latest" / f"{env}.html").read_text()
        assert f"run {version}" in page and f"run {other}" not in page
        slowdown = metrics_of(project, version)["slowdown_vs_output"]
        assert f"{slowdown:.3g} times" in page
        sources = [part.split('"')[0] for part in page.split('<img src="')[1:]]
        assert len(sources) == 2  # the gradient norms and the grid comparison
        assert page.count("<h2>vanishing_gradient</h2>") == 1  # grouped by section folder
        for source in sources:
            assert (project.data / "08_reporting/latest" / source).resolve().is_file(), source


def test_the_page_shows_its_figures_in_chromium(two_envs, tmp_path):
    chromium()
    project, _, _ = two_envs
    with served(project.path) as (port, log):
        url = f"http://127.0.0.1:{port}/data/08_reporting/latest/test.html"
        screenshot(url, ARTIFACTS / "latest_page.png", tmp_path / "chrome", size="1280,2400")
    assert '"GET /data/08_reporting/latest/test.html HTTP/1.1" 200' in log[0]
    assert log[0].count('.png HTTP/1.1" 200') == 2  # both figures loaded


def test_a_manifest_entry_of_an_unversioned_dataset_is_its_file_itself(tmp_path):
    from dnn_pipelines.tracking.store import output_file  # noqa: PLC0415

    versioned = {"filepath": "data/08_reporting/x.json", "version": "2026-11-30T08.00.00.000Z"}
    assert output_file(tmp_path, versioned) == (
        tmp_path / "data/08_reporting/x.json/2026-11-30T08.00.00.000Z/x.json"
    )
    assert output_file(tmp_path, versioned | {"version": None}) == (
        tmp_path / "data/08_reporting/x.json"
    )
