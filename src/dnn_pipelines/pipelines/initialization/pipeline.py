"""The initialization DAG: the lesson's faithful part, then Keras' initializers and depth.

Everything lives in namespace `initialization`, one collapsible kedro-viz group: inner names
are short (`patterns`, `make_patterns`) and become `initialization.patterns`,
`initialization.make_patterns`; only the two metrics JSONs keep their top-level names
(`initialization_metrics`, `initialization_beyond_metrics`), mapped out with `outputs=`.
The whole `params:initialization` and the global `params:seed` are mapped through as they are.

Tags: `faithful` (scikit-learn, never TensorFlow), `beyond` (Keras comparison and the
forward-propagation experiment) and `tensorflow` on the two nodes that draw with Keras.
`kedro run --pipelines initialization --tags faithful` therefore never imports TensorFlow.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from dnn_pipelines.pipelines.initialization.nodes import (
    build_mlp_classifier,
    draw_deep_network_weights,
    draw_initializer_samples,
    extract_weights,
    initializer_statistics,
    make_zero_patterns,
    plot_initializer_histograms,
    plot_variance_propagation,
    plot_weight_histograms,
    predict_variance,
    propagate_variance,
    summarise_beyond,
    summarise_uniform_fit,
    train_one_step,
    uniform_weight_statistics,
    variance_ratios,
)

TOPIC = "initialization"
PARAMS = f"params:{TOPIC}"
SEED = "params:seed"


def faithful_pipeline() -> Pipeline:
    """Dataset -> MLPClassifier -> one step -> weights -> KS statistics -> histograms, metrics."""
    return Pipeline(
        [
            Node(make_zero_patterns, PARAMS, "patterns", name="make_patterns"),
            Node(build_mlp_classifier, [PARAMS, SEED], "mlp", name="build_mlp"),
            Node(train_one_step, ["mlp", "patterns"], "fitted_mlp", name="train_one_step"),
            Node(extract_weights, "fitted_mlp", "sklearn_weights", name="extract_weights"),
            Node(
                uniform_weight_statistics,
                ["sklearn_weights", PARAMS],
                "weight_statistics",
                name="compute_weight_statistics",
            ),
            Node(
                plot_weight_histograms,
                ["sklearn_weights", "weight_statistics", PARAMS],
                "weight_histograms",
                name="plot_weight_histograms",
            ),
            Node(
                summarise_uniform_fit,
                ["weight_statistics", PARAMS, SEED],
                "metrics",
                name="summarise_metrics",
            ),
        ],
        tags=["faithful"],
    )


def keras_initializers_pipeline() -> Pipeline:
    """Keras' initializers drawn for the MLP's kernel shapes, tested against their laws."""
    return Pipeline(
        [
            Node(
                draw_initializer_samples,
                ["sklearn_weights", PARAMS, SEED],
                "keras_samples",
                name="draw_keras_samples",
                tags=["tensorflow"],
            ),
            Node(
                initializer_statistics,
                ["keras_samples", PARAMS],
                "keras_statistics",
                name="test_keras_samples",
            ),
            Node(
                plot_initializer_histograms,
                ["keras_samples", "keras_statistics", PARAMS],
                "keras_histograms",
                name="plot_keras_histograms",
            ),
        ],
        tags=["beyond"],
    )


def forward_propagation_pipeline() -> Pipeline:
    """Deep-network weights (Keras) -> numpy forward pass vs closed form -> ratios, plot."""
    return Pipeline(
        [
            Node(
                draw_deep_network_weights,
                [PARAMS, SEED],
                "deep_weights",
                name="draw_deep_weights",
                tags=["tensorflow"],
            ),
            Node(
                propagate_variance,
                ["deep_weights", PARAMS, SEED],
                "variance_measured",
                name="propagate_variance",
            ),
            Node(predict_variance, PARAMS, "variance_predicted", name="predict_variance"),
            Node(
                variance_ratios,
                ["variance_measured", "variance_predicted", PARAMS],
                "variance_ratios",
                name="compute_variance_ratios",
            ),
            Node(
                plot_variance_propagation,
                ["variance_measured", "variance_predicted", PARAMS],
                "variance_propagation",
                name="plot_variance_propagation",
            ),
            Node(
                summarise_beyond,
                ["keras_statistics", "variance_ratios", PARAMS],
                "beyond_metrics",
                name="summarise_beyond",
            ),
        ],
        tags=["beyond"],
    )


def create_pipeline(**kwargs: object) -> Pipeline:
    """The whole section in one namespace: faithful part, Keras initializers, depth."""
    return Pipeline(
        faithful_pipeline() + keras_initializers_pipeline() + forward_propagation_pipeline(),
        namespace=TOPIC,
        parameters={PARAMS: PARAMS, SEED: SEED},
        outputs={"metrics": f"{TOPIC}_metrics", "beyond_metrics": f"{TOPIC}_beyond_metrics"},
    )
