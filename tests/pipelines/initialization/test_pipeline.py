"""The initialization pipeline end to end on conf/test, run once per module."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from kedro.validation.exceptions import ParameterValidationError
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

from dnn_pipelines.parameters import Seed
from dnn_pipelines.pipelines.initialization.keras_initializers import (
    INITIALIZER_SPECS,
    draw_initializer_samples,
)
from dnn_pipelines.pipelines.initialization.params import InitializationParams
from dnn_pipelines.pipelines.initialization.pipeline import create_pipeline
from dnn_pipelines.pipelines.initialization.sklearn_weights import (
    sklearn_init_bound,
)
from tests.conftest import REPO, KedroProject, copy_project

# Kedro 1.7's validation reads `model_fields` on instances (its code, not ours).
pytestmark = pytest.mark.filterwarnings("ignore:Accessing the 'model_fields' attribute")

VERSIONED_OUTPUTS = {
    "01_raw/initialization/patterns.npz",
    "06_models/initialization/sklearn_weights.npz",
    "08_reporting/initialization/weight_statistics.csv",
    "08_reporting/initialization/weight_histograms.png",
    "08_reporting/initialization/metrics.json",
    "07_model_output/initialization/keras_samples.npz",
    "08_reporting/initialization/keras_statistics.csv",
    "08_reporting/initialization/keras_histograms.png",
    "07_model_output/initialization/variance_measured.csv",
    "07_model_output/initialization/variance_predicted.csv",
    "08_reporting/initialization/variance_ratios.csv",
    "08_reporting/initialization/variance_propagation.png",
    "08_reporting/initialization/beyond_metrics.json",
}


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> KedroProject:
    project = copy_project(tmp_path_factory.mktemp("initialization") / "project")
    project.run(["initialization"])
    return project


@pytest.fixture(scope="module")
def params(ran: KedroProject) -> InitializationParams:
    return ran.context().params["initialization"]


def test_every_output_is_written_versioned(ran):
    for relative in VERSIONED_OUTPUTS:
        folder = ran.data / relative
        versions = [path for path in folder.iterdir() if path.is_dir()]
        assert len(versions) == 1, relative
        written = versions[0] / Path(relative).name
        assert written.stat().st_size > 0, relative
        if written.suffix == ".png":
            assert written.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_one_namespace_with_top_level_metrics_and_a_catalog_entry_each(ran):
    """One kedro-viz group `initialization`; only the two metrics JSONs leave it by name."""
    pipeline = create_pipeline()
    assert {node.namespace for node in pipeline.nodes} == {"initialization"}
    assert all(node.name.startswith("initialization.") for node in pipeline.nodes)
    datasets = {name for name in pipeline.datasets() if not name.startswith("params:")}
    top_level = {"initialization_metrics", "initialization_beyond_metrics"}
    assert {name for name in datasets if not name.startswith("initialization.")} == top_level
    assert pipeline.inputs() == {"params:initialization", "params:seed"}
    assert datasets <= set(ran.context().config_loader["catalog"])
    faithful = pipeline.only_nodes_with_tags("faithful")
    assert not any("tensorflow" in node.tags for node in faithful.nodes)
    assert faithful.outputs() >= {"initialization_metrics", "initialization.weight_histograms"}


def test_weights_equal_an_independent_mlpclassifier(ran, params):
    mlp = params.mlp
    reference = MLPClassifier(
        hidden_layer_sizes=tuple(mlp.hidden_layer_sizes),
        activation=mlp.activation,
        max_iter=mlp.max_iter,
        learning_rate_init=mlp.learning_rate_init,
        random_state=123,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reference.fit(np.zeros((mlp.n_patterns, mlp.n_features)), np.zeros(mlp.n_patterns))
    weights = ran.load("initialization.sklearn_weights")
    assert len(weights) == 2 * len(reference.coefs_)
    for layer, coef in enumerate(reference.coefs_):
        np.testing.assert_array_equal(weights[f"coef_{layer}"], coef)
        np.testing.assert_array_equal(weights[f"intercept_{layer}"], reference.intercepts_[layer])


def test_statistics_and_metrics_answer_the_lesson(ran, params):
    table = ran.load("initialization.weight_statistics")
    metrics = ran.load("initialization_metrics")
    sizes = [params.mlp.n_features, *params.mlp.hidden_layer_sizes, 1]
    assert list(table["fan_in"]) == sizes[:-1]
    assert list(table["fan_out"]) == sizes[1:]
    expected = [
        sklearn_init_bound(a, b, params.mlp.activation) for a, b in itertools.pairwise(sizes)
    ]
    np.testing.assert_allclose(table["bound"], expected)
    assert [row["layer"] for row in metrics["layers"]] == [0, 1, 2, 3]
    assert all(isinstance(row["matches_uniform"], bool) for row in metrics["layers"])
    assert [row["matches_uniform"] for row in metrics["layers"]] == list(table["matches_uniform"])
    assert metrics["layers"][2]["ks_pvalue"] == pytest.approx(table.loc[2, "ks_pvalue"])
    assert metrics["bound_rule"] == "sqrt(6 / (fan_in + fan_out))"
    assert metrics["all_layers_match_uniform"] == bool(table["matches_uniform"].all())


def test_keras_samples_follow_their_laws_and_are_reproducible(ran, params):
    samples = ran.load("initialization.keras_samples")
    weights = ran.load("initialization.sklearn_weights")
    table = ran.load("initialization.keras_statistics")
    assert len(table) == len(params.keras.initializers) * 4
    for row in table.itertuples():
        values = samples[f"{row.initializer}__{row.layer}"]
        assert values.shape == weights[f"coef_{row.layer}"].shape
        assert np.abs(values).max() <= row.support_bound
    big = table[table["n_weights"] >= 1000]
    assert big["matches_theory"].all()
    np.testing.assert_allclose(big["std"], big["theoretical_std"], rtol=0.03)
    # Without Keras' 1/0.8796 correction the std would be 12 % low: detectable on 5000+ weights.
    truncated = big[(big["distribution"] == "truncated_normal") & (big["n_weights"] >= 5000)]
    assert len(truncated) > 0
    assert (truncated["ks_pvalue_without_std_correction"] < 1e-3).all()
    redrawn = draw_initializer_samples(weights, params, Seed(123))
    assert redrawn.keys() == samples.keys()
    for key, value in samples.items():
        np.testing.assert_array_equal(redrawn[key], value)


def test_forward_propagation_matches_the_closed_form(ran, params):
    ratios = ran.load("initialization.variance_ratios").set_index(["activation", "initializer"])
    forward = params.forward
    assert len(ratios) == len(forward.activations) * len(forward.initializers)
    tolerance = 3 * math.sqrt(2 * forward.depth / forward.width)
    for key, row in ratios.iterrows():
        assert abs(math.log(row.measured_ratio / row.predicted_ratio)) < tolerance, key
    assert ratios.loc[("relu", "he_normal"), "predicted_ratio"] == pytest.approx(1.0)
    assert ratios.loc[("relu", "glorot_uniform"), "predicted_ratio"] == pytest.approx(
        0.5 ** (forward.depth - 1)
    )
    assert ratios.loc[("relu", "he_normal"), "regime"] == "stable"
    assert ratios.loc[("relu", "glorot_uniform"), "regime"] == "vanishing"
    assert ratios.loc[("tanh", "random_uniform"), "regime"] == "vanishing"
    measured = ran.load("initialization.variance_measured")
    assert len(measured) == len(ratios) * forward.depth


def test_beyond_metrics_summarise_both_experiments(ran, params):
    metrics = ran.load("initialization_beyond_metrics")
    assert len(metrics["keras_initializers"]) == len(params.keras.initializers) * 4
    forward = metrics["forward_propagation"]
    assert forward["depth"] == params.forward.depth
    assert {row["regime"] for row in forward["ratios"]} <= {"vanishing", "stable", "exploding"}
    uniform_rows = [
        row for row in metrics["keras_initializers"] if row["distribution"] == "uniform"
    ]
    assert all(row["ks_pvalue_without_std_correction"] is None for row in uniform_rows)


def test_specs_are_keras_own_definitions(ran):
    """Our theoretical laws read Keras' configuration, not our memory of it."""
    import keras  # noqa: PLC0415

    for name, spec in INITIALIZER_SPECS.items():
        initializer = keras.initializers.get(name)
        config = initializer.get_config()
        if spec.fixed_variance is None:
            assert isinstance(initializer, keras.initializers.VarianceScaling), name
            assert initializer.distribution == spec.distribution, name
            assert initializer.scale == spec.scale, name
            assert initializer.mode == spec.mode, name
        elif spec.distribution == "uniform":
            assert config["maxval"] == -config["minval"], name
            assert config["maxval"] ** 2 / 3 == pytest.approx(spec.fixed_variance), name
        else:
            assert config["stddev"] ** 2 == pytest.approx(spec.fixed_variance), name


