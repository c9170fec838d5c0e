"""Every run as an MLflow run, logged from its run manifest when the run ends.

The run manifest stays the record for reproduction; MLflow is where runs are compared.
So nothing here keeps state of its own: when a run ends, its manifest names every output
with its version and path, and this module logs, from those files,

- every parameter, flattened (`dropout.training.epochs`);
- tags: pipelines, env, Kedro's save version, git commit and dirty flag, manifest path;
- every scalar of every JSON output named `*metrics*`, flattened, as metrics;
- every CSV output with an `epoch` column (training histories, loss curves) as stepped
  metrics, one series per numeric column;
- the figures (PNG), the run manifest, and the Keras models (`.keras` files: load one with
  `keras.saving.load_model(mlflow.artifacts.download_artifacts(run_id=..., artifact_path=
  "models/<dataset>.keras"))`).

A sweep is a parent run, its points child runs (`mlflow.parentRunId`). A tracking server
that is down costs at most `timeout_s` and one warning; the run itself never fails.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

from pydantic import Field

from dnn_pipelines.errors import UserInputError
from dnn_pipelines.parameters import Strict, parse_settings_file
from dnn_pipelines.tracking.store import output_file

logger = logging.getLogger(__name__)

ARTIFACTS = Path("data") / "09_tracking" / "mlartifacts"
PARENT_RUN_ENV = "DNN_PIPELINES_MLFLOW_PARENT_RUN"
"""Set by `kedro sweep run` for its points: the MLflow run they are children of."""


class MlflowSettings(Strict):
    """The `mlflow:` block of conf/<env>/mlflow.yml."""

    enabled: bool = Field(default=True, description="false switches tracking off.")
    tracking_uri: str = Field(
        default="sqlite:///data/09_tracking/mlflow.db",
        description="A sqlite:/// path relative to the project, or a server's http(s) URL.",
    )
    experiment: str = Field(default="dnn_pipelines", description="The experiment runs go to.")
    timeout_s: float = Field(
        default=5.0, gt=0, le=120, description="How long a tracking server may take to answer."
    )
    log_models: bool = Field(
        default=True, description="Log the .keras files as artifacts (about 80 MB with Xception)."
    )


class MlflowSettingsError(UserInputError, ValueError):
    """A value in mlflow.yml that cannot be used."""


def parse_mlflow_settings(config: dict[str, Any]) -> MlflowSettings:
    """Validate mlflow.yml, naming every bad key."""
    return parse_settings_file(
        MlflowSettings, config, "mlflow", MlflowSettingsError, "Invalid conf/<env>/mlflow.yml"
    )


def tracking_uri(settings: MlflowSettings, project_path: Path) -> str:
    """The URI with a relative sqlite path made absolute (runs start in any folder)."""
    prefix = "sqlite:///"
    uri = settings.tracking_uri
    if uri.startswith(prefix) and not uri[len(prefix) :].startswith("/"):
        database = project_path / uri[len(prefix) :]
        database.parent.mkdir(parents=True, exist_ok=True)
        return prefix + str(database)
    return uri


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """`{"a": {"b": 1}, "c": [2]}` -> `{"a.b": 1, "c.0": 2}`."""
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return {prefix: value}
    flat: dict[str, Any] = {}
    for key, item in items:
        flat |= flatten(item, f"{prefix}.{key}" if prefix else str(key))
    return flat


def _scalar_metrics(data: Any, prefix: str) -> dict[str, float]:
    return {
        key: float(value)
        for key, value in flatten(data, prefix).items()
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    }


def _client(settings: MlflowSettings, project_path: Path) -> Any:
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", str(math.ceil(settings.timeout_s)))
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    # MLflow logs at INFO when it creates its sqlite tables ("Creating initial MLflow
    # database tables..."): noise in the run log. Its warnings and errors still show.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    # MLflow 3 sends usage telemetry unless told not to; like kedro-telemetry, it stays off.
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    from mlflow.tracking import MlflowClient  # noqa: PLC0415 - a second, only when logging

    return MlflowClient(tracking_uri=tracking_uri(settings, project_path))


def _experiment_id(client: Any, name: str, project_path: Path) -> str:
    """The experiment's id; a new one on a local store keeps its artifacts under data/."""
    experiment = client.get_experiment_by_name(name)
    if experiment:
        return experiment.experiment_id
    local = client.tracking_uri.startswith("sqlite:")
    location = (project_path / ARTIFACTS).as_uri() if local else None
    return client.create_experiment(name, artifact_location=location)


