"""tracking/store.py, the model of versions on disk, function by function with exact values
written out here (version names, file paths, messages), never computed by the store."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from kedro.io.core import generate_timestamp

from dnn_pipelines.files import sha256_path
from dnn_pipelines.tracking.store import (
    MANIFEST_DIR,
    MANIFEST_NAME,
    VersionsError,
    _tree_bytes,
    catalog_names,
    is_future,
    local_path,
    manifest_names,
    output_file,
    read_manifest,
    referenced_versions,
    relative_to_project,
    scan,
    verify_manifest,
    version_at,
)
from tests.conftest import copy_project

NOON = 1_796_040_000.0  # 2026-11-30 12:00:00 UTC


@pytest.fixture
def new_york(monkeypatch):
    """The process's local time zone is New York's for the test (UTC-5 in winter)."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.parametrize(
    ("timestamp", "version"),
    [
        (NOON, "2026-11-30T12.00.00.000Z"),
        (NOON + 3723.4567, "2026-11-30T13.02.03.456Z"),  # truncated to the millisecond
        (0.0, "1970-01-01T00.00.00.000Z"),  # UTC, whatever the machine's time zone
    ],
)
def test_version_at_names_a_moment_as_kedro_does(timestamp, version, new_york):
    assert version_at(timestamp) == version


def test_version_at_now_has_the_shape_of_kedros_own_timestamp():
    ours, kedros = version_at(NOON), generate_timestamp()
    assert len(ours) == len(kedros) == 24
    assert [c for c in ours if not c.isdigit()] == [c for c in kedros if not c.isdigit()]


def test_a_version_is_future_only_after_now():
    assert is_future("2026-11-30T12.00.00.001Z", now=NOON)
    assert not is_future("2026-11-30T12.00.00.000Z", now=NOON)  # now is not the future
    assert not is_future("not-a-version", now=NOON)
    assert is_future("2999-01-01T00.00.00.000Z")  # against the clock
    assert not is_future("2026-11-30T12.00.00.001Z")  # that moment has passed


