"""`kedro versions`: listing, manifests, and pruning that keeps what runs need.

The history every prune test starts from (tiny pipeline of test_manifest.py):

- run A: full run, saves tiny_data@A, tiny_metrics@A;
- run B: full run, saves tiny_data@B, tiny_metrics@B;
- run C: `--from-nodes summarize --load-versions tiny_data:A`, saves tiny_metrics@C.

With `--keep 1` the kept manifest is C's, which references tiny_data@A: A must survive
although it is not the newest version of tiny_data.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from kedro.io.core import Version

from dnn_pipelines.datasets import NpzDataset
from dnn_pipelines.tracking.cli import human_bytes, versions
from dnn_pipelines.tracking.prune import PrunePlan, Removal, apply_plan
from dnn_pipelines.tracking.store import MANIFEST_DIR, VersionsError
from tests.conftest import KedroProject
from tests.test_manifest import run_tiny, tiny_project

DATA = "data/01_raw/tiny/data.npz"
METRICS = "data/08_reporting/tiny/metrics.json"
REPO = Path(__file__).resolve().parents[1]


def history(path: Path) -> tuple[object, dict[str, str]]:
    project = tiny_project(path)
    a = run_tiny(project)
    b = run_tiny(project)
    c = run_tiny(project, from_nodes=["summarize"], load_versions={"tiny_data": a})
    return project, {"A": a, "B": b, "C": c}


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """The history, run once; tests that change it work on copies (`fresh_history`)."""
    return history(tmp_path_factory.mktemp("template") / "project")


@pytest.fixture
def fresh_history(template):
    """A private copy of the history (mtimes kept, so nothing looks newly written)."""

    def copy(path: Path) -> tuple[KedroProject, dict[str, str]]:
        shutil.copytree(template[0].path, path, symlinks=True)
        return KedroProject(path), dict(template[1])

    return copy


def snapshot(data: Path) -> dict[str, tuple[int, int, str]]:
    """Every file and folder under data/: size, mtime and sha256 (folders: empty hash)."""
    state = {}
    for path in sorted(data.rglob("*")):
        stat = path.stat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
        state[path.relative_to(data).as_posix()] = (stat.st_size, stat.st_mtime_ns, digest)
    return state


def disk_bytes(data: Path) -> int:
    """Bytes of every version on disk (the env pages under 08_reporting/latest are none)."""
    latest = data / "08_reporting" / "latest"
    return sum(p.stat().st_size for p in data.rglob("*") if p.is_file() and latest not in p.parents)


def versions_of(project, relative: str) -> set[str]:
    return {p.name for p in (project.path / relative).iterdir()}


def cli(capsys, project, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(versions, ["--project-path", str(project.path), *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(scope="module")
def listed(template):
    """The history itself, for the tests that only read it."""
    return template


# ---------------------------------------------------------------- list


def test_list_shows_every_dataset_with_each_version_and_its_size(listed, capsys):
    project, runs = listed
    code, out, _ = cli(capsys, project, "--no-catalog", "list")
    assert code == 0
    assert f"tiny_data  ({DATA})  2 versions" in out
    assert f"tiny_metrics  ({METRICS})  3 versions" in out
    assert f"run_manifest  ({MANIFEST_DIR.as_posix()})  3 versions" in out
    for relative, version in [(DATA, runs["A"]), (METRICS, runs["C"])]:
        size = (project.path / relative / version / Path(relative).name).stat().st_size
        assert f"  {version}  {human_bytes(size):>10}" in out
    total = disk_bytes(project.data)
    assert out.rstrip().endswith(f"3 dataset(s), 8 version(s), {human_bytes(total)} in total")


def test_list_one_dataset_by_catalog_name_or_by_path(listed, capsys):
    project, runs = listed
    for query in ("tiny_data", DATA, str(project.path / DATA)):
        code, out, _ = cli(capsys, project, "--no-catalog", "list", query)
        assert code == 0
        assert runs["A"] in out and runs["B"] in out
        assert "tiny_metrics" not in out


def test_list_unknown_dataset_names_the_close_ones(listed, capsys):
    project, _ = listed
    code, out, err = cli(capsys, project, "--no-catalog", "list", "tiny_metric")
    assert code == 1
    assert out == ""
    assert "Unknown dataset 'tiny_metric'. Did you mean: tiny_metrics" in err
    assert "Datasets with versions: run_manifest, tiny_data, tiny_metrics." in err


def test_list_takes_names_from_the_catalog_without_any_manifest(tmp_path, capsys):
    project = tiny_project(tmp_path / "project")
    run_tiny(project)
    for manifest in (project.path / MANIFEST_DIR).rglob("run_manifest.json"):
        manifest.unlink()
    code, out, err = cli(capsys, project, "--env", "test", "list", "tiny_metrics")
    assert code == 0, err
    assert f"tiny_metrics  ({METRICS})  1 version," in out

    # a dataset factory names each path on disk that its filepath template matches
    project.write_conf(
        "base/catalog_factory.yml",
        '"{ns}.scores": {type: json.JSONDataset, filepath: "data/08_reporting/{ns}/s.json", '
        "versioned: true}\n",
    )
    saved = project.data / "08_reporting" / "demo" / "s.json" / "2026-01-01T00.00.00.000Z"
    saved.mkdir(parents=True)
    (saved / "s.json").write_text("{}")
    code, out, err = cli(capsys, project, "--env", "test", "list", "demo.scores")
    assert code == 0, err
    assert "demo.scores  (data/08_reporting/demo/s.json)  1 version," in out


# ---------------------------------------------------------------- manifest


def test_manifest_shows_the_newest_run_by_default(listed, capsys):
    project, runs = listed
    code, out, _ = cli(capsys, project, "manifest")
    assert code == 0
    assert json.loads(out)["save_version"] == runs["C"]


def test_manifest_by_version_or_unique_prefix(listed, capsys):
    project, runs = listed
    for query in (runs["A"], runs["A"][:-1]):
        code, out, _ = cli(capsys, project, "manifest", query)
        assert code == 0
        assert json.loads(out)["save_version"] == runs["A"]


def test_manifest_unknown_version_lists_the_runs(listed, capsys):
    project, runs = listed
    code, _, err = cli(capsys, project, "manifest", "2001-01-01T00.00.00.000Z")
    assert code == 1
    assert "'2001-01-01T00.00.00.000Z' is not a run manifest version" in err
    assert f"newest first: {runs['C']}, {runs['B']}, {runs['A']}" in err
    code, _, err = cli(capsys, project, "manifest", runs["A"][:4])  # all three share the year
    assert code == 1
    assert "matches several runs" in err


# ---------------------------------------------------------------- prune


def test_prune_dry_run_changes_nothing_and_predicts_the_freed_bytes(
    tmp_path, capsys, fresh_history
):
    project, runs = fresh_history(tmp_path / "project")
    before = snapshot(project.data)
    code, out, _ = cli(capsys, project, "--no-catalog", "prune", "--keep", "1")
    assert code == 0
    assert snapshot(project.data) == before
    doomed = [
        project.path / METRICS / runs["A"],
        project.path / METRICS / runs["B"],
        project.path / MANIFEST_DIR / runs["A"],
        project.path / MANIFEST_DIR / runs["B"],
    ]
    predicted = sum(disk_bytes(folder) for folder in doomed)
    for folder in doomed:
        assert f"would delete  {folder.relative_to(project.path).as_posix()}  " in out
    assert out.count("would delete") == len(doomed)
    assert out.count("(older than the newest 1)") == len(doomed)
    assert f"kept run manifests (newest 1): {runs['C']}\n" in out
    assert f"dry run: would free {predicted} bytes" in out
    assert f"keep  tiny_data {runs['A']}  (a kept run reads or wrote it" in out

    code, out, _ = cli(capsys, project, "--no-catalog", "prune", "--keep", "2")
    assert f"kept run manifests (newest 2): {runs['C']}, {runs['B']}\n" in out  # newest first

    code, out, _ = cli(capsys, project, "--no-catalog", "prune", "--keep", "1", "--apply")
    assert code == 0
    assert f"freed {predicted} bytes" in out


def test_prune_keeps_the_newest_and_what_kept_manifests_reference(tmp_path, capsys, fresh_history):
    project, runs = fresh_history(tmp_path / "project")
    before = disk_bytes(project.data)
    kept_files = {
        path: path.read_bytes()
        for path in [
            project.path / DATA / runs["A"] / "data.npz",
            project.path / DATA / runs["B"] / "data.npz",
            project.path / METRICS / runs["C"] / "metrics.json",
        ]
    }
    code, out, _ = cli(capsys, project, "--no-catalog", "prune", "--keep", "1", "--apply")
    assert code == 0
    assert versions_of(project, DATA) == {runs["A"], runs["B"]}  # A: referenced by C's manifest
    assert versions_of(project, METRICS) == {runs["C"]}
    assert versions_of(project, MANIFEST_DIR.as_posix()) == {runs["C"]}
    assert all(path.read_bytes() == content for path, content in kept_files.items())
    freed = before - disk_bytes(project.data)
    assert freed > 0
    assert f"freed {freed} bytes" in out

    # The kept run is still reproducible from what is left, and latest still loads.
    again = run_tiny(project, from_nodes=["summarize"], load_versions={"tiny_data": runs["A"]})
    metrics = project.path / METRICS
    assert (metrics / again / "metrics.json").read_bytes() == kept_files[
        metrics / runs["C"] / "metrics.json"
    ]
    latest = NpzDataset(filepath=str(project.path / DATA), version=Version(None, None))
    assert latest.resolve_load_version() == runs["B"]
    assert set(latest.load()) == {"x"}

    # Pruning again with more to keep deletes nothing.
    code, out, _ = cli(capsys, project, "--no-catalog", "prune", "--keep", "2", "--apply")
    assert "freed 0 bytes" in out


def test_prune_removes_stale_leftovers_of_killed_runs_only(tmp_path, capsys, fresh_history):
    project, runs = fresh_history(tmp_path / "project")
    old = time.time() - 2 * 3600
    metrics = project.path / METRICS

    def make(relative: str, content: bytes | None, age: float | None) -> Path:
        path = metrics / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if content is not None:
            path.write_bytes(content)
        if age is not None:
            os.utime(path, (age, age))
            os.utime(path.parent, (age, age))
        return path

    stale_in_kept = make(f"{runs['C']}/.partial-1-metrics.json", b"x" * 10, old)
    os.utime(metrics / runs["C"], None)  # the kept version itself stays fresh
    stale_only = make("2001-01-01T00.00.00.000Z/.partial-2-metrics.json", b"y" * 20, old)
    empty = metrics / "2001-01-02T00.00.00.000Z"
    empty.mkdir()
    os.utime(empty, (old, old))
    fresh = make("2999-01-01T00.00.00.000Z/.partial-3-metrics.json", b"z" * 30, None)
    unknown = make("2001-01-03T00.00.00.000Z/notes.txt", b"mine", old)
    fresh_in_old = make("2001-01-04T00.00.00.000Z/.partial-4-metrics.json", b"w" * 40, None)
    os.utime(fresh_in_old.parent, (old, old))  # an old folder a run is writing into right now

    code, out, _ = cli(capsys, project, "--no-catalog", "prune", "--keep", "3", "--apply")
    assert code == 0
    assert not stale_in_kept.exists()
    assert (metrics / runs["C"] / "metrics.json").is_file()
    assert not stale_only.parent.exists()
    assert not empty.exists()
    assert fresh.exists()  # a run may be writing it right now
    assert unknown.exists()  # not a leftover of ours
    assert fresh_in_old.exists()  # every partial must be stale, not only the folder
    assert versions_of(project, METRICS) >= {runs["A"], runs["B"], runs["C"]}
    assert "(leftover partial file)" in out  # inside a kept version
    assert "(leftover partial files)" in out  # a version folder holding only partials
    assert "(empty version folder)" in out
    assert "freed 30 bytes" in out  # 10 + 20 bytes of partials, an empty folder is 0

    # --stale-after 0: nothing is too fresh, the last partial-only version goes too.
    code, out, _ = cli(
        capsys, project, "--no-catalog", "prune", "--keep", "3", "--stale-after", "0", "--apply"
    )
    assert code == 0
    assert not fresh.parent.exists()
    assert not fresh_in_old.parent.exists()
    assert unknown.exists()
    assert "freed 70 bytes" in out  # the two partial-only versions: 30 + 40 bytes


def test_prune_follows_a_layer_folder_linked_to_another_disk(tmp_path, capsys, fresh_history):
    project, runs = fresh_history(tmp_path / "project")
    elsewhere = tmp_path / "big_disk" / "08_reporting"
    shutil.move(project.data / "08_reporting", elsewhere)
    (project.data / "08_reporting").symlink_to(elsewhere, target_is_directory=True)
    (elsewhere / "loop").symlink_to(elsewhere, target_is_directory=True)  # must not hang
    code, out, _ = cli(capsys, project, "--no-catalog", "list", "tiny_metrics")
    assert code == 0 and "3 versions" in out
    code, out, _ = cli(capsys, project, "--no-catalog", "prune", "--keep", "1", "--apply")
    assert code == 0
    metrics = elsewhere / "tiny" / "metrics.json"
    assert {p.name for p in metrics.iterdir()} == {runs["C"]}
    assert (project.data / "08_reporting").is_symlink()


def test_prune_leaves_a_linked_version_folder_and_what_it_points_to(
    tmp_path, capsys, fresh_history
):
    """A version folder that is a symlink is not one of ours: neither followed nor removed."""
    project, runs = fresh_history(tmp_path / "project")
    elsewhere = tmp_path / "elsewhere" / "2001-01-01T00.00.00.000Z"
    elsewhere.mkdir(parents=True)
    (elsewhere / "metrics.json").write_text('{"mean": 0.0}')
    link = project.path / METRICS / elsewhere.name  # older than every run: pruned if ours
    link.symlink_to(elsewhere, target_is_directory=True)
    code, _, _ = cli(capsys, project, "--no-catalog", "prune", "--keep", "1", "--apply")
    assert code == 0
    assert versions_of(project, METRICS) == {runs["C"], elsewhere.name}
    assert link.is_symlink()
    assert (elsewhere / "metrics.json").read_text() == '{"mean": 0.0}'


def test_apply_refuses_any_path_outside_data_before_deleting_anything(tmp_path):
    data = tmp_path / "project" / "data"
    inside = data / "x.json" / "2001-01-01T00.00.00.000Z"
    inside.mkdir(parents=True)
    (inside / "x.json").write_text("old")
    outside = tmp_path / "home"
    outside.mkdir()
    (outside / "notes.txt").write_text("mine")
    removals = [Removal(inside, 3, "old"), Removal(outside, 4, "old")]
    plan = PrunePlan(keep=1, kept_manifests=[], removals=removals, protected={})
    with pytest.raises(VersionsError) as refused:
        apply_plan(plan, data)
    assert str(refused.value) == f"Refusing to delete {outside}: it is not under {data}"
    assert (inside / "x.json").read_text() == "old"  # checked before the first deletion
    assert (outside / "notes.txt").read_text() == "mine"


def test_apply_removes_a_linked_version_folder_without_following_it(tmp_path):
    data = tmp_path / "project" / "data"
    target = tmp_path / "other_disk" / "v"
    target.mkdir(parents=True)
    (target / "x.json").write_text("kept")
    link = data / "x.json" / "2001-01-01T00.00.00.000Z"
    link.parent.mkdir(parents=True)
    link.symlink_to(target, target_is_directory=True)
    plan = PrunePlan(keep=1, kept_manifests=[], removals=[Removal(link, 0, "old")], protected={})
    assert apply_plan(plan, data) == 0
    assert not link.is_symlink() and not link.exists()
    assert (target / "x.json").read_text() == "kept"


def test_prune_refuses_to_keep_nothing(listed, capsys):
    project, _ = listed
    code, _, err = cli(capsys, project, "--no-catalog", "prune", "--keep", "0")
    assert code == 1
    assert "--keep must be at least 1: the newest version is never deleted" in err


def test_prune_stops_on_an_unreadable_kept_manifest(tmp_path, capsys, fresh_history):
    project, runs = fresh_history(tmp_path / "project")
    manifest = project.path / MANIFEST_DIR / runs["C"] / "run_manifest.json"
    manifest.write_text('{"truncated": ')
    before = snapshot(project.data)
    code, _, err = cli(capsys, project, "--no-catalog", "prune", "--keep", "1", "--apply")
    assert code == 1
    assert f"Cannot read run manifest {manifest}" in err
    assert snapshot(project.data) == before


def test_missing_data_folder_is_a_clear_error(tmp_path, capsys):
    code, _, err = cli(capsys, KedroProject(tmp_path), "list")
    assert code == 1
    assert f"No data/ folder in {tmp_path}" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("minutes", ["-1", "nan", "inf"])
def test_stale_after_must_be_a_number_of_minutes(listed, capsys, minutes):
    project, _ = listed
    before = snapshot(project.data)
    code, _, err = cli(capsys, project, "prune", "--keep", "1", "--apply", "--stale-after", minutes)
    assert code == 2
    assert "--stale-after" in err and f"{float(minutes)} is not a number of minutes" in err
    assert snapshot(project.data) == before


# ---------------------------------------------------------------- the documented commands


def test_documented_commands_run_inside_kedro(tmp_path, fresh_history):
    """`kedro versions ...` from the project folder, as the docs show it."""
    project, runs = fresh_history(tmp_path / "project")
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"}

    def run(*args: str) -> str:
        result = subprocess.run(
            [str(Path(sys.executable).parent / "kedro"), "versions", *args],
            cwd=project.path,
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert runs["A"] in run("--env", "test", "list", "tiny_data")
    assert json.loads(run("manifest", runs["A"]))["save_version"] == runs["A"]
    before = snapshot(project.data)
    assert "dry run: would free" in run("prune", "--keep", "1")
    assert snapshot(project.data) == before
    assert "freed" in run("prune", "--keep", "1", "--apply")
    assert versions_of(project, METRICS) == {runs["C"]}


# ---------------------------------------------------------------- verify


def test_verify_checks_every_file_of_a_run_against_its_manifest(tmp_path, capsys, fresh_history):
    project, runs = fresh_history(tmp_path / "project")
    code, out, _ = cli(capsys, project, "verify", runs["C"])
    assert code == 0
    assert f"ok      tiny_data  (input {runs['A']})" in out
    assert f"ok      tiny_metrics  (output {runs['C']})" in out
    assert f"run {runs['C']}: all 2 file(s) match the manifest" in out

    (project.path / DATA / runs["A"] / "data.npz").write_bytes(b"tampered")
    code, out, err = cli(capsys, project, "verify", runs["C"])
    assert code == 1
    assert f"changed tiny_data  (input {runs['A']})" in out
    assert f"run {runs['C']}: 1 of 2 files are missing or changed" in err

    shutil.rmtree(project.path / METRICS / runs["C"])
    code, out, err = cli(capsys, project, "verify", runs["C"])
    assert code == 1
    assert f"missing tiny_metrics  (output {runs['C']})" in out
    assert f"run {runs['C']}: 2 of 2 files are missing or changed" in err


def test_list_survives_a_broken_catalog_and_says_so(tmp_path, capsys, caplog, fresh_history):
    project, runs = fresh_history(tmp_path / "project")
    project.write_conf("base/catalog_broken.yml", "tiny_data: [unclosed\n")
    code, out, _ = cli(capsys, project, "--env", "test", "list")
    assert code == 0
    assert runs["A"] in out  # versions still listed, named from manifests and paths
    [warning] = [r.getMessage() for r in caplog.records if "catalog names" in r.getMessage()]
    assert warning.startswith("catalog names unavailable (ParserError: Invalid YAML or JSON file ")
    assert warning.endswith("); showing names from run manifests and paths.")


# ---------------------------------------------------------------- future, failed, running runs

FUTURE = "2999-01-01T00.00.00.000Z"


def _fake_run(project, version: str, status: str, **fields) -> None:
    """A run's traces as another process (or a copied data/) leaves them."""
    for relative, content in ((DATA, None), (METRICS, b'{"mean": 1.0}')):
        folder = project.path / relative / version
        folder.mkdir(parents=True)
        target = folder / Path(relative).name
        if content is None:
            np.savez(target, x=np.ones(3))
        else:
            target.write_bytes(content)
    manifest = project.path / MANIFEST_DIR / version / "run_manifest.json"
    manifest.parent.mkdir(parents=True)
    entry = {"filepath": METRICS, "version": version}
    body = {"save_version": version, "env": "test", "status": status, "outputs": {}, **fields}
    if status == "success":
        body["outputs"] = {"tiny_metrics": entry}
    manifest.write_text(json.dumps(body))


