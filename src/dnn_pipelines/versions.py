"""Find, inspect and prune the versions Kedro keeps under `data/`.

Kedro never deletes a version, and a Keras model version can weigh tens of MB, so the
disk only grows. This command shows what is there and frees what no kept run needs:

    python -m dnn_pipelines.versions list [DATASET]        versions per dataset, with sizes
    python -m dnn_pipelines.versions manifest [VERSION]    a run manifest (default: newest)
    python -m dnn_pipelines.versions verify [VERSION]      its files still match its sha256
    python -m dnn_pipelines.versions prune --keep N        what pruning would delete (dry run)
    python -m dnn_pipelines.versions prune --keep N --apply

Pruning keeps, for every dataset, its newest N complete versions and every version a
kept run manifest references (inputs it loaded, outputs it saved); the kept manifests
are the newest N. It also removes what killed runs leave behind: `.partial-*` files
(see `dnn_pipelines.datasets.atomic`) and version folders left empty, once they are
older than `--stale-after` minutes, so a run saving right now is never disturbed.

Datasets are found on disk (any `<name>/<version>/<name>` under `data/`), so the command
works without a valid conf/. Their catalog names come from the catalog config (dataset
factories included) and from the run manifests; no dataset or pipeline is imported, so
the command starts in a second or two, TensorFlow never loads.
"""

from __future__ import annotations

import argparse
import difflib
import json
import logging
import os
import re
import shutil
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import parse

from dnn_pipelines.manifest import MANIFEST_DIR, MANIFEST_NAME, PARTIAL_PREFIX, sha256_path

logger = logging.getLogger(__name__)

VERSION_PATTERN = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}\.\d{2}\.\d{2}\.\d{3}Z$")
"""Kedro's save version (`kedro.io.core.generate_timestamp`): sorts like time."""

DEFAULT_STALE_AFTER_MIN = 60.0
MAX_LISTED = 20
MANIFEST_DATASET = "run_manifest"
"""How the listing names the manifests' folder (not a catalog entry: the hook writes it)."""


class VersionsError(Exception):
    """A problem the user can fix (unknown dataset or version, unreadable manifest)."""


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
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise VersionsError(
            f"Cannot read run manifest {path}: {error}. Delete its folder "
            f"{path.parent} if it is damaged."
        ) from error


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
        if name.startswith("_") or not isinstance(entry, dict) or "filepath" not in entry:
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


# --------------------------------------------------------------------------- prune


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
    kept: dict[str, list[str]]
    """Dataset label -> kept versions (newest first)."""
    protected: dict[str, list[str]]
    """Dataset label -> versions kept only because a kept manifest references them."""

    @property
    def bytes(self) -> int:
        return sum(removal.bytes for removal in self.removals)


def plan_prune(
    project_path: Path,
    keep: int,
    stale_after_s: float = DEFAULT_STALE_AFTER_MIN * 60,
    datasets: list[VersionedDataset] | None = None,
    now: float | None = None,
) -> PrunePlan:
    """Decide what to delete: old versions no kept manifest needs, stale leftovers."""
    if keep < 1:
        raise VersionsError("--keep must be at least 1: the newest version is never deleted")
    now = time.time() if now is None else now
    if datasets is None:
        datasets = scan(project_path / "data", project_path)
    kept_manifests = manifest_versions(project_path)[:keep]
    referenced: set[tuple[str, str]] = set()
    for version in kept_manifests:
        referenced |= referenced_versions(read_manifest(project_path, version))
    manifest_filepath = MANIFEST_DIR.as_posix()

    def stale(path: Path) -> bool:
        return now - path.lstat().st_mtime >= stale_after_s

    plan = PrunePlan(keep=keep, kept_manifests=kept_manifests, removals=[], kept={}, protected={})
    for dataset in datasets:
        complete = dataset.complete_versions()
        if dataset.filepath == manifest_filepath:
            newest = {version.version for version in complete if version.version in kept_manifests}
        else:
            newest = {version.version for version in complete[:keep]}
        kept, protected = [], []
        for version in dataset.versions:
            if not version.complete:
                plan.removals.extend(_incomplete_leftovers(version, stale))
            elif version.version in newest or (dataset.filepath, version.version) in referenced:
                kept.append(version.version)
                if version.version not in newest:
                    protected.append(version.version)
                plan.removals.extend(
                    Removal(partial, partial.lstat().st_size, "leftover partial file")
                    for partial in version.partial_files
                    if stale(partial)
                )
            else:
                plan.removals.append(
                    Removal(version.path, version.bytes, f"older than the newest {keep}")
                )
        plan.kept[dataset.label] = kept
        if protected:
            plan.protected[dataset.label] = protected
    return plan


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


