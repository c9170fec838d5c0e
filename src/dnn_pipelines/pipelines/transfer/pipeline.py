"""The transfer DAGs: digits, the pretrained base, namespaced experiments, the reports.

Everything lives in namespace `transfer` (one kedro-viz group; `params:x` reads
`transfer.x`). `experiment()` is the single definition of the lesson's steps (a base, the
model built on it, frozen phase, fine tuning), used by two pipelines:
- `transfer` (the lesson): `transfer.pretrained` on the pretrained base (ImageNet, a file,
  or the base pretrained in the DAG on a source task), then its report;
- `transfer_from_scratch` (beyond the lesson, opt-in, in its own package): the same
  experiment from random weights, compared with the pretrained run.
The report nodes' inputs are named in full (`transfer.pretrained.frozen_history`), so they
get the namespace directly.
`resolve_base_weights` needs no data, so it is in the first group of nodes the runner
executes: missing weights stop the run in seconds, before anything trains.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from dnn_pipelines.pipelines.transfer.nodes import (
    build_transfer_model,
    fine_tune_phase,
    load_digit_images,
    plot_confusion_matrices,
    plot_learning_curves,
    prepare_base_model,
    resolve_base_weights,
    split_tasks,
    summarize_transfer,
    train_frozen_phase,
)
from dnn_pipelines.tensorflow_settings import TENSORFLOW_TAG

TOPIC = "transfer"
PRETRAINED = "pretrained"
SHARED_PARAMS = (
    "params:seed",
    "params:image",
    "params:base_model",
    "params:head",
    "params:training",
)


def data() -> Pipeline:
    """The digits, the target task (the lesson's split), the source task and the weights."""
    return Pipeline(
        [
            Node(load_digit_images, "params:data", "digits", name="load_digits"),
            Node(
                split_tasks,
                ["digits", "params:data", "params:base_model", "params:seed"],
                ["split", "source_split"],
                name="split_tasks",
            ),
            # Tagged: downloading missing ImageNet weights goes through Keras.
            Node(
                resolve_base_weights,
                "params:base_model",
                "weights_file",
                name="resolve_weights",
                tags=[TENSORFLOW_TAG],
            ),
        ]
    )


def pretrained_base() -> Node:
    """ImageNet or file weights, or the base pretrained here on the source task."""
    return Node(
        prepare_base_model,
        ["weights_file", "source_split", "params:image", "params:base_model", "params:seed"],
        ["base_model", "base_weights"],
        name="prepare_base",
        tags=[TENSORFLOW_TAG],
    )


def build_model() -> Node:
    """The lesson's model on `base_model`, frozen, with its counts and first summary."""
    return Node(
        build_transfer_model,
        ["base_model", "split", "params:image", "params:head", "params:training", "params:seed"],
        ["initial_model", "param_counts", "model_summary_frozen"],
        name="build_model",
        tags=[TENSORFLOW_TAG],
    )


def experiment(name: str, base: Node) -> Pipeline:
    """`base`, the lesson's model on it and its two training phases, in namespace `<name>`."""
    steps = Pipeline(
        [
            base,
            build_model(),
            Node(
                train_frozen_phase,
                ["initial_model", "split", "params:training", "params:head", "params:seed"],
                ["frozen_model", "frozen_history", "frozen_predictions"],
                name="train_frozen",
                tags=[TENSORFLOW_TAG],
            ),
            Node(
                fine_tune_phase,
                ["frozen_model", "split", "params:training", "params:head", "params:seed"],
                [
                    "fine_tuned_model",
                    "fine_tuned_history",
                    "fine_tuned_predictions",
                    "model_summary_fine_tune",
                ],
                name="fine_tune",
                tags=[TENSORFLOW_TAG],
            ),
        ]
    )
    return Pipeline(
        steps,
        namespace=name,
        inputs={"split", "source_split", "weights_file"} & steps.inputs(),
        parameters={param: param for param in SHARED_PARAMS},
    )


def full_name(experiment_name: str, dataset: str) -> str:
    return f"{TOPIC}.{experiment_name}.{dataset}"


PRETRAINED_HISTORIES = {
    "frozen_history": full_name(PRETRAINED, "frozen_history"),
    "fine_tuned_history": full_name(PRETRAINED, "fine_tuned_history"),
}


def report() -> Pipeline:
    """Learning curves, confusion matrices and `transfer_metrics`, in namespace `transfer`."""
    split = {"split": f"{TOPIC}.split"}
    return Pipeline(
        [
            Node(
                plot_learning_curves,
                PRETRAINED_HISTORIES,
                f"{TOPIC}.learning_curves",
                name="plot_learning_curves",
                namespace=TOPIC,
            ),
            Node(
                plot_confusion_matrices,
                {
                    "frozen_predictions": full_name(PRETRAINED, "frozen_predictions"),
                    "fine_tuned_predictions": full_name(PRETRAINED, "fine_tuned_predictions"),
                }
                | split,
                f"{TOPIC}.confusion_matrix",
                name="plot_confusion_matrices",
                namespace=TOPIC,
            ),
            Node(
                summarize_transfer,
                PRETRAINED_HISTORIES
                | split
                | {
                    "param_counts": full_name(PRETRAINED, "param_counts"),
                    "base_weights": full_name(PRETRAINED, "base_weights"),
                },
                f"{TOPIC}_metrics",
                name="summarize",
                namespace=TOPIC,
            ),
        ]
    )


def in_topic(pipeline: Pipeline) -> Pipeline:
    return Pipeline(pipeline, namespace=TOPIC, parameters={"params:seed": "params:seed"})


def create_pipeline(**kwargs: object) -> Pipeline:
    """The lesson: data and weights, the pretrained experiment, then its report."""
    return in_topic(data() + experiment(PRETRAINED, pretrained_base())) + report()
