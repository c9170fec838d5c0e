"""Running a sweep's points on Dask, each a complete, isolated `kedro run`.

A point runs in a Dask worker process as a KedroSession of the project, exactly what
`kedro run --pipelines ... --env ... --params ...` does (hooks, pins, manifest included).
A worker process runs its points one after another, so TensorFlow is imported once per
worker, not once per point. Every point is a run with its own save version and manifest,
so a point that completed in an earlier invocation is found from the manifests (same
pipelines, env and runtime parameters, status success) and is not run again.

Workers must see the project folder at the same path (one machine, or a shared file
system for `dask worker` on several machines): the points read and write `data/` there.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dnn_pipelines.sweeps.spec import SweepError, SweepSpec, nested
from dnn_pipelines.tracking.experiments import PARENT_RUN_ENV
from dnn_pipelines.tracking.latest import IN_SWEEP_ENV
from dnn_pipelines.tracking.store import (
    VersionsError,
    manifest_versions,
    read_manifest,
)

QUIET_LOGGERS = ("kedro", "dnn_pipelines", "distributed")
COLLISION_RETRIES = 5
SCHEDULER_TIMEOUT_S = 10


@dataclass
class PointResult:
    """What one point of the sweep gave."""

    point: dict[str, Any]
    status: str  # success | failed | reused
    save_version: str | None
    seconds: float
    error: str | None = None


def run_point(
    project_path: str,
    pipelines: list[str],
    env: str | None,
    params: dict,
    mlflow_parent: str | None = None,
) -> dict:
    """One point, in the calling process (a Dask worker): a whole `kedro run`, logged to
    MLflow as a child of the sweep's run `mlflow_parent`.

    Two workers may start a run in the same millisecond; the second is refused before
    any node runs (`RunCollisionError`) and simply starts again with a new version.
    """
    from kedro.framework.session import KedroSession  # noqa: PLC0415 - on the worker
    from kedro.framework.startup import bootstrap_project  # noqa: PLC0415

    from dnn_pipelines.tracking.pins import RunCollisionError  # noqa: PLC0415

    os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
    os.environ[IN_SWEEP_ENV] = "1"
    if mlflow_parent:
        os.environ[PARENT_RUN_ENV] = mlflow_parent
    bootstrap_project(Path(project_path))
    for name in QUIET_LOGGERS:  # the sweep reports progress; each point's node log is noise
        logging.getLogger(name).setLevel(logging.WARNING)
    started = time.perf_counter()
    for _attempt in range(COLLISION_RETRIES):
        with KedroSession.create(
            project_path=Path(project_path), env=env, runtime_params=params
        ) as session:
            version = session.store["session_id"]
            try:
                session.run(pipeline_names=pipelines)
            except RunCollisionError:
                time.sleep(0.01)
                continue
            except Exception as error:  # reported with the point; the sweep goes on
                return {
                    "status": "failed",
                    "save_version": version,
                    "seconds": time.perf_counter() - started,
                    "error": f"{type(error).__name__}: {error}",
                }
        return {
            "status": "success",
            "save_version": version,
            "seconds": time.perf_counter() - started,
            "error": None,
        }
    raise RuntimeError(f"{COLLISION_RETRIES} save-version collisions in a row")


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def completed_points(project_path: Path, spec: SweepSpec, env: str) -> dict[str, PointResult]:
    """Points an earlier run already completed, by their runtime parameters (newest wins)."""
    done: dict[str, PointResult] = {}
    for version in reversed(manifest_versions(project_path)):
        try:
            manifest = read_manifest(project_path, version)
        except VersionsError:
            continue
        if (
            manifest.get("status") == "success"
            and manifest.get("env") == env
            and manifest.get("pipelines") == spec.pipelines
        ):
            params = manifest.get("runtime_params") or {}
            done[_canonical(params)] = PointResult(
                point={},
                status="reused",
                save_version=version,
                seconds=float(manifest.get("duration_s") or 0.0),
            )
    return done


def metric_values(project_path: Path, spec: SweepSpec, save_version: str) -> dict[str, Any]:
    """Each metric of the spec, read from the JSON outputs the run's manifest lists."""
    outputs = read_manifest(project_path, save_version).get("outputs") or {}
    values: dict[str, Any] = {}
    loaded: dict[str, Any] = {}
    for name, (dataset, *keys) in spec.metrics.items():
        entry = outputs.get(str(dataset))
        if entry is None:
            values[name] = None
            continue
        if dataset not in loaded:
            path = (
                project_path / entry["filepath"] / entry["version"] / Path(entry["filepath"]).name
            )
            loaded[dataset] = json.loads(path.read_text(encoding="utf-8"))
        value: Any = loaded[dataset]
        for key in keys:
            value = _step(value, key)
        values[name] = value
    return values


