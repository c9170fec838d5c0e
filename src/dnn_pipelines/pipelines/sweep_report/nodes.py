"""A sweep's numbers: one row per point, then per group of the non-seed axes the mean,
standard deviation and 95 % confidence interval of each metric over the seeds, how often
each metric was the best, and how often a metric cleared its threshold."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

from dnn_pipelines.pipelines.sweep_report.params import SweepReportParams
from dnn_pipelines.plotting import new_figure

FAILED = "failed"


def tabulate_points(report: SweepReportParams) -> pd.DataFrame:
    """`sweep_points`: every point of the sweep, as `kedro sweep run` found it."""
    if not report.points:
        raise ValueError(
            "sweep_report has no points: run a sweep with `kedro sweep run NAME`, which fills "
            "the report's parameters."
        )
    table = pd.DataFrame(report.points)
    for axis in report.axes:  # a dict or list value (a set of instances) as one JSON label
        table[axis] = [
            json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else v for v in table[axis]
        ]
    return table


def interval(values: np.ndarray) -> dict[str, float | int | None]:
    """n, mean, sample std and Student-t 95 % interval of the mean (None below 2 values)."""
    n = len(values)
    mean = float(np.mean(values)) if n else None
    std = float(np.std(values, ddof=1)) if n > 1 else None
    half = None if std is None else float(stats.t.ppf(0.975, n - 1) * std / math.sqrt(n))
    return {
        "n": n,
        "mean": mean,
        "std": std,
        "ci95_low": None if half is None else mean - half,
        "ci95_high": None if half is None else mean + half,
    }


def _best_counts(rows: pd.DataFrame, report: SweepReportParams) -> dict[str, Any]:
    best = report.best
    if best is None:
        return {}
    values = rows[best.metrics].astype(float).dropna(how="all")
    winners = values.idxmax(axis=1) if best.higher_is_better else values.idxmin(axis=1)
    return {
        metric: {"count": int((winners == metric).sum()), "of": len(values)}
        for metric in best.metrics
    }


def summarize_sweep(points: pd.DataFrame, report: SweepReportParams) -> dict[str, Any]:
    """`sweep_summary`: per group of the non-seed axes, each metric over the seeds."""
    groups = report.groups()
    done = points[points["status"] != FAILED]
    summary: dict[str, Any] = {
        "sweep": report.name,
        "points": len(points),
        "failed": int((points["status"] == FAILED).sum()),
        "groups": [],
    }
    grouped = done.groupby(groups, sort=False, dropna=False) if groups else [((), done)]
    for values, rows in grouped:
        key = values if isinstance(values, tuple) else (values,)
        summary["groups"].append(
            {
                "group": dict(zip(groups, key, strict=True)),
                "metrics": {
                    metric: interval(rows[metric].dropna().astype(float).to_numpy())
                    for metric in report.metrics
                },
                "best": _best_counts(rows, report),
                "thresholds": {
                    f"{t.metric} > {t.above:g}": {
                        "count": int((rows[t.metric].astype(float) > t.above).sum()),
                        "of": int(rows[t.metric].notna().sum()),
                    }
                    for t in report.thresholds
                },
            }
        )
    return summary


def plot_sweep(summary: dict[str, Any], report: SweepReportParams) -> Figure:
    """Each metric's mean over the seeds with its 95 % interval, one line per group."""
    figure, axes = new_figure(1, 1, size=(max(6.0, 1.2 * len(report.metrics)), 4.5))
    ax = axes[0, 0]
    positions = np.arange(len(report.metrics))
    for group in summary["groups"]:
        metrics = [group["metrics"][name] for name in report.metrics]
        means = np.array([m["mean"] if m["mean"] is not None else np.nan for m in metrics])
        low = np.array([m["ci95_low"] if m["ci95_low"] is not None else np.nan for m in metrics])
        high = np.array([m["ci95_high"] if m["ci95_high"] is not None else np.nan for m in metrics])
        label = ", ".join(f"{k}={v}" for k, v in group["group"].items()) or "all points"
        ax.plot(positions, means, "o-", label=label)
        ax.fill_between(positions, low, high, alpha=0.25)
    ax.set_xticks(positions, report.metrics, rotation=30, ha="right")
    ax.set_ylabel("mean over seeds (band: 95 % interval)")
    ax.set_title(
        f"Sweep {summary['sweep']}: {summary['points']} points, {summary['failed']} failed"
    )
    ax.grid(True)
    ax.legend()
    return figure