# --------------------------------------------------------------------------- output


def human_bytes(size: int) -> str:
    """1536 -> '1.5 KiB'."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _find_dataset(
    query: str, datasets: list[VersionedDataset], names: dict[str, str], project_path: Path
) -> VersionedDataset:
    """A dataset by catalog name or path; otherwise an error listing the known ones."""
    wanted = Path(query)
    candidates = {wanted.as_posix(), Path(os.path.abspath(query)).as_posix()}
    for dataset in datasets:
        if query == dataset.name or {dataset.filepath, dataset.path.as_posix()} & candidates:
            return dataset
    named = {name: path for path, name in names.items()}
    if query in named:
        raise VersionsError(
            f"Dataset '{query}' ({named[query]}) has no versions under "
            f"{project_path / 'data'} yet: run a pipeline that saves it."
        )
    labels = sorted(dataset.label for dataset in datasets)
    close = difflib.get_close_matches(query, sorted(set(labels) | set(named)), n=3)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    if len(labels) > MAX_LISTED:
        listed = f"{len(labels)} of them, shown by `list` without a dataset"
    else:
        listed = ", ".join(labels) if labels else "none"
    raise VersionsError(f"Unknown dataset '{query}'.{hint} Datasets with versions: {listed}.")


def _print_dataset(dataset: VersionedDataset) -> None:
    count = len(dataset.versions)
    print(
        f"{dataset.label}  ({dataset.filepath})  "
        f"{count} version{'s' if count != 1 else ''}, {human_bytes(dataset.bytes)}"
    )
    for version in dataset.versions:
        note = ""
        if not version.complete:
            note = f"  incomplete: no {dataset.path.name}"
            if version.partial_files:
                note += f", {len(version.partial_files)} partial file(s)"
        print(f"  {version.version}  {human_bytes(version.bytes):>10}{note}")


def command_list(args: argparse.Namespace, project_path: Path) -> None:
    """Print the versions of every dataset (or of one) with their sizes."""
    datasets = scan(project_path / "data", project_path)
    names = name_datasets(datasets, project_path, args.env, use_catalog=not args.no_catalog)
    if args.dataset:
        datasets = [_find_dataset(args.dataset, datasets, names, project_path)]
    for dataset in datasets:
        _print_dataset(dataset)
    total = sum(dataset.bytes for dataset in datasets)
    versions = sum(len(dataset.versions) for dataset in datasets)
    print(f"{len(datasets)} dataset(s), {versions} version(s), {human_bytes(total)} in total")


def command_manifest(args: argparse.Namespace, project_path: Path) -> None:
    """Print a run manifest as JSON."""
    print(json.dumps(read_manifest(project_path, args.version), indent=2))


def verify_manifest(project_path: Path, manifest: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(status, dataset, detail) for every input and output a manifest lists.

    status is `ok`, `missing` (pruned or never copied) or `changed` (sha256 differs).
    """
    checks = []
    for section in ("inputs", "outputs"):
        for name, entry in sorted((manifest.get(section) or {}).items()):
            if not entry.get("filepath") or not entry.get("sha256"):
                continue
            filepath = Path(entry["filepath"])
            path = project_path / filepath
            if entry.get("version"):
                path = path / entry["version"] / filepath.name
            detail = f"{section[:-1]} {entry.get('version')}"
            if not path.exists():
                checks.append(("missing", name, detail))
            elif sha256_path(path)[0] != entry["sha256"]:
                checks.append(("changed", name, detail))
            else:
                checks.append(("ok", name, detail))
    return checks


