"""`kedro sweep`: run a sweep's points on Dask, then its report.

kedro sweep list                          the sweeps of conf/, with their point counts
kedro sweep run NAME --dry-run            the points, and which earlier runs completed
kedro sweep run NAME [--workers N]        on a local cluster of N worker processes
kedro sweep run NAME --scheduler tcp://HOST:8786   on a cluster of `dask worker`s
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import click

from dnn_pipelines.errors import UserErrorsGroup
from dnn_pipelines.sweeps.runner import (
    QUIET_LOGGERS,
    PointResult,
    completed_points,
    connect,
    metric_values,
    run_points,
)
from dnn_pipelines.sweeps.spec import (
    SweepSpec,
    check_sweep,
    load_sweep,
    nested,
    sweep_files,
)
from dnn_pipelines.tracking.experiments import (
    PARENT_RUN_ENV,
    end_parent_run,
    load_mlflow_settings,
    start_parent_run,
)

DEFAULT_ENV = "local"


def _project() -> Path:
    from kedro.utils import find_kedro_project  # noqa: PLC0415

    return Path(find_kedro_project(Path.cwd()) or Path.cwd()).resolve()


@click.group(name="sweep", cls=UserErrorsGroup)
def sweep() -> None:
    """Run a grid of parameters x seeds on Dask and report it with 95 % intervals."""


@sweep.command(name="list")
@click.option("--env", "-e", default=None, help="Env whose sweeps to list (default: local).")
def list_sweeps(env: str | None) -> None:
    """The sweeps defined under conf/*/sweeps/."""
    conf = _project() / "conf"
    for name, path in sweep_files(conf, env).items():
        spec = load_sweep(conf, env, name)
        click.echo(
            f"{name}  {len(spec.points())} points  pipelines {', '.join(spec.pipelines)}"
            f"  ({path.relative_to(conf.parent)})"
        )


def _key(point: dict[str, Any]) -> str:
    return json.dumps(nested(point), sort_keys=True)


def _rows(project: Path, spec: SweepSpec, results: list[PointResult]) -> list[dict[str, Any]]:
    rows = []
    for result in results:
        row: dict[str, Any] = {
            **result.point,
            "status": result.status,
            "save_version": result.save_version,
            "seconds": round(result.seconds, 3),
            "error": result.error,
        }
        if result.status != "failed" and result.save_version:
            row |= metric_values(project, spec, result.save_version)
        rows.append(row)
    return rows


def _report(project: Path, name: str, spec: SweepSpec, env: str | None, rows: list) -> str:
    """Run the `sweep_report` pipeline on the rows; return its save version."""
    from kedro.framework.session import KedroSession  # noqa: PLC0415
    from kedro.framework.startup import bootstrap_project  # noqa: PLC0415

    report = {
        "name": name,
        "axes": list(spec.axes),
        "metrics": list(spec.metrics),
        "best": spec.best.model_dump() if spec.best else None,
        "thresholds": [threshold.model_dump() for threshold in spec.thresholds],
        "points": rows,
    }
    bootstrap_project(project)  # configures logging anew from conf/logging.yml
    _quiet()
    with KedroSession.create(
        project_path=project, env=env, runtime_params={"sweep_report": report}
    ) as session:
        version = session.store["session_id"]
        session.run(pipeline_names=["sweep_report"])
    return version


def _quiet() -> None:
    """The sweep prints its own progress: Kedro's and Dask's INFO lines would bury it."""
    for logger in QUIET_LOGGERS:
        logging.getLogger(logger).setLevel(logging.WARNING)


def _echo_summary(project: Path, version: str) -> None:
    path = project / "data/08_reporting/sweeps/summary.json" / version / "summary.json"
    summary = json.loads(path.read_text(encoding="utf-8"))
    for group in summary["groups"]:
        label = ", ".join(f"{k}={v}" for k, v in group["group"].items()) or "all points"
        click.echo(f"  {label}:")
        for metric, values in group["metrics"].items():
            if values["ci95_low"] is None:
                click.echo(f"    {metric}: {values['mean']} (n={values['n']})")
            else:
                half = values["ci95_high"] - values["mean"]
                mean, n = values["mean"], values["n"]
                click.echo(f"    {metric}: {mean:.4g} ± {half:.2g} (95 %, n={n})")
        for metric, count in group["best"].items():
            click.echo(f"    best: {metric} in {count['count']}/{count['of']} seeds")
        for label, count in group["thresholds"].items():
            click.echo(f"    {label} in {count['count']}/{count['of']} seeds")
    click.echo(f"Report: {path.parent.parent.relative_to(project)}/{version} (and summary.png)")


@sweep.command(name="run")
@click.argument("name")
@click.option("--env", "-e", default=None, help="Env of every point (default: the sweep's).")
@click.option("--workers", type=click.IntRange(min=1), help="Local worker processes.")
@click.option("--scheduler", help="Address of a running Dask scheduler (tcp://host:8786).")
@click.option("--dry-run", is_flag=True, help="List the points; run nothing.")
@click.option("--rerun", is_flag=True, help="Run every point, also those completed before.")
def run(
    name: str,
    env: str | None,
    workers: int | None,
    scheduler: str | None,
    dry_run: bool,
    rerun: bool,
) -> None:
    """Run sweep NAME: every point a complete, isolated run; points done before are skipped.

    A point counts as done when a successful run of the same pipelines, env and point
    parameters exists; after changing conf/ or the code, pass --rerun.
    """
    _quiet()
    project = _project()
    conf = project / "conf"
    spec = load_sweep(conf, env or os.environ.get("KEDRO_ENV"), name)
    env = env or spec.env or os.environ.get("KEDRO_ENV")
    points = check_sweep(spec, conf, env)
    done = {} if rerun else completed_points(project, spec, env or DEFAULT_ENV)
    todo = [point for point in points if _key(point) not in done]
    click.echo(
        f"Sweep {name}: {len(points)} points, {len(points) - len(todo)} completed earlier, "
        f"{len(todo)} to run"
    )
    if dry_run:
        for point in points:
            click.echo(f"  {'done' if _key(point) in done else 'todo'}  {point}")
        return
    results = [
        PointResult(point, "reused", done[_key(point)].save_version, done[_key(point)].seconds)
        for point in points
        if _key(point) in done
    ]
    mlflow = load_mlflow_settings(project, env)
    parent = start_parent_run(mlflow, project, name)
    if todo:
        client, cluster = connect(spec, workers, scheduler)
        try:
            click.echo(f"Dask dashboard: {client.dashboard_link}")
            results += run_points(client, project, spec, env, todo, click.echo, parent)
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    if parent:
        os.environ[PARENT_RUN_ENV] = parent  # the report is a child run too
    version = _report(project, name, spec, env, _rows(project, spec, results))
    _echo_summary(project, version)
    failed = [result for result in results if result.status == "failed"]
    if parent:
        end_parent_run(mlflow, project, parent, ok=not failed)
        click.echo(f"MLflow: sweep run {parent} in experiment '{mlflow.experiment}'")
    if failed:
        raise click.ClickException(
            f"{len(failed)} of {len(points)} points failed (listed above); run the sweep again "
            "to retry only them."
        )
