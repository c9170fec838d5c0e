"""Which version of each dataset a run reads, fixed before any node runs.

Kedro loads an unpinned versioned dataset as "latest": the newest version folder by name
at the moment of the load. That breaks a run three ways: a node reading what an earlier
node of the same run saved gets another run's file when a concurrent run saved later; a
folder dated in the future (a skewed clock, a data/ copied from another machine) wins over
everything; and an input can change between two nodes that read it. So before any node
runs, every versioned dataset of the run gets its load version:

- what the run saves is read back at the run's own save version;
- a `--load-versions` pin stays as given (and must exist);
- every other input comes from one earlier run of the same env: the newest run, older
  than this one, that holds all of them. A run without node filters whose inputs no
  single run holds takes each input's newest version written in the same env;
- a partial run (`--from-nodes`, `--tags`, `--only-missing-outputs`, ...) must find one
  such run, or it stops naming the missing datasets: a resume never mixes runs.
  With `--only-missing-outputs` the outputs that run already saved are reused from it.

"Earlier" and "same env" come from the run manifests (`data/09_tracking`), which every
run writes when it starts; versions newer than the run itself are never read unpinned.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kedro.io.core import AbstractVersionedDataset, VersionNotFoundError, is_parameter
from kedro.pipeline import Pipeline

from dnn_pipelines.errors import UserInputError
from dnn_pipelines.tracking.store import (
    VersionsError,
    local_path,
    manifest_dir,
    manifest_versions,
    read_manifest,
    version_at,
)

logger = logging.getLogger(__name__)

NODE_FILTERS = ("tags", "from_nodes", "to_nodes", "node_names", "from_inputs", "to_outputs")


class RunCollisionError(UserInputError, FileExistsError):
    """Another run already holds this run's save version."""


class RunStorageError(UserInputError, OSError):
    """The run cannot record itself under data/ (read-only, full, or a file in the way)."""


class UnpinnableInputError(UserInputError, VersionNotFoundError):
    """No earlier run of this env holds what the run must read."""


@dataclass
class RunPins:
    """What `pin_run` decided; recorded in the run manifest."""

    source_run: str | None = None
    """The earlier run the inputs (and reused outputs) come from, if one run holds them."""
    inputs: dict[str, str] = field(default_factory=dict)
    """Input -> version read, for inputs this run does not produce."""
    reused_outputs: dict[str, str] = field(default_factory=dict)
    """Output -> version of the source run (`--only-missing-outputs`: its node is skipped)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "source_run": self.source_run,
            "inputs": dict(sorted(self.inputs.items())),
            "reused_outputs": dict(sorted(self.reused_outputs.items())),
        }


def claim_save_version(project_path: Path, save_version: str) -> Path:
    """Create the run's manifest folder; refuse the run if another run already made it.

    `mkdir` is atomic, also on a data/ folder that several machines share, so two runs
    started in the same millisecond never write into each other's versions.
    """
    folder = manifest_dir(project_path) / save_version
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        folder.mkdir()
    except FileExistsError:
        if not folder.parent.is_dir():
            raise RunStorageError(
                f"Cannot record the run: {folder.parent} is a file, not the folder of the "
                "run manifests. Move it away and run again."
            ) from None
        raise RunCollisionError(
            f"Another run already uses save version {save_version} (two runs started in "
            "the same millisecond, or on two machines sharing data/). Nothing was run and "
            "nothing was written: start this run again."
        ) from None
    except OSError as error:
        raise RunStorageError(
            f"Cannot record the run in {folder}: {error.strerror or error}. Nothing was run: "
            "make data/ writable (or free disk space) and run again."
        ) from None
    return folder


class _History:
    """The env of earlier runs, read from their manifests on demand (newest first)."""

    def __init__(self, project_path: Path, save_version: str) -> None:
        self._project_path = project_path
        self._save_version = save_version
        self._envs: dict[str, str | None] = {}

    def earlier(self) -> list[str]:
        """Versions of the runs that started before this one, newest first."""
        return [v for v in manifest_versions(self._project_path) if v < self._save_version]

    def env_of(self, version: str) -> str | None:
        if version not in self._envs:
            try:
                self._envs[version] = read_manifest(self._project_path, version).get("env")
            except (VersionsError, AttributeError):
                self._envs[version] = None
        return self._envs[version]


def versioned_datasets(pipeline: Pipeline, catalog: Any) -> dict[str, AbstractVersionedDataset]:
    """The pipeline's datasets that Kedro versions, by name."""
    found = {}
    for name in pipeline.datasets():
        if is_parameter(name):
            continue
        dataset = catalog.get(name)
        if isinstance(dataset, AbstractVersionedDataset) and dataset._version:
            found[name] = dataset
    return found