def test_a_future_dated_run_neither_counts_as_newest_nor_gets_deleted(
    tmp_path, capsys, fresh_history
):
    project, runs = fresh_history(tmp_path / "project")
    _fake_run(project, FUTURE, "success")
    code, out, _ = cli(capsys, project, "--no-catalog", "list", "tiny_metrics")
    assert code == 0
    assert f"  {FUTURE}" in out and "future-dated" in out
    assert out.count("future-dated") == 1
    code, out, _ = cli(capsys, project, "--no-catalog", "prune", "--keep", "1", "--apply")
    assert code == 0
    assert versions_of(project, METRICS) == {runs["C"], FUTURE}
    assert versions_of(project, DATA) == {runs["A"], runs["B"], FUTURE}
    assert versions_of(project, MANIFEST_DIR.as_posix()) == {runs["C"], FUTURE}


def test_the_newest_successful_run_survives_newer_failed_runs(tmp_path, capsys, fresh_history):
    project, runs = fresh_history(tmp_path / "project")
    with pytest.raises(RuntimeError, match="asked to fail"):
        run_tiny(project, params={"tiny": {"fail": True}})
    code, _, err = cli(capsys, project, "--no-catalog", "prune", "--keep", "1", "--apply")
    assert code == 0, err
    assert runs["C"] in versions_of(project, METRICS)
    assert runs["A"] in versions_of(project, DATA)  # what C read


