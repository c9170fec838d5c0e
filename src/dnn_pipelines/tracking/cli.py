"""`kedro versions`: find, inspect, verify and prune the versions Kedro keeps under `data/`.

Kedro never deletes a version, and a Keras model version can weigh tens of MB, so the
disk only grows. These commands show what is there and free what no kept run needs:

    kedro versions list [DATASET]        versions per dataset, with sizes
    kedro versions manifest [VERSION]    a run manifest (default: newest)
    kedro versions verify [VERSION]      its files still match its sha256
    kedro versions prune --keep N        what pruning would delete (dry run)
    kedro versions prune --keep N --apply

Errors a user can fix end in one line (`Error: ...`) and exit status 1.
"""

from __future__ import annotations

import difflib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import click

from dnn_pipelines.errors import UserErrorsGroup
from dnn_pipelines.tracking.latest import refresh_latest_pages
from dnn_pipelines.tracking.prune import DEFAULT_STALE_AFTER_MIN, apply_plan, plan_prune
from dnn_pipelines.tracking.store import (
    MAX_LISTED,
    VersionedDataset,
    VersionsError,
    is_future,
    name_datasets,
    read_manifest,
    scan,
    verify_manifest,
)

FUTURE_NOTE = (
    "future-dated: named after a moment still to come (a skewed clock or a folder copied "
    "from another machine); runs never read it unless pinned, prune never deletes it"
)


@dataclass(frozen=True)
class _Options:
    project_path: Path
    env: str | None
    use_catalog: bool


def human_bytes(size: int) -> str:
    """1536 -> '1.5 KiB'."""
    if size < 1024:
        return f"{size} B"
    value = size / 1024
    for unit in ("KiB", "MiB"):
        if value < 1024:
            return f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


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


def _echo_dataset(dataset: VersionedDataset) -> None:
    count = len(dataset.versions)
    click.echo(
        f"{dataset.label}  ({dataset.filepath})  "
        f"{count} version{'s' if count != 1 else ''}, {human_bytes(dataset.bytes)}"
    )
    for version in dataset.versions:
        note = ""
        if not version.complete:
            note = f"  incomplete: no {dataset.path.name}"
            if version.partial_files:
                note += f", {len(version.partial_files)} partial file(s)"
        if is_future(version.version):
            note += f"  {FUTURE_NOTE}"
        click.echo(f"  {version.version}  {human_bytes(version.bytes):>10}{note}")


def _project_path(given: str | None) -> Path:
    if given:
        path = Path(given).resolve()
    else:
        from kedro.utils import find_kedro_project  # noqa: PLC0415 - fast start for --help

        path = find_kedro_project(Path.cwd()) or Path.cwd()
    if not (path / "data").is_dir():
        raise VersionsError(f"No data/ folder in {path}: pass --project-path <Kedro project>")
    return Path(path).resolve()


@click.group(name="versions", cls=UserErrorsGroup)
@click.option("--project-path", help="Kedro project folder (default: found from cwd).")
@click.option("--env", help="Kedro env whose catalog names datasets (default: local).")
@click.option("--no-catalog", is_flag=True, help="Do not load Kedro; name datasets by path.")
@click.pass_context
def versions(
    ctx: click.Context, project_path: str | None, env: str | None, no_catalog: bool
) -> None:
    """List, inspect, verify and prune the versions Kedro keeps under data/."""
    ctx.obj = _Options(_project_path(project_path), env, not no_catalog)


@versions.command(name="list")
@click.argument("dataset", required=False)
@click.pass_obj
def list_versions(options: _Options, dataset: str | None) -> None:
    """Versions per dataset (or of one DATASET), with sizes."""
    datasets = scan(options.project_path / "data", options.project_path)
    names = name_datasets(datasets, options.project_path, options.env, options.use_catalog)
    if dataset:
        datasets = [_find_dataset(dataset, datasets, names, options.project_path)]
    for each in datasets:
        _echo_dataset(each)
    total = sum(each.bytes for each in datasets)
    count = sum(len(each.versions) for each in datasets)
    click.echo(f"{len(datasets)} dataset(s), {count} version(s), {human_bytes(total)} in total")


@versions.command()
@click.argument("version", required=False)
@click.pass_obj
def manifest(options: _Options, version: str | None) -> None:
    """A run manifest as JSON (VERSION or a unique prefix; default: the newest run)."""
    click.echo(json.dumps(read_manifest(options.project_path, version), indent=2))


@versions.command()
@click.argument("version", required=False)
@click.pass_obj
def verify(options: _Options, version: str | None) -> None:
    """Check a run's files against its manifest's sha256 (default: the newest run)."""
    run = read_manifest(options.project_path, version)
    if is_future(str(run.get("save_version"))):
        click.echo(f"warning: run {run['save_version']} is {FUTURE_NOTE}", err=True)
    if run.get("status") != "success":
        click.echo(f"note: run {run.get('save_version')} ended {run.get('status')}", err=True)
    checks = verify_manifest(options.project_path, run)
    for status, name, detail in checks:
        click.echo(f"{status:<8}{name}  ({detail})")
    bad = [check for check in checks if check[0] != "ok"]
    if bad:
        raise VersionsError(
            f"run {run['save_version']}: {len(bad)} of {len(checks)} files are missing "
            "or changed since the run"
        )
    click.echo(f"run {run['save_version']}: all {len(checks)} file(s) match the manifest")


def _minutes(_ctx: click.Context, _param: click.Parameter, value: float) -> float:
    if not math.isfinite(value) or value < 0:
        raise click.BadParameter(f"{value} is not a number of minutes >= 0, e.g. 60")
    return value


@versions.command()
@click.option("--keep", type=int, required=True, help="Versions to keep per dataset (at least 1).")
@click.option("--apply", "apply_", is_flag=True, help="Delete (default: dry run).")
@click.option(
    "--stale-after",
    type=float,
    default=DEFAULT_STALE_AFTER_MIN,
    show_default=True,
    metavar="MINUTES",
    callback=_minutes,
    help="Remove partial files and empty versions older than this.",
)
@click.pass_obj
def prune(options: _Options, keep: int, apply_: bool, stale_after: float) -> None:
    """Keep the newest N versions per dataset and what kept runs reference."""
    project_path = options.project_path
    datasets = scan(project_path / "data", project_path)
    name_datasets(datasets, project_path, options.env, options.use_catalog)
    plan = plan_prune(project_path, keep, datasets, stale_after * 60)
    verb = "delete" if apply_ else "would delete"
    for removal in plan.removals:
        shown = removal.path.relative_to(project_path).as_posix()
        click.echo(f"{verb}  {shown}  {human_bytes(removal.bytes)}  ({removal.reason})")
    for label, kept in sorted(plan.protected.items()):
        click.echo(
            f"keep  {label} {', '.join(kept)}  "
            "(a kept run reads or wrote it, it is still being written, or it is future-dated)"
        )
    click.echo(
        f"kept run manifests (newest {plan.keep}): {', '.join(plan.kept_manifests) or 'none'}"
    )
    if apply_:
        freed = apply_plan(plan, project_path / "data")
        click.echo(
            f"freed {freed} bytes ({human_bytes(freed)}) in {len(plan.removals)} deletion(s)"
        )
        for page in refresh_latest_pages(project_path):  # they linked deleted versions too
            click.echo(f"refreshed {page.relative_to(project_path).as_posix()}")
    else:
        click.echo(
            f"dry run: would free {plan.bytes} bytes ({human_bytes(plan.bytes)}) in "
            f"{len(plan.removals)} deletion(s); pass --apply to delete"
        )
