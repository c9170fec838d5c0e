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

Since the hook resolves the pinned versions anyway, it also stops a run whose
`--load-versions` names a version that does not exist, before any node runs, naming the
dataset, the version and the versions that exist (Kedro alone fails only when the first
node reading it runs).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import re
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from kedro.framework.hooks import hook_impl
from kedro.io.core import (
    AbstractDataset,
    AbstractVersionedDataset,
    VersionNotFoundError,
    is_parameter,
)
from kedro.pipeline import Node, Pipeline

logger = logging.getLogger(__name__)

PARTIAL_PREFIX = ".partial-"
"""The hidden name of a file being saved, as in `dnn_pipelines.datasets.atomic` (a test
checks they agree); not imported from there, which would load pandas and matplotlib into
`python -m dnn_pipelines.versions`."""
MANIFEST_FORMAT = 1
MANIFEST_NAME = "run_manifest.json"
MANIFEST_DIR = Path("data") / "09_tracking" / MANIFEST_NAME
"""Relative to the project folder; each run adds `<save version>/run_manifest.json`."""

TRACKED_DISTRIBUTIONS = (
    "kedro",
    "kedro-datasets",
    "tensorflow",
    "keras",
    "scikit-learn",
    "numpy",
    "pandas",
)
_HASH_CHUNK = 1 << 20
_GIT_TIMEOUT_S = 10


def manifest_dir(project_path: Path) -> Path:
    """The versioned folder holding every run manifest of a project."""
    return Path(project_path) / MANIFEST_DIR


def relative_to_project(path: Path, project_path: Path) -> str:
    """A POSIX path relative to the project when inside it, so manifests survive a move."""
    path = Path(path)
    return (
        path.relative_to(project_path) if path.is_relative_to(project_path) else path
    ).as_posix()


def sha256_file(path: Path) -> str:
    """sha256 of one file, read in chunks (models are tens of MB)."""
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_path(path: Path) -> tuple[str, int]:
    """sha256 and size in bytes of a file or of a whole folder.

    A folder hashes like the output of `sha256sum` over its files sorted by relative
    path (`<sha256>  <relative path>` lines), so renaming or changing any file changes it.
    """
    if path.is_file():
        return sha256_file(path), path.stat().st_size
    lines = []
    size = 0
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        lines.append(f"{sha256_file(file)}  {file.relative_to(path).as_posix()}\n")
        size += file.stat().st_size
    return hashlib.sha256("".join(lines).encode()).hexdigest(), size


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