def exists_at(dataset: AbstractVersionedDataset, version: str) -> bool:
    """Whether `version` of the dataset holds its file (complete: saves are atomic)."""
    return bool(dataset._exists_function(str(dataset._get_versioned_path(version))))


def pin(dataset: AbstractVersionedDataset, version: str) -> None:
    """Make every load of `dataset` in this run read `version`."""
    dataset._version = dataset._version._replace(load=version)
    dataset._clear_version_cache()


def _versions(dataset: AbstractVersionedDataset) -> list[str]:
    try:
        return dataset.list_versions(full_path=False)
    except VersionNotFoundError:
        return []


def _source_run(
    history: _History,
    env: str,
    datasets: dict[str, AbstractVersionedDataset],
    needed: set[str],
    any_of: set[str],
) -> str | None:
    """The newest earlier run of `env` holding every `needed` dataset and one of `any_of`."""
    for version in history.earlier():
        if history.env_of(version) != env:
            continue
        if all(exists_at(datasets[name], version) for name in needed) and (
            not any_of or any(exists_at(datasets[name], version) for name in any_of)
        ):
            return version
    return None


def newest_in_env(
    name: str, dataset: AbstractVersionedDataset, project_path: Path, env: str
) -> str:
    """The newest version of a dataset that a run of `env` wrote, future-dated ones excluded.

    What a notebook or report of `env` should show as "latest".
    """
    now = version_at(time.time())
    return _newest_in_env(name, dataset, _History(project_path, now), env, now)


def _newest_in_env(
    name: str, dataset: AbstractVersionedDataset, history: _History, env: str, save_version: str
) -> str:
    """The newest version of one input written by an earlier run of the same env."""
    versions = _versions(dataset)
    for version in versions:
        if version < save_version and history.env_of(version) == env:
            return version
    elsewhere = [v for v in versions if v < save_version and history.env_of(v) != env]
    future = [v for v in versions if v >= save_version]
    notes = []
    if elsewhere:
        envs = sorted({history.env_of(v) for v in elsewhere} - {None})
        named = f" ({', '.join(envs)})" if envs else ""
        notes.append(
            f"{len(elsewhere)} version(s) from other envs{named} or runs without a manifest, "
            "which this run does not read"
        )
    if future:
        notes.append(
            f"{len(future)} version(s) dated after this run started ({future[0]}: "
            "a skewed clock or a copied folder?)"
        )
    raise UnpinnableInputError(
        f"'{name}' has no version saved by an earlier run in env '{env}'"
        + (f"; there are {'; '.join(notes)}" if notes else "")
        + f". Run what writes it in this env first (another pipeline, or nodes that "
        "--tags/--from-nodes left out), or writer and reader in one command: "
        "`kedro run --pipelines <writer>,<reader>`; or pick a version explicitly: "
        f"--load-versions={name}:<version> (`kedro versions list {name}` lists them)."
    )