def test_a_run_still_going_keeps_everything_it_wrote(tmp_path, capsys, fresh_history):
    project, _ = fresh_history(tmp_path / "project")

    going = "2026-01-01T00.00.00.000Z"  # older than the history: pruned if not alive
    dead = "2026-01-01T00.00.00.001Z"
    alive = {"host": socket.gethostname(), "pid": os.getpid()}
    _fake_run(project, going, "running", started_at="2026-01-01T00:00:00+00:00", **alive)
    gone = {"host": socket.gethostname(), "pid": 2**22 + 12345}  # above any pid_max
    _fake_run(project, dead, "running", started_at="2026-01-01T00:00:00+00:00", **gone)
    code, _, err = cli(capsys, project, "--no-catalog", "prune", "--keep", "1", "--apply")
    assert code == 0, err
    assert going in versions_of(project, METRICS) and going in versions_of(project, DATA)
    assert dead not in versions_of(project, METRICS) | versions_of(project, DATA)


@pytest.mark.parametrize("content", ["[1, 2]", '{"inputs": [1]}', '{"outputs": {"x": 3}}'])
def test_a_manifest_of_the_wrong_shape_is_reported_and_skipped(
    tmp_path, capsys, fresh_history, content
):
    project, runs = fresh_history(tmp_path / "project")
    manifest = project.path / MANIFEST_DIR / runs["A"] / "run_manifest.json"
    manifest.write_text(content)
    code, out, _ = cli(capsys, project, "--no-catalog", "list")
    assert code == 0 and runs["B"] in out
    code, _, err = cli(capsys, project, "verify", runs["A"])
    assert code == 1
    assert f"Cannot read run manifest {manifest}: it is JSON, but not a run manifest" in err
    assert "Traceback" not in err
    code, _, err = cli(capsys, project, "--no-catalog", "prune", "--keep", "1", "--apply")
    assert code == 0, err
    assert versions_of(project, METRICS) == {runs["C"]}