def command_verify(args: argparse.Namespace, project_path: Path) -> None:
    """Recompute the sha256 of what a run loaded and saved; fail on any difference."""
    manifest = read_manifest(project_path, args.version)
    checks = verify_manifest(project_path, manifest)
    for status, name, detail in checks:
        print(f"{status:<8}{name}  ({detail})")
    bad = [check for check in checks if check[0] != "ok"]
    if bad:
        raise VersionsError(
            f"run {manifest['save_version']}: {len(bad)} of {len(checks)} files are missing "
            "or changed since the run"
        )
    print(f"run {manifest['save_version']}: all {len(checks)} file(s) match the manifest")


def command_prune(args: argparse.Namespace, project_path: Path) -> None:
    """Show (or, with --apply, do) the pruning to the newest N versions."""
    datasets = scan(project_path / "data", project_path)
    name_datasets(datasets, project_path, args.env, use_catalog=not args.no_catalog)
    plan = plan_prune(project_path, args.keep, args.stale_after * 60, datasets)
    verb = "delete" if args.apply else "would delete"
    for removal in plan.removals:
        shown = removal.path.relative_to(project_path).as_posix()
        print(f"{verb}  {shown}  {human_bytes(removal.bytes)}  ({removal.reason})")
    for label, versions in sorted(plan.protected.items()):
        print(f"keep  {label} {', '.join(versions)}  (referenced by a kept run manifest)")
    manifests = ", ".join(plan.kept_manifests) or "none"
    print(f"kept run manifests (newest {plan.keep}): {manifests}")
    if args.apply:
        freed = apply_plan(plan, project_path / "data")
        print(f"freed {freed} bytes ({human_bytes(freed)}) in {len(plan.removals)} deletion(s)")
    else:
        print(
            f"dry run: would free {plan.bytes} bytes ({human_bytes(plan.bytes)}) in "
            f"{len(plan.removals)} deletion(s); pass --apply to delete"
        )


def _project_path(given: str | None) -> Path:
    if given:
        path = Path(given).resolve()
    else:
        from kedro.utils import find_kedro_project  # noqa: PLC0415 - fast start for --help

        path = find_kedro_project(Path.cwd()) or Path.cwd()
    if not (path / "data").is_dir():
        raise VersionsError(f"No data/ folder in {path}: pass --project-path <Kedro project>")
    return Path(path).resolve()


def build_parser() -> argparse.ArgumentParser:
    """The command line: list, manifest, prune."""
    parser = argparse.ArgumentParser(
        prog="python -m dnn_pipelines.versions",
        description="List, inspect, verify and prune the versions Kedro keeps under data/.",
    )
    parser.add_argument("--project-path", help="Kedro project folder (default: found from cwd)")
    parser.add_argument("--env", help="Kedro env whose catalog names datasets (default: local)")
    parser.add_argument(
        "--no-catalog", action="store_true", help="do not load Kedro; name datasets by path"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    listing = commands.add_parser("list", help="versions per dataset, with sizes")
    listing.add_argument("dataset", nargs="?", help="catalog name or path of one dataset")
    listing.set_defaults(handler=command_list)
    manifest = commands.add_parser("manifest", help="a run manifest (default: the newest run)")
    manifest.add_argument("version", nargs="?", help="the run's save version (or a prefix)")
    manifest.set_defaults(handler=command_manifest)
    verify = commands.add_parser(
        "verify", help="check a run's files against its manifest's sha256 (default: newest)"
    )
    verify.add_argument("version", nargs="?", help="the run's save version (or a prefix)")
    verify.set_defaults(handler=command_verify)
    prune = commands.add_parser("prune", help="keep the newest N versions per dataset")
    prune.add_argument("--keep", type=int, required=True, help="versions to keep per dataset")
    prune.add_argument("--apply", action="store_true", help="delete (default: dry run)")
    prune.add_argument(
        "--stale-after",
        type=float,
        default=DEFAULT_STALE_AFTER_MIN,
        metavar="MINUTES",
        help="remove partial files and empty versions older than this (default: %(default)s)",
    )
    prune.set_defaults(handler=command_prune)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command; errors the user can fix print one line and exit with status 1."""
    args = build_parser().parse_args(argv)
    logging.getLogger("kedro").setLevel(logging.WARNING)
    try:
        args.handler(args, _project_path(args.project_path))
    except VersionsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `... | head`: the reader left, not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())