def _nodes_to_run(pipeline: Pipeline, catalog: Any) -> set[Any]:
    """The nodes `--only-missing-outputs` will run: Kedro's own decision, asked in advance."""
    from kedro.runner.runner import (  # noqa: PLC0415 - Kedro's private helpers, tested
        _build_node_children_map,
        _determine_nodes_to_run,
    )

    ordered = list(reversed(pipeline.nodes))
    return _determine_nodes_to_run(
        ordered, catalog, _build_node_children_map(pipeline), logging.getLogger(__name__)
    )


def pin_run(
    pipeline: Pipeline,
    catalog: Any,
    *,
    project_path: Path,
    save_version: str,
    env: str,
    run_params: dict[str, Any],
) -> RunPins:
    """Fix the load version of every versioned dataset of the run (see the module doc)."""
    datasets = versioned_datasets(pipeline, catalog)
    explicit = set(run_params.get("load_versions") or {})
    only_missing = bool(run_params.get("only_missing_outputs"))
    partial = only_missing or any(run_params.get(key) for key in NODE_FILTERS)
    inputs = {n for n in pipeline.inputs() if n in datasets and n not in explicit}
    outputs = {n for n in pipeline.all_outputs() if n in datasets and n not in explicit}
    history = _History(project_path, save_version)
    pins = RunPins()
    if inputs or only_missing:
        pins.source_run = _source_run(
            history, env, datasets, inputs, outputs if only_missing else set()
        )
    if inputs and pins.source_run is None and partial:
        raise UnpinnableInputError(
            f"A partial run reads every input from one earlier run, and no earlier run in "
            f"env '{env}' holds all of: {', '.join(sorted(inputs))}. Run the whole pipeline "
            "(without --from-nodes/--only-missing-outputs/--tags), or pin each input with "
            "--load-versions=<dataset>:<version>."
        )
    missing = []
    for name in sorted(inputs):
        try:
            version = pins.source_run or _newest_in_env(
                name, datasets[name], history, env, save_version
            )
        except UnpinnableInputError as error:
            missing.append(str(error))
            continue
        pin(datasets[name], version)
        pins.inputs[name] = version
    if missing:
        raise UnpinnableInputError("\n".join(missing))
    for name in outputs:
        pin(datasets[name], save_version)
    if only_missing and pins.source_run:
        _reuse_outputs(pipeline, catalog, datasets, outputs, pins, save_version)
    return pins


def _reuse_outputs(
    pipeline: Pipeline,
    catalog: Any,
    datasets: dict[str, AbstractVersionedDataset],
    outputs: set[str],
    pins: RunPins,
    save_version: str,
) -> None:
    """`--only-missing-outputs`: read the source run's outputs, except those re-made now."""
    source = str(pins.source_run)
    reused = {name for name in outputs if exists_at(datasets[name], source)}
    for name in reused:
        pin(datasets[name], source)
    remade = {out for node in _nodes_to_run(pipeline, catalog) for out in node.outputs}
    for name in reused & remade:
        pin(datasets[name], save_version)
    pins.reused_outputs = {name: source for name in sorted(reused - remade)}


def check_load_versions(load_versions: dict[str, str], pipeline: Pipeline, catalog: Any) -> None:
    """Fail early on a pinned version that does not exist; warn on a pin the run overwrites.

    Kedro itself would fail only when the first node reading the dataset runs, maybe after
    minutes of training, and only for datasets whose load names the missing version.
    """
    produced = pipeline.all_outputs()
    for name, version in sorted(load_versions.items()):
        dataset = catalog.get(name)
        if not isinstance(dataset, AbstractVersionedDataset) or local_path(dataset) is None:
            continue
        filepath = local_path(dataset)
        if not (filepath / version / filepath.name).exists():
            raise VersionNotFoundError(
                f"--load-versions {name}:{version}: dataset '{name}' has no version "
                f"'{version}' (looked for {filepath / version / filepath.name}). "
                f"Existing versions, newest first: {', '.join(_versions(dataset)) or 'none'}. "
                f"`kedro versions list {name}` shows them with their sizes."
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