# ------------------------------------------------------------- what counts as a running run


def _dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def _running(**fields: object) -> dict:
    now = datetime.datetime.now(datetime.UTC)
    return {"status": "running", "started_at": now.isoformat(), **fields}


HOUR = 3600.0


@pytest.mark.parametrize(
    ("manifest", "expected"),
    [
        (lambda: {**_running(host=socket.gethostname(), pid=os.getpid()), "status": "ok"}, False),
        (lambda: _running(host=socket.gethostname(), pid=os.getpid()), True),  # alive here
        (lambda: _running(host=socket.gethostname(), pid=_dead_pid()), False),  # died here
        (lambda: _running(host="elsewhere", pid=_dead_pid()), True),  # recent, another host
        (lambda: {**_running(host="elsewhere"), "started_at": "2001-01-01T00:00:00+00:00"}, False),
        (lambda: {**_running(host="elsewhere"), "started_at": "yesterday"}, False),
    ],
    ids=["finished", "alive here", "dead here", "recent elsewhere", "old elsewhere", "no date"],
)
def test_a_running_manifest_counts_while_its_process_lives_or_is_recent(manifest, expected):
    from dnn_pipelines.tracking.prune import _still_running  # noqa: PLC0415

    assert _still_running(manifest(), time.time(), HOUR) is expected


