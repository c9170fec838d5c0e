"""The lesson's questions, answered from a run's metrics.

One home for the words: the run's closing summary, the "latest" report and the notebook
all call these functions, so every answer is computed from the numbers it shows (a
different run can give a different answer).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Answer = tuple[str, str]
"""(the lesson's question, this run's answer)."""
THEORY_TOLERANCE = 1e-4
"""A gradient formula within this relative distance of finite differences is the theory's."""


def vanishing_gradient(metrics: dict[str, Any]) -> list[Answer]:
    layer = metrics["compare_layer"]
    return [
        (
            f"How much slower is the training of layer {layer} than that of the output layer?",
            f"{metrics['slowdown_vs_output']:.3g} times "
            f"({metrics['slowdown_orders_of_magnitude']:.2f} orders of magnitude): the gradient "
            f"norm loses {metrics['decay_per_layer']:.3f} decades per layer.",
        )
    ]


def backward_theory(check: dict[str, Any]) -> list[Answer]:
    lesson, exact = check["lesson_relative_error"], check["exact_relative_error"]
    layers = ", ".join(str(layer) for layer in check["checked_layers"])
    return [
        (
            "Does the forward code coincide with the algorithm studied in theory?",
            "Yes: a_l = W_l o_(l-1) and o_l = g(a_l), without biases; finite differences of "
            "the loss it computes are what true backpropagation reproduces (next answer).",
        ),
        (
            "Does the backward code coincide with the algorithm studied in theory?",
            ("No" if lesson > THEORY_TOLERANCE else "Yes")
            + f": on layers {layers}, the lesson's formula is {lesson:.3g} (relative) away from "
            f"finite differences of the loss; backpropagation, d_(l-1) = g'(a_(l-1)) * "
            f"(W_l^T d_l), is {exact:.1g} away.",
        ),
    ]


def initialization(metrics: dict[str, Any]) -> list[Answer]:
    layers = metrics["layers"]
    lowest = min(layers, key=lambda layer: layer["ks_pvalue"])
    matches = metrics["all_layers_match_uniform"]
    verdict = "Yes" if matches else "No"
    test = "does not reject" if matches else "rejects"
    return [
        (
            "Does the resulting empirical distribution match the theoretical one?",
            f"{verdict}: at alpha = {metrics['alpha']}, the Kolmogorov-Smirnov test {test} the "
            f"uniform law U(-b, b) for {'every layer' if matches else 'some layer'} (lowest "
            f"p-value {lowest['ks_pvalue']:.3g}, layer {lowest['layer']}).",
        )
    ]


def activations(metrics: dict[str, Any]) -> list[Answer]:
    best = max(metrics, key=lambda name: metrics[name]["test_accuracy"])
    others = ", ".join(
        f"{name} {values['test_accuracy']:.3f}" for name, values in metrics.items() if name != best
    )
    return [
        (
            "Which activation function works best?",
            f"{best}: held-out accuracy {metrics[best]['test_accuracy']:.3f} (training "
            f"{metrics[best]['train_accuracy']:.3f}); {others}.",
        )
    ]


def augmentation(metrics: dict[str, Any]) -> list[Answer]:
    check = metrics["geometry_check"]
    verdict = "Yes" if check["all_passed"] else "Not all"
    return [
        (
            "Can you distinguish the different distorting effects?",
            f"{verdict}: on the probe image, {check['n_measurements']} measurements of the "
            "rotations, shifts, shears, zooms and flips match the drawn parameters"
            + ("." if check["all_passed"] else " within tolerance only in part (see metrics)."),
        )
    ]


def transfer(metrics: dict[str, Any]) -> list[Answer]:
    frozen, tuned, gain = metrics["frozen"], metrics["fine_tuned"], metrics["fine_tuning_gain"]
    return [
        (
            "What percentage of the NN parameters will be modified?",
            f"{100 * metrics['trainable_fraction_frozen']:.3f} % "
            f"({metrics['trainable_params_frozen']:,} of {metrics['total_params']:,}) while the "
            "base is frozen.",
        ),
        (
            "How does the model perform?",
            f"validation accuracy {frozen['val_accuracy']:.3f} with the base frozen, "
            f"{tuned['val_accuracy']:.3f} after fine tuning.",
        ),
        (
            "Did the fine tuning improve the results?",
            f"{'Yes' if gain > 0 else 'No'}: {gain:+.3f} validation accuracy.",
        ),
    ]


def transfer_from_scratch(metrics: dict[str, Any]) -> list[Answer]:
    strongest = metrics["strongest_baseline"]
    gain = metrics["transfer_gain"]
    baselines = ", ".join(
        f"{name} {metrics[name]['val_accuracy']:.3f}"
        for name in ("from_scratch", "bn_recomputed", "end_to_end")
    )
    return [
        (
            "Did transfer help (not in the lesson)?",
            f"{'Yes' if gain > 0 else 'No'}: {metrics['fine_tuned']['val_accuracy']:.3f} "
            f"pretrained against {metrics[strongest]['val_accuracy']:.3f} for the strongest "
            f"baseline from random weights, {strongest} ({gain:+.3f}); {baselines}.",
        )
    ]


def dropout(metrics: dict[str, Any]) -> list[Answer]:
    rates = sorted(metrics.values(), key=lambda values: values["rate"])
    none, best = rates[0], min(rates, key=lambda values: values["true_mse"])
    heaviest = rates[-1]
    overfits = none["rate"] == 0 and none["train_mse"] < none["noise_mse"]
    effect = (
        f"Without dropout the training MSE is {none['train_mse']:.3f}, "
        + ("below" if overfits else "not below")
        + f" the noise's own {none['noise_mse']:.3f}"
        + (": the network fits the noise." if overfits else ".")
    )
    if heaviest["true_mse"] > best["true_mse"] and heaviest is not best:
        effect += (
            f" At {heaviest['rate']:.0%} the error against the true curve rises to "
            f"{heaviest['true_mse']:.3f}: too much dropout under-fits."
        )
    helps = best["rate"] > 0 and best["true_mse"] < none["true_mse"]
    prevention = (
        f"Yes: {best['rate']:.0%} dropout gives the lowest error against the true curve, "
        f"{best['true_mse']:.3f} against {none['true_mse']:.3f} without dropout."
        if helps
        else f"No: no dropout rate beats {none['true_mse']:.3f}, the error without dropout."
    )
    return [
        ("What is the effect of the dropout?", effect),
        ("Is it helping to prevent over-fitting?", prevention),
    ]


ANSWERS: dict[str, Callable[[dict[str, Any]], list[Answer]]] = {
    "vanishing_gradient_theory_check": backward_theory,
    "vanishing_gradient_metrics": vanishing_gradient,
    "initialization_metrics": initialization,
    "activations_metrics": activations,
    "augmentation_metrics": augmentation,
    "transfer_metrics": transfer,
    "transfer_from_scratch_metrics": transfer_from_scratch,
    "dropout_metrics": dropout,
}
"""The metrics dataset each section's answers are computed from, in the lesson's order."""
