"""Run manifests: what every `kedro run` used and produced, written next to its artifacts.

Kedro versions each artifact, but nothing ties the versions of one run together or says
with which code, libraries and parameters they were made. `RunManifestHook` writes one
JSON per run to `data/09_tracking/run_manifest.json/<save version>/run_manifest.json`,
the layout of a versioned Kedro dataset, so the run's save version names both the
manifest and every artifact the run saved. It records:

- the save version, the git commit and whether the work tree was dirty;
- the Python, kedro, TensorFlow, Keras, scikit-learn and numpy versions (read from the
  installed package metadata, so TensorFlow is never imported by the hook);
- the env, pipelines, node filters, runner, runtime params and `load_versions`;
- how long each node computed (`node_seconds`, slowest first): where a run's time went;
- the parameters the run's nodes read (`params:` inputs) and every resolved parameter of
  the project, each with its sha256, and the resolved `tensorflow.yml` settings;
- for every versioned input the run loaded and every output it saved: its version,
  file path, size and sha256.

A manifest is written at the end of every run, successful or not (`status` says which);
a failed run's manifest names the error and lists the outputs it had saved. A run that
fails before its pipeline starts (a bad parameter) writes none. Writing a manifest never
fails the run: a problem is logged as an error, the artifacts are already saved.

Before any node runs, the hook also checks the run's `--load-versions`
(`dnn_pipelines.tracking.pins`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import re
import shlex
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kedro.framework.hooks import hook_impl
from kedro.io.core import (
    AbstractDataset,
    AbstractVersionedDataset,
    is_parameter,
)
from kedro.pipeline import Node, Pipeline

from dnn_pipelines.files import sha256_path, write_json_atomically
from dnn_pipelines.tracking.pins import (
    RunPins,
    check_load_versions,
    claim_save_version,
    pin_run,
)
from dnn_pipelines.tracking.store import (
    MANIFEST_NAME,
    local_path,
    manifest_dir,
    relative_to_project,
)

if TYPE_CHECKING:
    from dnn_pipelines.hooks import TensorFlowHook

logger = logging.getLogger(__name__)

MANIFEST_FORMAT = 1
TRACKED_DISTRIBUTIONS = (
    "kedro",
    "kedro-datasets",
    "tensorflow",
    "keras",
    "scikit-learn",
    "numpy",
    "pandas",
)
_GIT_TIMEOUT_S = 10


def _jsonable(value: Any) -> Any:
    """Parameters as plain JSON values: pydantic models dumped, tuples as lists."""
    if hasattr(value, "model_dump"):
        return _jsonable(value.model_dump(mode="json"))
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [_jsonable(item) for item in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


def parameters_sha256(parameters: dict[str, Any]) -> str:
    """A hash of the resolved parameters that does not depend on key order or types' repr."""
    dumped = json.dumps(_jsonable(parameters), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(dumped.encode()).hexdigest()


def package_versions() -> dict[str, str | None]:
    """Python and the installed versions of the libraries that decide the numbers."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in TRACKED_DISTRIBUTIONS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def _git(project_path: Path, *args: str) -> str | None:
    try:
        result = subprocess.run(
            ["git", *args],  # git from PATH: the one the user runs
            cwd=project_path,
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout if result.returncode == 0 else None


def git_state(project_path: Path) -> dict[str, Any]:
    """The commit of the project folder and whether tracked or new files differ from it.

    Both are null when git is missing or the folder is not a git work tree.
    """
    commit = _git(project_path, "rev-parse", "HEAD")
    if commit is None:
        return {"commit": None, "dirty": None}
    status = _git(project_path, "status", "--porcelain")
    return {"commit": commit.strip(), "dirty": None if status is None else bool(status.strip())}


def runner_name(raw: str) -> str:
    """`run_params['runner']` holds a repr (`<kedro.runner...Runner object at 0x..>`) or 'None'."""
    if raw in ("None", ""):
        return "SequentialRunner"  # what KedroSession.run uses when given none
    match = re.search(r"([A-Za-z_]\w*) object at", raw)
    return match.group(1) if match else raw


@dataclass
class _RunState:
    """What the hook learns about one run before it can write the manifest."""

    started_at: datetime
    parameters: dict[str, Any] = field(default_factory=dict)
    tensorflow_settings: dict[str, Any] | None = None
    parameters_used: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    pins: RunPins | None = None
    node_started: dict[str, float] = field(default_factory=dict)
    node_seconds: dict[str, float] = field(default_factory=dict)
    started: tuple[dict[str, Any], Pipeline, Any] | None = None
    """(run_params, pipeline, catalog) once the run has started: what an interrupt needs."""


class RunManifestHook:
    """Writes `data/09_tracking/run_manifest.json/<save version>/run_manifest.json` per run.

    The manifest is written when the run starts (status `running`: the save version is
    claimed, the env and the pinned inputs recorded) and again when it ends (`success`,
    `failed`, or `interrupted` for Ctrl-C), so every version under data/ has one.
    """

    def __init__(self, tensorflow: TensorFlowHook) -> None:
        self._runs: dict[str, _RunState] = {}
        self._tensorflow = tensorflow
        """Reads and validates tensorflow.yml once; the manifest records what it parsed."""
        self._default_env: str | None = None

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        """Keep the env the config came from: `kedro run` without --env reports None."""
        self._default_env = getattr(context.config_loader, "default_run_env", None) or None

    @hook_impl
    def after_catalog_created(self, parameters: dict[str, Any], save_version: str | None) -> None:
        """Keep the resolved (validated) parameters of the run's catalog."""
        if save_version is None:  # a catalog made outside a run (notebook, kedro viz)
            return
        state = self._runs.setdefault(save_version, _RunState(datetime.now(UTC)))
        state.parameters = parameters.get("parameters", {})
        settings = self._tensorflow.settings
        state.tensorflow_settings = None if settings is None else settings.model_dump(mode="json")

    def env_of(self, run_params: dict[str, Any]) -> str | None:
        """The run's env: `kedro run` without --env reports None for the default env."""
        return run_params.get("env") or self._default_env

    @hook_impl
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: Any
    ) -> None:
        """Pin what the run reads, claim its save version and write its `running` manifest.

        A `--load-versions` naming a version that does not exist, an input no earlier run
        of this env saved, or a save version another run holds stops the run here, before
        any node runs and without writing anything.
        """
        save_version = run_params["run_id"]
        project_path = Path(run_params["project_path"])
        try:
            check_load_versions(run_params.get("load_versions") or {}, pipeline, catalog)
            pins = pin_run(
                pipeline,
                catalog,
                project_path=project_path,
                save_version=save_version,
                env=str(self.env_of(run_params)),
                run_params=run_params,
            )
            claim_save_version(project_path, save_version)
        except Exception:
            self._runs.pop(save_version, None)
            raise
        state = self._runs.setdefault(save_version, _RunState(datetime.now(UTC)))
        state.pins = pins
        state.started = (run_params, pipeline, catalog)
        try:
            self._record_inputs(state, project_path, pipeline, catalog)
        except Exception as error:  # the manifest must never be why a run fails
            logger.error("Could not record the inputs of run %s: %s", save_version, error)
        self._write(run_params, pipeline, catalog, state, "running")

    def _record_inputs(
        self, state: _RunState, project_path: Path, pipeline: Pipeline, catalog: Any
    ) -> None:
        reused = set(state.pins.reused_outputs) if state.pins else set()
        for name in sorted(pipeline.inputs() | reused):
            if is_parameter(name):
                continue
            dataset = catalog.get(name)
            if not isinstance(dataset, AbstractVersionedDataset) or not dataset._version:
                continue
            try:
                version = dataset.resolve_load_version()
            except Exception:  # the load itself raises the clear error
                continue
            state.inputs[name] = self._describe(dataset, version, project_path)
        state.parameters_used = {
            name.removeprefix("params:"): catalog.get(name).load()  # no INFO line per param
            for name in sorted(pipeline.inputs())
            if name.startswith("params:")
        }

    @hook_impl
    def before_node_run(self, node: Node, run_id: str) -> None:
        """Start the node's clock (its inputs are loaded; its compute starts now)."""
        if run_id in self._runs:
            self._runs[run_id].node_started[node.name] = time.perf_counter()

    @hook_impl
    def after_node_run(self, node: Node, run_id: str) -> None:
        """Stop it before the outputs are saved: `node_seconds` is compute, not catalog I/O."""
        state = self._runs.get(run_id)
        if state is not None and node.name in state.node_started:
            elapsed = time.perf_counter() - state.node_started.pop(node.name)
            state.node_seconds[node.name] = round(elapsed, 3)

    @hook_impl
    def after_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: Any
    ) -> None:
        """Write the manifest of a successful run."""
        self._finish(run_params, pipeline, catalog, "success")

    @hook_impl
    def on_pipeline_error(
        self, error: Exception, run_params: dict[str, Any], pipeline: Pipeline, catalog: Any
    ) -> None:
        """Write the manifest of a failed run: what it was and what it had saved."""
        self._finish(run_params, pipeline, catalog, "failed", error)

    def interrupt_open_runs(self) -> None:
        """Ctrl-C: Kedro calls no hook for it, so the CLI asks for the manifests here."""
        for save_version, state in list(self._runs.items()):
            if state.started is not None:
                run_params, pipeline, catalog = state.started
                self._finish(run_params, pipeline, catalog, "interrupted")
            self._runs.pop(save_version, None)

    def _finish(
        self,
        run_params: dict[str, Any],
        pipeline: Pipeline,
        catalog: Any,
        status: str,
        error: BaseException | None = None,
    ) -> None:
        state = self._runs.pop(run_params["run_id"], None)
        if state is None or state.started is None:  # refused before it started
            return
        self._write(run_params, pipeline, catalog, state, status, error)

    def _write(
        self,
        run_params: dict[str, Any],
        pipeline: Pipeline,
        catalog: Any,
        state: _RunState,
        status: str,
        error: BaseException | None = None,
    ) -> None:
        save_version = run_params["run_id"]
        project_path = Path(run_params["project_path"])
        target = manifest_dir(project_path) / save_version / MANIFEST_NAME
        try:
            manifest = self._manifest(run_params, pipeline, catalog, state, status, error)
            write_json_atomically(target, manifest)
        except Exception as problem:  # one line: the run's own error is what the user needs
            logger.error("Could not write the run manifest %s: %s", target, problem)
            return
        if status != "running":
            shown = relative_to_project(target, project_path)
            logger.info("Run manifest (%s): %s", status, shown)

    def _manifest(
        self,
        run_params: dict[str, Any],
        pipeline: Pipeline,
        catalog: Any,
        state: _RunState,
        status: str,
        error: BaseException | None,
    ) -> dict[str, Any]:
        project_path = Path(run_params["project_path"])
        save_version = run_params["run_id"]
        finished_at = None if status == "running" else datetime.now(UTC)
        parameters = _jsonable(state.parameters)
        parameters_used = _jsonable(state.parameters_used)
        return {
            "manifest_format": MANIFEST_FORMAT,
            "save_version": save_version,
            "status": status,
            "error": f"{type(error).__name__}: {error}" if error else None,
            "started_at": state.started_at.isoformat(),
            "finished_at": finished_at and finished_at.isoformat(),
            "duration_s": finished_at
            and round((finished_at - state.started_at).total_seconds(), 3),
            "host": socket.gethostname(),
            "pid": os.getpid(),
            # compute time per node, slowest first (SequentialRunner; ParallelRunner's
            # workers run the hooks in other processes, so it stays empty there)
            "node_seconds": dict(
                sorted(state.node_seconds.items(), key=lambda item: item[1], reverse=True)
            ),
            "command": shlex.join(sys.argv),
            "project_path": project_path.as_posix(),
            "git": git_state(project_path),
            "versions": package_versions(),
            "platform": platform.platform(),
            "env": self.env_of(run_params),
            "pipelines": run_params.get("pipeline_names") or ["__default__"],
            "runner": runner_name(str(run_params.get("runner"))),
            "filters": {
                key: run_params.get(key) or None  # the CLI passes [] for "no filter"
                for key in (
                    "tags",
                    "from_nodes",
                    "to_nodes",
                    "node_names",
                    "from_inputs",
                    "to_outputs",
                    "namespaces",
                    "only_missing_outputs",
                )
            },
            "runtime_params": _jsonable(run_params.get("runtime_params") or {}),
            "load_versions": dict(run_params.get("load_versions") or {}),
            "parameters_used_sha256": parameters_sha256(parameters_used),
            "parameters_used": parameters_used,
            "parameters_sha256": parameters_sha256(parameters),
            "parameters": parameters,
            "tensorflow_settings": state.tensorflow_settings,
            "tensorflow_applied": self._tensorflow.applied,
            "pins": state.pins.as_dict() if state.pins else None,
            "inputs": state.inputs,
            "outputs": (
                {} if status == "running" else self._outputs(pipeline, catalog, project_path)
            ),
        }

    def _outputs(
        self, pipeline: Pipeline, catalog: Any, project_path: Path
    ) -> dict[str, dict[str, Any]]:
        """Every file dataset the run saved (an output without its file was not saved)."""
        outputs = {}
        for name in sorted(pipeline.all_outputs()):
            dataset = catalog.get(name)
            if dataset is None:
                continue
            versioned = isinstance(dataset, AbstractVersionedDataset) and bool(dataset._version)
            version = dataset.resolve_save_version() if versioned else None
            described = self._describe(dataset, version, project_path)
            if described["sha256"] is not None:
                outputs[name] = described
        return outputs

    @staticmethod
    def _describe(
        dataset: AbstractDataset, version: str | None, project_path: Path
    ) -> dict[str, Any]:
        """Version, path, size and sha256 of one dataset version (nulls when it is absent)."""
        filepath = local_path(dataset)
        if filepath is None:
            return {
                "filepath": None,
                "type": None,
                "version": version,
                "bytes": None,
                "sha256": None,
            }
        file = filepath / version / filepath.name if version else filepath
        digest, size = sha256_path(file) if file.exists() else (None, None)
        return {
            "filepath": relative_to_project(filepath, project_path),
            "type": f"{type(dataset).__module__}.{type(dataset).__qualname__}",
            "version": version,
            "bytes": size,
            "sha256": digest,
        }
