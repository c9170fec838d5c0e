"""The activations DAG: the illustration, the moons, one namespaced fit per activation.

Everything lives in namespace `activations` (one kedro-viz group; `params:x` reads
`activations.x`). Inside it, `instance(name)` is the single definition of a fit, used once
per activation scikit-learn offers, in namespace `activations.<name>`: four collapsible
groups whose nodes share no outputs, so ParallelRunner fits them side by side.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from dnn_pipelines.pipelines.activations.nodes import (
    activation_curves,
    activation_derivatives,
    build_classifier,
    collect_metrics,
    evaluate_classifier,
    make_held_out_moons,
    make_moons_dataset,
    plot_activation_curves,
    plot_comparison,
    plot_decision_regions,
    plot_loss_curves,
    plot_moons,
    train_classifier,
)
from dnn_pipelines.pipelines.activations.params import ACTIVATIONS

TOPIC = "activations"


def illustration() -> Pipeline:
    """The 1-unit regressors drawn as curves, their derivatives, the figure."""
    return Pipeline(
        [
            Node(
                activation_curves,
                ["params:illustration", "params:seed"],
                "curves",
                name="activation_curves",
            ),
            Node(activation_derivatives, "curves", "derivatives", name="activation_derivatives"),
            Node(
                plot_activation_curves,
                ["curves", "derivatives"],
                "illustration",
                name="plot_activation_curves",
            ),
        ]
    )


def datasets() -> Pipeline:
    """The lesson's training moons and a fresh held-out sample of the same distribution."""
    return Pipeline(
        [
            Node(
                make_moons_dataset,
                ["params:moons", "params:seed"],
                "moons",
                name="make_moons_dataset",
            ),
            Node(plot_moons, "moons", "moons_plot", name="plot_moons"),
            Node(
                make_held_out_moons,
                ["params:moons", "params:held_out", "params:seed"],
                "held_out",
                name="make_held_out_moons",
            ),
        ]
    )


def instance(name: str) -> Pipeline:
    """Build, train, evaluate and plot one MLPClassifier, in namespace `<name>`."""
    fit = Pipeline(
        [
            Node(
                build_classifier,
                ["params:classifier", "params:instance", "params:seed"],
                "model_spec",
                name="build_classifier",
            ),
            Node(
                train_classifier,
                ["model_spec", "moons", "params:fit"],
                ["model_arrays", "training"],
                name="train_classifier",
            ),
            Node(
                evaluate_classifier,
                ["model_spec", "model_arrays", "training", "moons", "held_out"],
                "metrics",
                name="evaluate_classifier",
            ),
            Node(
                plot_decision_regions,
                ["model_spec", "model_arrays", "moons", "metrics"],
                "decision_regions",
                name="plot_decision_regions",
            ),
        ]
    )
    return Pipeline(
        fit,
        namespace=name,
        inputs={"moons", "held_out"},
        parameters={
            "params:seed": "params:seed",
            "params:classifier": "params:classifier",
            "params:fit": "params:fit",
            "params:instance": f"params:instances.{name}",
        },
    )


def summary(names: tuple[str, ...]) -> Pipeline:
    """The metrics table, the 2x2 comparison and the loss curves across instances.

    Its nodes take one keyword per instance output (`<name>_metrics`, `<name>_spec`,
    `<name>_arrays`) and sit in namespace `activations` beside the instances they read.
    """
    sources = {f"{name}_metrics": f"{TOPIC}.{name}.metrics" for name in names}
    models = {
        f"{name}_{kind}": f"{TOPIC}.{name}.model_{kind}"
        for name in names
        for kind in ("spec", "arrays")
    }
    return Pipeline(
        [
            Node(
                collect_metrics,
                {name: f"{TOPIC}.{name}.metrics" for name in names},
                f"{TOPIC}_metrics",
                name="collect_metrics",
                namespace=TOPIC,
            ),
            Node(
                plot_comparison,
                {"moons": f"{TOPIC}.moons"} | models | sources,
                f"{TOPIC}.comparison",
                name="plot_comparison",
                namespace=TOPIC,
            ),
            Node(
                plot_loss_curves,
                models,
                f"{TOPIC}.loss_curves",
                name="plot_loss_curves",
                namespace=TOPIC,
            ),
        ]
    )


def create_pipeline(**kwargs: object) -> Pipeline:
    """Illustration, datasets and the per-activation instances, then their summary."""
    instances = sum((instance(name) for name in ACTIVATIONS), Pipeline([]))
    lesson = Pipeline(
        illustration() + datasets() + instances,
        namespace=TOPIC,
        parameters={"params:seed": "params:seed"},
    )
    return lesson + summary(ACTIVATIONS)
