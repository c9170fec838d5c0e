"""The transfer DAG: digits, the pretrained base, two namespaced experiments, the report.

Everything lives in namespace `transfer` (one kedro-viz group; `params:x` reads
`transfer.x`). `experiment()` is the single definition of the lesson's two phases (build the
model on a base, frozen phase, fine tuning), used twice:
- `transfer.pretrained` on the pretrained base (ImageNet, a file, or the base pretrained in
  the DAG on a source task), which is the lesson;
- `transfer.from_scratch` on the same architecture with random weights and the same
  training budget, the baseline that says whether transfer helped.
`resolve_base_weights` needs no data, so it is in the first group of nodes the runner
executes: missing weights stop the run in seconds, before anything trains.
"""

from __future__ import annotations

from kedro.pipeline import Node, Pipeline

from dnn_pipelines.hooks import TENSORFLOW_TAG
from dnn_pipelines.pipelines.transfer.nodes import (
    build_random_base,
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

TOPIC = "transfer"
PRETRAINED = "pretrained"
FROM_SCRATCH = "from_scratch"
SHARED_PARAMS = ("params:seed", "params:image", "params:head", "params:training")


def data() -> Pipeline:
    """The digits, the target task (the lesson's split) and the source task (offline env)."""
    return Pipeline(
        [
            Node(load_digit_images, "params:data", "digits", name="load_digits"),
            Node(
                split_tasks,
                ["digits", "params:data", "params:base_model", "params:seed"],
                ["split", "source_split"],
                name="split_tasks",
            ),
        ]
    )


def bases() -> Pipeline:
    """The base of each experiment: pretrained (checked first), and random for the baseline."""
    return Pipeline(
        [
            Node(resolve_base_weights, "params:base_model", "weights_file", name="resolve_weights"),
            Node(
                prepare_base_model,
                [
                    "weights_file",
                    "source_split",
                    "params:image",
                    "params:base_model",
                    "params:seed",
                ],
                [f"{PRETRAINED}.base_model", "base_weights"],
                name="prepare_pretrained_base",
                tags=[TENSORFLOW_TAG],
            ),
            Node(
                build_random_base,
                ["split", "params:image", "params:base_model", "params:seed"],
                f"{FROM_SCRATCH}.base_model",
                name="build_random_base",
                tags=[TENSORFLOW_TAG],
            ),
        ]
    )


def experiment(name: str) -> Pipeline:
    """The lesson's model and two training phases on `<name>.base_model`, in namespace `<name>`."""
    phases = Pipeline(
        [
            Node(
                build_transfer_model,
                ["base_model", "split", "params:image", "params:head", "params:seed"],
                ["initial_model", "param_counts"],
                name="build_model",
                tags=[TENSORFLOW_TAG],
            ),
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
                ["fine_tuned_model", "fine_tuned_history", "fine_tuned_predictions"],
                name="fine_tune",
                tags=[TENSORFLOW_TAG],
            ),
        ]
    )
    return Pipeline(
        phases,
        namespace=name,
        inputs={"split"},
        parameters={param: param for param in SHARED_PARAMS},
    )


def report() -> Pipeline:
    """Learning curves, confusion matrices and `transfer_metrics`."""
    histories = {
        "frozen_history": f"{PRETRAINED}.frozen_history",
        "fine_tuned_history": f"{PRETRAINED}.fine_tuned_history",
        "scratch_frozen_history": f"{FROM_SCRATCH}.frozen_history",
        "scratch_fine_tuned_history": f"{FROM_SCRATCH}.fine_tuned_history",
    }
    return Pipeline(
        [
            Node(plot_learning_curves, histories, "learning_curves", name="plot_learning_curves"),
            Node(
                plot_confusion_matrices,
                {
                    "frozen_predictions": f"{PRETRAINED}.frozen_predictions",
                    "fine_tuned_predictions": f"{PRETRAINED}.fine_tuned_predictions",
                    "split": "split",
                },
                "confusion_matrix",
                name="plot_confusion_matrices",
            ),
            Node(
                summarize_transfer,
                histories
                | {
                    "param_counts": f"{PRETRAINED}.param_counts",
                    "base_weights": "base_weights",
                    "split": "split",
                },
                f"{TOPIC}_metrics",
                name="summarize",
            ),
        ]
    )


def create_pipeline(**kwargs: object) -> Pipeline:
    """Data, bases, the pretrained and from-scratch experiments, the report."""
    return Pipeline(
        data() + bases() + experiment(PRETRAINED) + experiment(FROM_SCRATCH) + report(),
        namespace=TOPIC,
        parameters={"params:seed": "params:seed"},
        outputs={f"{TOPIC}_metrics"},
    )
