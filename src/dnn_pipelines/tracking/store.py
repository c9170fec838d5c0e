"""The version store: what runs left under `data/`, read from disk and from run manifests.

Datasets are found on disk (any `<name>/<version>/<name>` under `data/`), so reading
works without a valid conf/. Their catalog names come from the catalog config (dataset
factories included) and from the run manifests; no dataset or pipeline is imported, so
`kedro versions` starts in a second or two and TensorFlow never loads.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import parse
from kedro.io.core import AbstractDataset

from dnn_pipelines.errors import UserInputError
from dnn_pipelines.files import PARTIAL_PREFIX, sha256_path

logger = logging.getLogger(__name__)

MANIFEST_NAME = "run_manifest.json"
MANIFEST_DIR = Path("data") / "09_tracking" / MANIFEST_NAME
"""Relative to the project folder; each run adds `<save version>/run_manifest.json`."""
VERSION_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}\.\d{2}\.\d{2}\.\d{3}Z$")
"""Kedro's save version (`kedro.io.core.generate_timestamp`): sorts like time."""

MAX_LISTED = 20
MANIFEST_DATASET = "run_manifest"
"""How the listing names the manifests' folder (not a catalog entry: the hook writes it)."""


class VersionsError(UserInputError, ValueError):
    """A problem the user can fix (unknown dataset or version, unreadable manifest)."""


def version_at(timestamp: float) -> str:
    """Kedro's save version for a moment (`kedro.io.core.generate_timestamp`'s format)."""
    moment = datetime.fromtimestamp(timestamp, UTC)
    return moment.strftime("%Y-%m-%dT%H.%M.%S.%f")[:-3] + "Z"


def is_future(version: str, now: float | None = None) -> bool:
    """A version named after a moment still to come: a skewed clock or a copied folder."""
    return VERSION_PATTERN.match(version) is not None and version > version_at(
        time.time() if now is None else now
    )


def manifest_dir(project_path: Path) -> Path:
    """The versioned folder holding every run manifest of a project."""
    return Path(project_path) / MANIFEST_DIR


def relative_to_project(path: Path, project_path: Path) -> str:
    """A POSIX path relative to the project when inside it, so manifests survive a move."""
    path = Path(path)
    return (
        path.relative_to(project_path) if path.is_relative_to(project_path) else path
    ).as_posix()


def local_path(dataset: AbstractDataset) -> Path | None:
    """The local file path of a file dataset; None for memory or remote datasets."""
    filepath = getattr(dataset, "_filepath", None)
    if filepath is None or getattr(dataset, "_protocol", "file") not in ("file", "local"):
        return None
    return Path(str(filepath))


# --------------------------------------------------------------------------- disk model


@dataclass
class DatasetVersion:
    """One `<dataset>/<version>/` folder."""

    version: str
    path: Path
    complete: bool
    """Holds the dataset's file; Kedro loads only complete versions."""
    bytes: int
    partial_files: list[Path] = field(default_factory=list)


@dataclass
class VersionedDataset:
    """A versioned dataset folder under `data/` and its versions, newest first."""

    filepath: str
    """Relative to the project, as in the catalog (`data/08_reporting/x/metrics.json`)."""
    path: Path
    versions: list[DatasetVersion]
    name: str | None = None

    @property
    def label(self) -> str:
        return self.name or self.filepath

    @property
    def bytes(self) -> int:
        return sum(version.bytes for version in self.versions)

    def complete_versions(self) -> list[DatasetVersion]:
        return [version for version in self.versions if version.complete]


def _tree_bytes(path: Path) -> int:
    """Bytes of a file, or of every file below a folder (symlinks not followed)."""
    if path.is_symlink() or path.is_file():
        return path.lstat().st_size
    total = 0
    for root, _dirs, files in os.walk(path):
        total += sum((Path(root) / name).lstat().st_size for name in files)
    return total


def _partials(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob(f"{PARTIAL_PREFIX}*") if p.is_file() or p.is_symlink())