def write_json_atomically(path: Path, content: dict[str, Any]) -> None:
    """Write to a partial name in the same folder, flush to disk, then rename into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.parent / f"{PARTIAL_PREFIX}{os.getpid()}-{path.name}"
    try:
        with partial.open("w", encoding="utf-8") as file:
            json.dump(content, file, indent=2, sort_keys=False)
            file.write("\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


@dataclass
class _RunState:
    """What the hook learns about one run before it can write the manifest."""

    started_at: datetime
    parameters: dict[str, Any] = field(default_factory=dict)
    tensorflow_settings: dict[str, Any] | None = None
    parameters_used: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    node_started: dict[str, float] = field(default_factory=dict)
    node_seconds: dict[str, float] = field(default_factory=dict)


def _local_path(dataset: AbstractDataset) -> Path | None:
    """The local file path of a file dataset; None for memory or remote datasets."""
    filepath = getattr(dataset, "_filepath", None)
    if filepath is None or getattr(dataset, "_protocol", "file") not in ("file", "local"):
        return None
    return Path(str(filepath))


def check_load_versions(load_versions: dict[str, str], pipeline: Pipeline, catalog: Any) -> None:
    """Fail early on a pinned version that does not exist; warn on a pin the run overwrites.

    Kedro itself would fail only when the first node reading the dataset runs, maybe after
    minutes of training, and only for datasets whose load names the missing version.
    """
    produced = pipeline.all_outputs()
    for name, version in sorted(load_versions.items()):
        dataset = catalog.get(name)
        if not isinstance(dataset, AbstractVersionedDataset) or _local_path(dataset) is None:
            continue
        filepath = _local_path(dataset)
        if not (filepath / version / filepath.name).exists():
            try:
                existing = dataset.list_versions(full_path=False)
            except VersionNotFoundError:
                existing = []
            raise VersionNotFoundError(
                f"--load-versions {name}:{version}: dataset '{name}' has no version "
                f"'{version}' (looked for {filepath / version / filepath.name}). "
                f"Existing versions, newest first: {', '.join(existing) or 'none'}. "
                f"`python -m dnn_pipelines.versions list {name}` shows them with their sizes."
            )
        if name in produced:
            logger.warning(
                "--load-versions pins '%s' to %s, but this run also saves '%s': the nodes "
                "after its producer load the pinned version, not the new one. Start the run "
                "after the producer (--from-nodes) to reuse the stored version.",
                name,
                version,
                name,
            )


class RunManifestHook:
    """Writes `data/09_tracking/run_manifest.json/<save version>/run_manifest.json` per run."""

    def __init__(self) -> None:
        self._runs: dict[str, _RunState] = {}
        self._tensorflow_settings: dict[str, Any] | None = None
        self._default_env: str | None = None

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        """Keep tensorflow.yml as resolved for this env: precision and determinism move numbers."""
        try:
            config = dict(context.config_loader["tensorflow"])
            self._tensorflow_settings = _jsonable(config.get("tensorflow", config))
        except Exception:  # no tensorflow.yml: nothing to record
            self._tensorflow_settings = None
        # `kedro run` without --env reports env None; the config came from the default env.
        self._default_env = getattr(context.config_loader, "default_run_env", None) or None

    @hook_impl
    def after_catalog_created(self, parameters: dict[str, Any], save_version: str | None) -> None:
        """Keep the resolved (validated) parameters of the run's catalog."""
        if save_version is None:  # a catalog made outside a run (notebook, kedro viz)
            return
        state = self._runs.setdefault(save_version, _RunState(datetime.now(UTC)))
        state.parameters = parameters.get("parameters", {})
        state.tensorflow_settings = self._tensorflow_settings

    @hook_impl
    def before_pipeline_run(
        self, run_params: dict[str, Any], pipeline: Pipeline, catalog: Any
    ) -> None:
        """Check pinned versions, then resolve, record and so pin every versioned input.

        A `--load-versions` naming a version that does not exist stops the run here, before
        any node runs, with the dataset, the version and the versions that do exist.
        """
        try:
            check_load_versions(run_params.get("load_versions") or {}, pipeline, catalog)
        except VersionNotFoundError:
            self._runs.pop(run_params["run_id"], None)
            raise
        state = self._runs.setdefault(run_params["run_id"], _RunState(datetime.now(UTC)))
        try:
            self._record_inputs(state, Path(run_params["project_path"]), pipeline, catalog)
        except Exception:  # the manifest must never be why a run fails
            logger.exception("Could not record the inputs of run %s", run_params["run_id"])

    def _record_inputs(
        self, state: _RunState, project_path: Path, pipeline: Pipeline, catalog: Any
    ) -> None:
        for name in sorted(pipeline.inputs()):
            if is_parameter(name):
                continue
            dataset = catalog.get(name)
            if not isinstance(dataset, AbstractVersionedDataset) or not dataset._version:
                continue
            try:
                # Caches the version on the dataset: the load uses exactly this one.
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
        self._write(run_params, pipeline, catalog, error=None)

    @hook_impl
    def on_pipeline_error(
        self, error: Exception, run_params: dict[str, Any], pipeline: Pipeline, catalog: Any
    ) -> None:
        """Write the manifest of a failed run: what it was and what it had saved."""
        self._write(run_params, pipeline, catalog, error=error)

    def _write(
        self,
        run_params: dict[str, Any],
        pipeline: Pipeline,
        catalog: Any,
        error: Exception | None,
    ) -> None:
        save_version = run_params["run_id"]
        state = self._runs.pop(save_version, None) or _RunState(datetime.now(UTC))
        project_path = Path(run_params["project_path"])
        target = manifest_dir(project_path) / save_version / MANIFEST_NAME
        try:
            manifest = self._manifest(run_params, pipeline, catalog, state, error)
            write_json_atomically(target, manifest)
        except Exception:
            logger.exception("Could not write the run manifest %s", target)
            return
        shown = relative_to_project(target, project_path)
        logger.info("Run manifest (%s): %s", manifest["status"], shown)

    def _manifest(
        self,
        run_params: dict[str, Any],
        pipeline: Pipeline,
        catalog: Any,
        state: _RunState,
        error: Exception | None,
    ) -> dict[str, Any]:
        project_path = Path(run_params["project_path"])
        save_version = run_params["run_id"]
        finished_at = datetime.now(UTC)
        parameters = _jsonable(state.parameters)
        parameters_used = _jsonable(state.parameters_used)
        return {
            "manifest_format": MANIFEST_FORMAT,
            "save_version": save_version,
            "status": "failed" if error else "success",
            "error": f"{type(error).__name__}: {error}" if error else None,
            "started_at": state.started_at.isoformat(),
            "finished_at": finished_at.isoformat(),
            "duration_s": round((finished_at - state.started_at).total_seconds(), 3),
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
            "env": run_params.get("env") or self._default_env,
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
            "inputs": state.inputs,
            "outputs": self._outputs(pipeline, catalog, save_version, project_path),
        }

    def _outputs(
        self, pipeline: Pipeline, catalog: Any, save_version: str, project_path: Path
    ) -> dict[str, dict[str, Any]]:
        """Every file dataset the run saved (an output without its file was not saved)."""
        outputs = {}
        for name in sorted(pipeline.all_outputs()):
            dataset = catalog.get(name)
            if dataset is None or _local_path(dataset) is None:
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
        filepath = _local_path(dataset)
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