def test_a_running_process_of_another_user_counts(monkeypatch):
    from dnn_pipelines.tracking import prune  # noqa: PLC0415

    def not_ours(pid: int, signal: int) -> None:
        raise PermissionError(pid)

    monkeypatch.setattr(prune.os, "kill", not_ours)
    manifest = _running(host=socket.gethostname(), pid=12345)
    assert prune._still_running(manifest, time.time(), HOUR) is True


def test_a_named_dataset_without_versions_says_where_it_looked(tmp_path):
    from dnn_pipelines.tracking.cli import _find_dataset  # noqa: PLC0415

    names = {"data/08_reporting/x/metrics.json": "x_metrics"}
    with pytest.raises(VersionsError) as missing:
        _find_dataset("x_metrics", [], names, tmp_path)
    assert str(missing.value) == (
        f"Dataset 'x_metrics' (data/08_reporting/x/metrics.json) has no versions under "
        f"{tmp_path / 'data'} yet: run a pipeline that saves it."
    )
    with pytest.raises(VersionsError) as unknown:
        _find_dataset("x_metrcs", [], names, tmp_path)
    assert str(unknown.value) == (
        "Unknown dataset 'x_metrcs'. Did you mean: x_metrics? Datasets with versions: none."
    )


@pytest.mark.parametrize(
    ("size", "shown"),
    [
        (0, "0 B"),
        (1023, "1023 B"),
        (1024, "1.0 KiB"),
        (1536, "1.5 KiB"),
        (1048575, "1024.0 KiB"),
        (1048576, "1.0 MiB"),
        (5 * 2**30, "5.0 GiB"),
        (3 * 2**40, "3072.0 GiB"),  # no larger unit
    ],
)
def test_sizes_are_shown_in_binary_units(size, shown):
    assert human_bytes(size) == shown