def _is_version_folder(folder: Path, dataset_name: str) -> bool:
    """`folder` is `<dataset>/<version>`: it holds the file, a partial of it, or a version name."""
    if VERSION_PATTERN.match(folder.name):
        return True
    if (folder / dataset_name).exists():
        return True
    return any(folder.glob(f"{PARTIAL_PREFIX}*{dataset_name}"))


def scan(data_dir: Path, project_path: Path) -> list[VersionedDataset]:
    """Every versioned dataset under `data_dir`, sorted by path; versions newest first."""
    datasets = []
    seen: set[str] = set()
    # A layer folder may be a symlink to a bigger disk: follow it, but never in a loop.
    for root, dirs, _files in os.walk(data_dir, followlinks=True):
        real = os.path.realpath(root)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        folder = Path(root)
        subfolders = [folder / name for name in dirs if not (folder / name).is_symlink()]
        version_folders = [sub for sub in subfolders if _is_version_folder(sub, folder.name)]
        if not version_folders:
            continue
        dirs[:] = []  # never look for datasets inside a dataset's versions
        versions = [
            DatasetVersion(
                version=sub.name,
                path=sub,
                complete=(sub / folder.name).exists(),
                bytes=_tree_bytes(sub),
                partial_files=_partials(sub),
            )
            for sub in sorted(version_folders, key=lambda sub: sub.name, reverse=True)
        ]
        datasets.append(
            VersionedDataset(
                filepath=folder.relative_to(project_path).as_posix(),
                path=folder,
                versions=versions,
            )
        )
    return sorted(datasets, key=lambda dataset: dataset.filepath)


# --------------------------------------------------------------------------- manifests


def manifest_versions(project_path: Path) -> list[str]:
    """Versions of the complete run manifests, newest first."""
    folder = project_path / MANIFEST_DIR
    if not folder.is_dir():
        return []
    return sorted(
        (sub.name for sub in folder.iterdir() if (sub / MANIFEST_NAME).is_file()), reverse=True
    )


def output_file(project_path: Path, entry: dict[str, Any]) -> Path:
    """Where a manifest's dataset entry has its file: <filepath>/<version>/<file name>, or
    <filepath> itself for an unversioned dataset (version null)."""
    filepath = Path(entry["filepath"])
    if entry.get("version") is None:
        return project_path / filepath
    return project_path / filepath / entry["version"] / filepath.name


def read_manifest(project_path: Path, version: str | None = None) -> dict[str, Any]:
    """The manifest of run `version` (a unique prefix is enough; None: the newest run)."""
    versions = manifest_versions(project_path)
    if not versions:
        raise VersionsError(
            f"No run manifest under {project_path / MANIFEST_DIR}: "
            "every `kedro run` of this project writes one; run a pipeline first."
        )
    if version is None:
        chosen = versions[0]
    else:
        matches = [v for v in versions if v == version] or [
            v for v in versions if v.startswith(version)
        ]
        if len(matches) != 1:
            why = "matches several runs" if matches else "is not a run manifest version"
            raise VersionsError(
                f"'{version}' {why}. Run manifests, newest first: "
                f"{', '.join(versions[:MAX_LISTED])}"
                + (
                    f" (and {len(versions) - MAX_LISTED} older)"
                    if len(versions) > MAX_LISTED
                    else ""
                )
            )
        chosen = matches[0]
    path = project_path / MANIFEST_DIR / chosen / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise VersionsError(
            f"Cannot read run manifest {path}: {error}. Delete its folder "
            f"{path.parent} if it is damaged."
        ) from error
    if not _well_formed(manifest):
        raise VersionsError(
            f"Cannot read run manifest {path}: it is JSON, but not a run manifest (an object "
            "whose inputs and outputs are objects of dataset entries). Delete its folder "
            f"{path.parent} if it is damaged."
        )
    return manifest


def _well_formed(manifest: Any) -> bool:
    """The shape every reader relies on: {"inputs": {name: {...}}, "outputs": {...}, ...}."""
    if not isinstance(manifest, dict):
        return False
    for section in ("inputs", "outputs"):
        entries = manifest.get(section) or {}
        if not isinstance(entries, dict) or not all(isinstance(e, dict) for e in entries.values()):
            return False
    return True


