"""The dropout DAG: the noisy parabola, one namespaced instance per dropout rate, a summary.

Everything lives in namespace `dropout` (one kedro-viz group; `params:x` reads `dropout.x`).
Inside it, `instance(name)` is the single definition of one experiment (build, train,
predict, Monte-Carlo predict, evaluate), used once per name of `INSTANCES` in namespace
`dropout.<name>`: five collapsible groups that share no outputs, so ParallelRunner trains
them side by side. The summary nodes read every instance and write the lesson's figure,
the loss and Monte-Carlo figures, the predictions table and `dropout_metrics`.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from dnn_pipelines.pipelines.dropout.nodes import (
    build_model,
    collect_metrics,
    evaluate,
    generate_dataset,
    mc_dropout_predict,
    plot_losses,
    plot_mc_bands,
    plot_observed,
    plot_predictions,
    predict,
    tabulate_predictions,
    train_model,
)
from dnn_pipelines.pipelines.dropout.params import INSTANCES
from dnn_pipelines.tensorflow_settings import TENSORFLOW_TAG

TOPIC = "dropout"


def data() -> Pipeline:
    """The lesson's noisy parabola and its plot."""
    return Pipeline(
        [
            Node(
                generate_dataset,
                ["params:data", "params:seed"],
                "dataset",
                name="generate_dataset",
            ),
            Node(plot_observed, "dataset", "dataset_plot", name="plot_dataset"),
        ]
    )


def instance(name: str) -> Pipeline:
    """One network of the lesson's loop, in namespace `<name>`: its rate is `instances.<name>`."""
    experiment = Pipeline(
        [
            Node(
                build_model,
                ["params:rate", "params:network", "params:training", "params:seed"],
                "initial_model",
                name="build_model",
                tags=[TENSORFLOW_TAG],
            ),
            Node(
                train_model,
                ["initial_model", "dataset", "params:training", "params:seed"],
                ["model", "loss_history"],
                name="train_model",
                tags=[TENSORFLOW_TAG],
            ),
            Node(
                predict,
                ["model", "dataset"],
                "predictions",
                name="predict",
                tags=[TENSORFLOW_TAG],
            ),
            Node(
                mc_dropout_predict,
                ["model", "dataset", "params:monte_carlo", "params:seed"],
                "mc_predictions",
                name="mc_dropout_predict",
                tags=[TENSORFLOW_TAG],
            ),
            Node(
                evaluate,
                [
                    "params:rate",
                    "params:monte_carlo",
                    "dataset",
                    "predictions",
                    "mc_predictions",
                    "loss_history",
                ],
                "metrics",
                name="evaluate",
            ),
        ]
    )
    return Pipeline(
        experiment,
        namespace=name,
        inputs={"dataset"},
        parameters={
            "params:seed": "params:seed",
            "params:network": "params:network",
            "params:training": "params:training",
            "params:monte_carlo": "params:monte_carlo",
            "params:rate": f"params:instances.{name}",
        },
    )


def summary(names: tuple[str, ...]) -> Pipeline:
    """Metrics, predictions table and figures across instances, in namespace `dropout`.

    Each node takes one keyword per instance (its name) and the typed `instances` block,
    which maps names to rates. Their inputs are named in full (`dropout.<name>.metrics`), so
    the nodes get the namespace directly instead of through `Pipeline(namespace=...)`.
    """

    def per_instance(kind: str) -> dict[str, str]:
        return {name: f"{TOPIC}.{name}.{kind}" for name in names}

    instances = {"instances": f"params:{TOPIC}.instances"}
    dataset = {"dataset": f"{TOPIC}.dataset"}
    monte_carlo = {"monte_carlo": f"params:{TOPIC}.monte_carlo"}
    return Pipeline(
        [
            Node(
                collect_metrics,
                instances | per_instance("metrics"),
                f"{TOPIC}_metrics",
                name="collect_metrics",
                namespace=TOPIC,
            ),
            Node(
                tabulate_predictions,
                instances | dataset | per_instance("predictions"),
                f"{TOPIC}.predictions",
                name="tabulate_predictions",
                namespace=TOPIC,
            ),
            Node(
                plot_predictions,
                instances | dataset | {"predictions_table": f"{TOPIC}.predictions"},
                f"{TOPIC}.predictions_plot",
                name="plot_predictions",
                namespace=TOPIC,
            ),
            Node(
                plot_losses,
                instances | per_instance("loss_history"),
                f"{TOPIC}.loss_plot",
                name="plot_losses",
                namespace=TOPIC,
            ),
            Node(
                plot_mc_bands,
                instances | monte_carlo | dataset | per_instance("mc_predictions"),
                f"{TOPIC}.mc_plot",
                name="plot_mc_bands",
                namespace=TOPIC,
            ),
        ]
    )


def create_pipeline(**kwargs: object) -> Pipeline:
    """The dataset, one instance per dropout rate, then their summary."""
    instances = sum((instance(name) for name in INSTANCES), Pipeline([]))
    lesson = Pipeline(
        data() + instances,
        namespace=TOPIC,
        parameters={"params:seed": "params:seed"},
    )
    return lesson + summary(INSTANCES)