@pytest.mark.parametrize(
    ("bad_yaml", "message"),
    [
        ("mlp:\n    activation: sigmoid", "mlp.activation"),
        ("mlp:\n    hidden_layer_sizes: [8, -1]", "mlp.hidden_layer_sizes[1]"),
        ("keras:\n    initializers: [glorot_uniform, xavier]", "keras.initializers[1]"),
        ("forwrd:\n    depth: 3", "forwrd"),
    ],
)
def test_bad_parameters_stop_the_run_before_any_node(project, bad_yaml, message):
    project.write_conf("test/parameters_initialization.yml", f"initialization:\n  {bad_yaml}\n")
    with pytest.raises(ParameterValidationError, match=message.replace("[", r"\[")):
        project.run(["initialization"])
    assert not project.data.exists() or not any(p.is_file() for p in project.data.rglob("*"))


def test_faithful_part_runs_without_tensorflow(tmp_path):
    """`--tags faithful`: the scikit-learn part alone never imports TensorFlow or Keras."""
    project = copy_project(tmp_path / "project")
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(REPO)!r})
        from tests.conftest import KedroProject
        KedroProject({str(project.path)!r}).run(["initialization"], tags=["faithful"])
        loaded = sorted(m for m in ("tensorflow", "keras") if m in sys.modules)
        assert not loaded, loaded
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert any((project.data / "08_reporting/initialization/metrics.json").iterdir())
    assert not (project.data / "07_model_output/initialization/keras_samples.npz").exists()