def referenced_versions(manifest: dict[str, Any]) -> set[tuple[str, str]]:
    """(filepath, version) of every input a run loaded and every output it saved."""
    referenced = set()
    for section in ("inputs", "outputs"):
        for entry in (manifest.get(section) or {}).values():
            if entry.get("filepath") and entry.get("version"):
                referenced.add((entry["filepath"], entry["version"]))
    return referenced


def manifest_names(project_path: Path) -> dict[str, str]:
    """filepath -> catalog name, from every readable run manifest (newest wins)."""
    names: dict[str, str] = {}
    for version in reversed(manifest_versions(project_path)):
        try:
            manifest = read_manifest(project_path, version)
        except VersionsError:
            continue
        for section in ("inputs", "outputs"):
            for name, entry in (manifest.get(section) or {}).items():
                if entry.get("filepath"):
                    names[entry["filepath"]] = name
    return names


# --------------------------------------------------------------------------- catalog names


def catalog_names(
    project_path: Path, env: str | None, filepaths: list[str] | None = None
) -> dict[str, str]:
    """filepath -> catalog name, from the catalog config alone (no dataset is created).

    Explicit entries name their filepath. A dataset factory (`"{ns}.model"` with
    `filepath: data/06_models/{ns}/model.keras`) names each path on disk (`filepaths`)
    that its filepath template matches. Neither pipelines nor datasets are imported, so
    listing never pays for TensorFlow.
    """
    # Kedro's start-up log lines and deprecation warnings would drown the listing.
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            config = _catalog_config(project_path, env)
    finally:
        logging.disable(previous)
    names = {}
    patterns = []
    for name, entry in config.items():
        if not isinstance(entry, dict) or "filepath" not in entry:  # Kedro drops `_` keys
            continue
        filepath = str(entry["filepath"])
        if "{" in name:
            patterns.append((name, filepath))
        else:
            names[filepath] = name
    for path in filepaths or []:
        if path in names:
            continue
        for name, template in patterns:
            found = parse.parse(template, path)
            if found is not None and found.named:
                names[path] = name.format(**found.named)
                break
    return names


def _catalog_config(project_path: Path, env: str | None) -> dict[str, Any]:
    from kedro.framework.project import settings  # noqa: PLC0415 - Kedro only when needed
    from kedro.framework.startup import bootstrap_project  # noqa: PLC0415

    bootstrap_project(project_path)
    loader = settings.CONFIG_LOADER_CLASS(
        conf_source=str(project_path / settings.CONF_SOURCE),
        env=env or os.environ.get("KEDRO_ENV"),
        **settings.CONFIG_LOADER_ARGS,
    )
    return loader["catalog"]


def name_datasets(
    datasets: list[VersionedDataset], project_path: Path, env: str | None, use_catalog: bool
) -> dict[str, str]:
    """Attach catalog names to the scanned datasets; return every filepath -> name known."""
    names = {MANIFEST_DIR.as_posix(): MANIFEST_DATASET} | manifest_names(project_path)
    if use_catalog:
        try:
            filepaths = [dataset.filepath for dataset in datasets]
            names.update(catalog_names(project_path, env, filepaths))
        except Exception as error:  # a broken conf/ must not stop listing or pruning
            logger.warning(
                "catalog names unavailable (%s: %s); showing names from run manifests and paths.",
                type(error).__name__,
                error,
            )
    for dataset in datasets:
        dataset.name = names.get(dataset.filepath)
    return names


def verify_manifest(project_path: Path, manifest: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(status, dataset, detail) for every input and output a manifest lists.

    status is `ok`, `missing` (pruned or never copied) or `changed` (sha256 differs).
    """
    checks = []
    for section in ("inputs", "outputs"):
        for name, entry in sorted((manifest.get(section) or {}).items()):
            if not entry.get("filepath") or not entry.get("sha256"):
                continue
            path = output_file(project_path, entry)
            detail = f"{section[:-1]} {entry.get('version')}"
            if not path.exists():
                checks.append(("missing", name, detail))
            elif sha256_path(path)[0] != entry["sha256"]:
                checks.append(("changed", name, detail))
            else:
                checks.append(("ok", name, detail))
    return checks