def test_tree_bytes_counts_every_file_below_a_folder(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    (tmp_path / "a" / "one").write_bytes(b"x" * 3)
    (tmp_path / "a" / "two").write_bytes(b"x" * 5)
    (tmp_path / "a" / "b" / "three").write_bytes(b"x" * 7)
    assert _tree_bytes(tmp_path / "a") == 15
    assert _tree_bytes(tmp_path / "a" / "one") == 3


def test_scan_lists_versions_newest_first_and_stops_at_linked_loops(tmp_path):
    dataset = tmp_path / "data" / "08_reporting" / "m.json"
    for version in ("2026-01-01T00.00.00.000Z", "2026-03-01T00.00.00.000Z"):
        (dataset / version).mkdir(parents=True)
        (dataset / version / "m.json").write_text("{}")
    (dataset / "2026-02-01T00.00.00.000Z").mkdir()  # a run killed before it saved
    (dataset / "by-hand").mkdir()  # a folder named by a user, holding the file
    (dataset / "by-hand" / "m.json").write_text("{ }")
    (tmp_path / "data" / "08_reporting" / "loop").symlink_to(tmp_path / "data")
    [found] = scan(tmp_path / "data", tmp_path)
    assert found.filepath == "data/08_reporting/m.json"
    assert [(v.version, v.complete, v.bytes) for v in found.versions] == [
        ("by-hand", True, 3),
        ("2026-03-01T00.00.00.000Z", True, 2),
        ("2026-02-01T00.00.00.000Z", False, 0),
        ("2026-01-01T00.00.00.000Z", True, 2),
    ]


@pytest.mark.parametrize(
    ("entry", "relative"),
    [
        (
            {"filepath": "data/08_reporting/m.json", "version": "2026-01-01T00.00.00.000Z"},
            "data/08_reporting/m.json/2026-01-01T00.00.00.000Z/m.json",
        ),
        ({"filepath": "data/01_raw/photo.jpg", "version": None}, "data/01_raw/photo.jpg"),
    ],
)
def test_output_file_is_where_a_manifest_entry_has_its_file(tmp_path, entry, relative):
    assert output_file(tmp_path, entry) == tmp_path / relative


def write_manifests(project: Path, manifests: dict[str, dict]) -> None:
    for version, manifest in manifests.items():
        folder = project / MANIFEST_DIR / version
        folder.mkdir(parents=True)
        (folder / MANIFEST_NAME).write_text(json.dumps(manifest))


def test_without_any_manifest_reading_one_says_to_run_a_pipeline(tmp_path):
    with pytest.raises(VersionsError) as missing:
        read_manifest(tmp_path)
    assert str(missing.value) == (
        f"No run manifest under {tmp_path / MANIFEST_DIR}: every `kedro run` of this "
        "project writes one; run a pipeline first."
    )


def test_an_ambiguous_prefix_lists_twenty_runs_and_counts_the_older(tmp_path):
    versions = [f"2026-01-{day:02}T00.00.00.000Z" for day in range(1, 23)]
    write_manifests(tmp_path, {v: {"inputs": {}, "outputs": {}} for v in versions})
    newest_first = versions[::-1]
    with pytest.raises(VersionsError) as several:
        read_manifest(tmp_path, "2026-01-1")
    assert str(several.value) == (
        f"'2026-01-1' matches several runs. Run manifests, newest first: "
        f"{', '.join(newest_first[:20])} (and 2 older)"
    )
    with pytest.raises(VersionsError) as unknown:
        read_manifest(tmp_path, "2025")
    assert str(unknown.value).startswith("'2025' is not a run manifest version. Run manifests")
    assert read_manifest(tmp_path, "2026-01-05") == {"inputs": {}, "outputs": {}}


def test_twenty_runs_are_listed_without_a_count_of_older_ones(tmp_path):
    versions = [f"2026-01-{day:02}T00.00.00.000Z" for day in range(1, 21)]
    write_manifests(tmp_path, {v: {"inputs": {}, "outputs": {}} for v in versions})
    with pytest.raises(VersionsError) as unknown:
        read_manifest(tmp_path, "x")
    assert str(unknown.value).endswith(f"newest first: {', '.join(versions[::-1])}")


def test_referenced_versions_are_the_inputs_and_outputs_with_a_version():
    manifest = {
        "inputs": {"a": {"filepath": "data/a.npz", "version": "V1"}},
        "outputs": {
            "b": {"filepath": "data/b.npz", "version": "V2"},
            "c": {"filepath": "data/c.jpg", "version": None},
            "d": {"filepath": None, "version": "V3"},
        },
    }
    assert referenced_versions(manifest) == {("data/a.npz", "V1"), ("data/b.npz", "V2")}


def test_manifest_names_come_from_inputs_and_outputs_newest_run_winning(tmp_path):
    write_manifests(
        tmp_path,
        {
            "2026-01-01T00.00.00.000Z": {
                "inputs": {"old_name": {"filepath": "data/a.npz"}},
                "outputs": {"b": {"filepath": "data/b.npz"}},
            },
            "2026-01-02T00.00.00.000Z": {
                "inputs": {"a": {"filepath": "data/a.npz"}},
                "outputs": {"m": {"filepath": None}},
            },
        },
    )
    assert manifest_names(tmp_path) == {"data/a.npz": "a", "data/b.npz": "b"}


CATALOG = """
_anchor: &anchor {type: pickle.PickleDataset, filepath: data/anchor.pkl}
plain:
  type: pickle.PickleDataset
  filepath: data/01_raw/plain.pkl
"{ns}.model":
  type: pickle.PickleDataset
  filepath: data/06_models/{ns}/model.pkl
"{ns}.{name}_plot":
  type: pickle.PickleDataset
  filepath: data/08_reporting/{ns}/{name}.png
"{ns}.fixed":
  type: pickle.PickleDataset
  filepath: data/fixed.pkl
memory: {type: MemoryDataset}
"""


def test_catalog_names_name_entries_and_the_paths_factories_match(tmp_path, monkeypatch):
    project = copy_project(tmp_path / "project")
    for catalog in (project.path / "conf").rglob("catalog*.yml"):
        catalog.unlink()
    (project.path / "conf" / "base" / "catalog.yml").write_text(CATALOG)
    (project.path / "conf" / "other").mkdir()
    (project.path / "conf" / "other" / "catalog.yml").write_text(
        "plain: {type: pickle.PickleDataset, filepath: data/01_raw/other.pkl}\n"
    )
    paths = [
        "data/01_raw/plain.pkl",
        "data/06_models/dropout/model.pkl",
        "data/08_reporting/dropout/loss.png",
        "data/09_elsewhere/x.pkl",
        "data/fixed.pkl",  # a factory's path without a placeholder names nothing
    ]
    monkeypatch.delenv("KEDRO_ENV", raising=False)
    assert catalog_names(project.path, None, paths) == {
        "data/01_raw/plain.pkl": "plain",
        "data/06_models/dropout/model.pkl": "dropout.model",
        "data/08_reporting/dropout/loss.png": "dropout.loss_plot",
    }
    monkeypatch.setenv("KEDRO_ENV", "other")  # as `kedro` reads it
    assert catalog_names(project.path, None)["data/01_raw/other.pkl"] == "plain"


def test_paths_inside_the_project_are_kept_relative_and_others_absolute():
    project = Path("/p/project")
    assert relative_to_project(project / "data" / "x.npz", project) == "data/x.npz"
    assert relative_to_project(Path("/elsewhere/x.npz"), project) == "/elsewhere/x.npz"


@pytest.mark.parametrize(
    ("dataset", "expected"),
    [
        (SimpleNamespace(_filepath="/d/x.npz"), Path("/d/x.npz")),  # no protocol: local
        (SimpleNamespace(_filepath="/d/x.npz", _protocol="file"), Path("/d/x.npz")),
        (SimpleNamespace(_filepath="/d/x.npz", _protocol="local"), Path("/d/x.npz")),
        (SimpleNamespace(_filepath="bucket/x.npz", _protocol="s3"), None),
        (SimpleNamespace(), None),  # a memory dataset
    ],
)
def test_only_local_files_have_a_local_path(dataset, expected):
    assert local_path(dataset) == expected


def test_a_json_file_that_is_not_a_manifest_is_named_with_its_folder(tmp_path):
    write_manifests(tmp_path, {"2026-01-01T00.00.00.000Z": {"inputs": [1, 2]}})
    path = tmp_path / MANIFEST_DIR / "2026-01-01T00.00.00.000Z" / MANIFEST_NAME
    with pytest.raises(VersionsError) as damaged:
        read_manifest(tmp_path)
    assert str(damaged.value) == (
        f"Cannot read run manifest {path}: it is JSON, but not a run manifest (an object whose "
        "inputs and outputs are objects of dataset entries). Delete its folder "
        f"{path.parent} if it is damaged."
    )


def test_verify_checks_each_hashed_entry_and_skips_the_unhashed(tmp_path):
    kept = tmp_path / "data" / "a.npz" / "V1" / "a.npz"
    kept.parent.mkdir(parents=True)
    kept.write_bytes(b"saved")
    manifest = {
        "inputs": {
            "_": {"filepath": "data/b.npz", "version": "V1", "sha256": None},  # not hashed
            "a": {"filepath": "data/a.npz", "version": "V1", "sha256": sha256_path(kept)[0]},
        },
        "outputs": {
            "c": {"filepath": "data/a.npz", "version": "V1", "sha256": "0" * 64},
            "d": {"filepath": "data/d.npz", "version": "V2", "sha256": "0" * 64},
            "e": {"filepath": None, "sha256": "0" * 64},  # a memory output
        },
    }
    assert verify_manifest(tmp_path, manifest) == [
        ("ok", "a", "input V1"),
        ("changed", "c", "output V1"),
        ("missing", "d", "output V2"),
    ]
