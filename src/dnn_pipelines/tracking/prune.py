"""Pruning: free the disk of versions no kept run needs, and of what killed runs left.

Pruning keeps, for every dataset, its newest N complete versions and every version a
kept run manifest references (inputs it loaded, outputs it saved). The kept manifests
are the newest N runs, the newest successful run, and every run still going. Versions
named after a moment still to come (a skewed clock, a folder copied from another
machine) take no place among the newest and are never deleted: `kedro versions list`
flags them for a person to judge. It also removes what killed runs leave behind: partial files (see
`dnn_pipelines.files`) and version folders left empty, once they are older than
`--stale-after` minutes, so a run saving right now is never disturbed.
"""

from __future__ import annotations

import os
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from dnn_pipelines.files import PARTIAL_PREFIX
from dnn_pipelines.tracking.store import (
    MANIFEST_DIR,
    VERSION_PATTERN,
    DatasetVersion,
    VersionedDataset,
    VersionsError,
    manifest_versions,
    read_manifest,
    referenced_versions,
    version_at,
)

DEFAULT_STALE_AFTER_MIN = 60.0


@dataclass
class Removal:
    """One path pruning deletes, and why."""

    path: Path
    bytes: int
    reason: str


@dataclass
class PrunePlan:
    """What `prune` keeps and removes; nothing is touched until `apply_plan`."""

    keep: int
    kept_manifests: list[str]
    removals: list[Removal]
    protected: dict[str, list[str]]
    """Dataset label -> versions kept only because a kept manifest references them."""

    @property
    def bytes(self) -> int:
        return sum(removal.bytes for removal in self.removals)


def _still_running(manifest: dict, now: float, stale_after_s: float) -> bool:
    """A `running` manifest whose process lives (this host) or is recent (another host)."""
    if manifest.get("status") != "running":
        return False
    if manifest.get("host") == socket.gethostname() and isinstance(manifest.get("pid"), int):
        try:
            os.kill(manifest["pid"], 0)
        except ProcessLookupError:
            return False
        except PermissionError:  # alive, another user's
            return True
        return True
    try:
        started = datetime.fromisoformat(str(manifest.get("started_at"))).timestamp()
    except ValueError:
        return False
    return now - started < stale_after_s


def kept_runs(project_path: Path, keep: int, now: float, stale_after_s: float) -> list[str]:
    """The run manifests pruning keeps (see the module doc), newest first."""
    manifests = manifest_versions(project_path)
    present = version_at(now)
    past = [version for version in manifests if version <= present]
    kept = past[:keep]
    for version in kept:  # a kept manifest that cannot be read stops the prune
        read_manifest(project_path, version)
    readable = {}
    for version in past:
        try:
            readable[version] = read_manifest(project_path, version)
        except VersionsError:
            continue
    successes = [v for v in past if readable.get(v, {}).get("status") == "success"]
    running = [v for v in past if v in readable and _still_running(readable[v], now, stale_after_s)]
    future = [version for version in manifests if version > present]
    extra = successes[:1] + running + future
    return sorted(set(kept) | set(extra), reverse=True)


@dataclass(frozen=True)
class _Keep:
    """What every dataset's versions are judged against."""

    keep: int
    present: str
    """The version name of now: anything newer is future-dated."""
    kept_manifests: list[str]
    referenced: set[tuple[str, str]]
    running: set[str]
    stale: Callable[[Path], bool]


def plan_prune(
    project_path: Path,
    keep: int,
    datasets: list[VersionedDataset],
    stale_after_s: float = DEFAULT_STALE_AFTER_MIN * 60,
    now: float | None = None,
) -> PrunePlan:
    """Decide what to delete among named `datasets`: old versions no kept run needs, and
    stale leftovers. Datasets without a name (no catalog entry, no manifest) are left alone."""
    if keep < 1:
        raise VersionsError("--keep must be at least 1: the newest version is never deleted")
    now = time.time() if now is None else now
    kept_manifests = kept_runs(project_path, keep, now, stale_after_s)
    manifests = {version: read_manifest(project_path, version) for version in kept_manifests}
    rules = _Keep(
        keep=keep,
        present=version_at(now),
        kept_manifests=kept_manifests,
        referenced=set().union(*map(referenced_versions, manifests.values())),
        running={v for v, manifest in manifests.items() if manifest.get("status") == "running"},
        stale=lambda path: now - path.lstat().st_mtime >= stale_after_s,
    )
    plan = PrunePlan(keep=keep, kept_manifests=kept_manifests, removals=[], protected={})
    for dataset in datasets:
        if dataset.name is not None:  # unnamed: not a dataset of ours to delete from
            _plan_dataset(dataset, rules, plan)
    return plan


def _plan_dataset(dataset: VersionedDataset, rules: _Keep, plan: PrunePlan) -> None:
    """Add one dataset's removals and protected versions to `plan`."""
    complete = [v for v in dataset.complete_versions() if v.version <= rules.present]
    if dataset.filepath == MANIFEST_DIR.as_posix():
        newest = {v.version for v in complete if v.version in rules.kept_manifests}
    else:
        newest = {v.version for v in complete[: rules.keep]}
    protected = []
    for version in dataset.versions:
        if not VERSION_PATTERN.match(version.version):
            continue  # Kedro names every version folder it writes this way
        needed = (
            (dataset.filepath, version.version) in rules.referenced
            or version.version in rules.running
            or (version.complete and version.version > rules.present)
        )
        if not version.complete and not needed:
            plan.removals.extend(_incomplete_leftovers(version, rules.stale))
        elif version.version in newest or needed:
            if version.version not in newest:
                protected.append(version.version)
            plan.removals.extend(
                Removal(partial, partial.lstat().st_size, "leftover partial file")
                for partial in version.partial_files
                if rules.stale(partial)
            )
        else:
            reason = f"older than the newest {rules.keep}"
            plan.removals.append(Removal(version.path, version.bytes, reason))
    if protected:
        plan.protected[dataset.label] = protected


def _incomplete_leftovers(version: DatasetVersion, stale: Callable[[Path], bool]) -> list[Removal]:
    """An incomplete version is what a killed run left: remove it whole, once stale.

    Only when it holds nothing but partial files: anything else is not ours to judge.
    """
    leftovers = [p for p in version.path.rglob("*") if p.is_file() or p.is_symlink()]
    if any(not p.name.startswith(PARTIAL_PREFIX) for p in leftovers):
        return []
    if not stale(version.path) or not all(stale(p) for p in leftovers):
        return []
    reason = "leftover partial files" if leftovers else "empty version folder"
    return [Removal(version.path, version.bytes, reason)]


def apply_plan(plan: PrunePlan, data_dir: Path) -> int:
    """Delete what the plan lists (only paths reached through `data_dir`); return bytes freed.

    Every path is checked before the first deletion. A symlink is removed, never followed.
    """
    data_dir = data_dir.absolute()
    for removal in plan.removals:
        if not removal.path.absolute().is_relative_to(data_dir):
            raise VersionsError(f"Refusing to delete {removal.path}: it is not under {data_dir}")
    freed = 0
    for removal in plan.removals:
        if removal.path.is_dir() and not removal.path.is_symlink():
            shutil.rmtree(removal.path)
        else:
            removal.path.unlink(missing_ok=True)
        freed += removal.bytes
    return freed