def _datasets(*names: str) -> list:
    from dnn_pipelines.tracking.store import VersionedDataset  # noqa: PLC0415

    return [VersionedDataset(f"data/x/{n}.json", Path(f"/p/data/x/{n}.json"), [], n) for n in names]


@pytest.mark.parametrize(
    ("names", "query", "expected"),
    [
        (
            ["metrics_a", "metrics_b", "metrics_c", "metrics_d", "metrics_e", "other"],
            "metric",
            "Unknown dataset 'metric'. Did you mean: metrics_e, metrics_d, metrics_c? "
            "Datasets with versions: metrics_a, metrics_b, metrics_c, metrics_d, metrics_e, "
            "other.",
        ),
        (
            [f"d{i:02}" for i in range(20)],
            "zzz",
            "Unknown dataset 'zzz'. Datasets with versions: "
            + ", ".join(f"d{i:02}" for i in range(20))
            + ".",
        ),
        (
            [f"d{i:02}" for i in range(21)],
            "zzz",
            "Unknown dataset 'zzz'. Datasets with versions: 21 of them, shown by `list` "
            "without a dataset.",
        ),
    ],
)
def test_an_unknown_dataset_names_three_close_ones_and_lists_up_to_twenty(
    tmp_path, names, query, expected
):
    from dnn_pipelines.tracking.cli import _find_dataset  # noqa: PLC0415

    with pytest.raises(VersionsError) as unknown:
        _find_dataset(query, _datasets(*names), {}, tmp_path)
    assert str(unknown.value) == expected