def _step(value: Any, key: str | int) -> Any:
    """One step down a JSON path: a key of an object or an index of a list (None if absent)."""
    if isinstance(value, dict):
        return value.get(str(key))
    if isinstance(value, list) and isinstance(key, int) and -len(value) <= key < len(value):
        return value[key]
    return None


def connect(spec: SweepSpec, workers: int | None, scheduler: str | None) -> tuple[Any, Any]:
    """A Dask client: to `scheduler` when given, else to a new LocalCluster of processes."""
    # Dask sets its loggers to INFO when distributed is imported, here and in every local
    # worker it spawns: the sweep's own progress lines would drown.
    os.environ.setdefault("DASK_LOGGING__DISTRIBUTED", "warning")
    import dask  # noqa: PLC0415

    dask.config.refresh()
    from distributed import Client, LocalCluster  # noqa: PLC0415 - only when sweeping

    address = scheduler or spec.scheduler
    if address:
        try:
            return Client(address, timeout=f"{SCHEDULER_TIMEOUT_S}s"), None
        except (OSError, TimeoutError) as error:
            raise SweepError(
                f"Cannot reach the Dask scheduler at {address} within {SCHEDULER_TIMEOUT_S} s "
                f"({error}). Start one with `dask scheduler`, or leave out --scheduler to run "
                "on a local cluster."
            ) from None
    n_workers = workers or spec.workers or os.cpu_count() or 1
    cluster = LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
        env=worker_threads(n_workers),
    )
    return Client(cluster), cluster


def worker_threads(n_workers: int) -> dict[str, str]:
    """Each local worker's share of the cores for TensorFlow's and BLAS's thread pools: points
    running side by side would otherwise each start a pool as wide as the machine and fight
    over the cores."""
    share = str(max(1, (os.cpu_count() or 1) // n_workers))
    return {
        "TF_NUM_INTRAOP_THREADS": share,
        "TF_NUM_INTEROP_THREADS": share,
        "OMP_NUM_THREADS": share,
        "OPENBLAS_NUM_THREADS": share,
    }


def run_points(
    client: Any,
    project_path: Path,
    spec: SweepSpec,
    env: str | None,
    points: list[dict[str, Any]],
    echo: Callable[[str], None],
    mlflow_parent: str | None = None,
) -> list[PointResult]:
    """Submit every point, report progress as they finish, never stop at a failure."""
    from distributed import as_completed  # noqa: PLC0415

    futures = {
        client.submit(
            run_point,
            str(project_path),
            spec.pipelines,
            env,
            nested(point),
            mlflow_parent,
            pure=False,
        ): point
        for point in points
    }
    results: list[PointResult] = []
    started = time.perf_counter()
    for future in as_completed(futures):
        point = futures[future]
        try:
            outcome = future.result()
        except Exception as error:  # the task itself died (e.g. its worker, too often)
            outcome = {
                "status": "failed",
                "save_version": None,
                "seconds": 0.0,
                "error": f"{type(error).__name__}: {error}",
            }
        results.append(PointResult(point=point, **outcome))
        if outcome["status"] == "failed":
            echo(f"point {point} failed: {outcome['error']}")
        finished = len(results)
        failed = sum(result.status == "failed" for result in results)
        remaining = (time.perf_counter() - started) / finished * (len(points) - finished)
        echo(f"[{finished}/{len(points)} done, {failed} failed] ETA {remaining:.0f} s")
    return results