def log_manifest(settings: MlflowSettings, project_path: Path, manifest: dict[str, Any]) -> str:
    """Log one finished run from its manifest; return the MLflow run id."""
    from mlflow.entities import Metric, Param  # noqa: PLC0415

    client = _client(settings, project_path)
    git = manifest.get("git") or {}
    tags = {
        "pipelines": ",".join(manifest.get("pipelines") or []),
        "env": str(manifest.get("env")),
        "save_version": manifest["save_version"],
        "status": manifest.get("status"),
        "git_commit": str(git.get("commit")),
        "git_dirty": str(git.get("dirty")),
        "manifest": f"data/09_tracking/run_manifest.json/{manifest['save_version']}",
        "mlflow.runName": f"{'+'.join(manifest.get('pipelines') or [])} {manifest['save_version']}",
    }
    parent = os.environ.get(PARENT_RUN_ENV)
    if parent:
        tags["mlflow.parentRunId"] = parent
    run = client.create_run(_experiment_id(client, settings.experiment, project_path), tags=tags)
    run_id = run.info.run_id
    params = [
        Param(key, str(value)[:6000]) for key, value in flatten(manifest.get("parameters")).items()
    ]
    metrics: list[Metric] = []
    now = int(time.time() * 1000)
    outputs = manifest.get("outputs") or {}
    for name, entry in sorted(outputs.items()):
        path = output_file(project_path, entry)
        if path.suffix == ".json" and "metrics" in name:
            data = json.loads(path.read_text(encoding="utf-8"))
            metrics += [Metric(k, v, now, 0) for k, v in _scalar_metrics(data, name).items()]
        elif path.suffix == ".csv":
            import pandas as pd  # noqa: PLC0415 - only for runs with CSV outputs

            table = pd.read_csv(path)
            if "epoch" in table:
                for column in table.select_dtypes("number").columns.drop("epoch"):
                    metrics += [
                        Metric(f"{name}.{column}", float(value), now, int(step))
                        for step, value in zip(table["epoch"], table[column], strict=True)
                        if math.isfinite(value)
                    ]
    for start in range(0, len(params), 100):  # MLflow's limits per batch
        client.log_batch(run_id, params=params[start : start + 100])
    for start in range(0, len(metrics), 1000):
        client.log_batch(run_id, metrics=metrics[start : start + 1000])
    for name, entry in sorted(outputs.items()):
        path = output_file(project_path, entry)
        if path.suffix == ".png":
            client.log_artifact(run_id, str(path), artifact_path="figures")
        elif path.suffix == ".keras" and settings.log_models:
            client.log_artifact(run_id, str(path), artifact_path=f"models/{name}")
    manifest_file = project_path / tags["manifest"] / "run_manifest.json"
    client.log_artifact(run_id, str(manifest_file), artifact_path="manifest")
    status = "FINISHED" if manifest.get("status") == "success" else "FAILED"
    client.set_terminated(run_id, status=status)
    return run_id


def log_run(settings: MlflowSettings, project_path: Path, manifest: dict[str, Any]) -> None:
    """`log_manifest`, but a tracking store that fails costs one warning, never the run."""
    if not settings.enabled:
        return
    try:
        run_id = log_manifest(settings, project_path, manifest)
    except Exception as error:  # a server down, a locked store: the run's results stand
        logger.warning(
            "Could not log this run to MLflow at %s (%s: %s); the run and its manifest are "
            "complete. Tracking can be switched off with mlflow.enabled: false.",
            settings.tracking_uri,
            type(error).__name__,
            str(error).splitlines()[0][:300] if str(error) else "",
        )
        return
    logger.info("MLflow run %s in experiment '%s'", run_id, settings.experiment)


def load_mlflow_settings(project_path: Path, env: str | None) -> MlflowSettings:
    """mlflow.yml of `env` as a run would read it (outside a run: the sweep command)."""
    from dnn_pipelines.settings import CONFIG_LOADER_ARGS, CONFIG_LOADER_CLASS  # noqa: PLC0415

    loader = CONFIG_LOADER_CLASS(
        conf_source=str(project_path / "conf"), env=env, **CONFIG_LOADER_ARGS
    )
    return parse_mlflow_settings(loader["mlflow"])


def start_parent_run(settings: MlflowSettings, project_path: Path, sweep: str) -> str | None:
    """The MLflow run a sweep's points hang under (None if tracking is off or down)."""
    if not settings.enabled:
        return None
    try:
        client = _client(settings, project_path)
        experiment = _experiment_id(client, settings.experiment, project_path)
        tags = {"sweep": sweep, "mlflow.runName": f"sweep {sweep}"}
        return client.create_run(experiment, tags=tags).info.run_id
    except Exception as error:
        logger.warning("Could not start the sweep's MLflow run (%s); points log alone.", error)
        return None


def end_parent_run(settings: MlflowSettings, project_path: Path, run_id: str, ok: bool) -> None:
    """Mark the sweep's MLflow run finished (or failed when a point failed)."""
    try:
        _client(settings, project_path).set_terminated(run_id, "FINISHED" if ok else "FAILED")
    except Exception as error:
        logger.warning("Could not close the sweep's MLflow run %s (%s)", run_id, error)