def test_each_version_line_says_what_is_wrong_with_it(capsys):
    from dnn_pipelines.tracking.cli import FUTURE_NOTE, _echo_dataset  # noqa: PLC0415
    from dnn_pipelines.tracking.store import DatasetVersion, VersionedDataset  # noqa: PLC0415

    folder = Path("/p/data/x/m.json")
    dataset = VersionedDataset(
        "data/x/m.json",
        folder,
        [
            DatasetVersion("2999-01-01T00.00.00.000Z", folder / "a", False, 2048),
            DatasetVersion("2026-01-03T00.00.00.000Z", folder / "b", False, 10, [Path("p1")]),
            DatasetVersion("2026-01-02T00.00.00.000Z", folder / "c", False, 0),
            DatasetVersion("2026-01-01T00.00.00.000Z", folder / "d", True, 1),
        ],
        "m",
    )
    _echo_dataset(dataset)
    assert capsys.readouterr().out.splitlines() == [
        "m  (data/x/m.json)  4 versions, 2.0 KiB",
        f"  2999-01-01T00.00.00.000Z     2.0 KiB  incomplete: no m.json  {FUTURE_NOTE}",
        "  2026-01-03T00.00.00.000Z        10 B  incomplete: no m.json, 1 partial file(s)",
        "  2026-01-02T00.00.00.000Z         0 B  incomplete: no m.json",
        "  2026-01-01T00.00.00.000Z         1 B",
    ]


def test_without_project_path_the_project_is_found_from_a_subfolder(tmp_path, monkeypatch):
    from dnn_pipelines.tracking.cli import _project_path  # noqa: PLC0415

    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "pyproject.toml").write_text('[tool.kedro]\npackage_name = "x"\n')
    (project / "notebooks").mkdir()
    monkeypatch.chdir(project / "notebooks")
    assert _project_path(None) == project.resolve()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(VersionsError, match=f"No data/ folder in {tmp_path}: pass --project-path"):
        _project_path(None)
