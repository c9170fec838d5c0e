"""What a notebook shows as "latest" (`newest_in_env`, `EnvView`): the newest version an
earlier run of the same env wrote; other envs', manifest-less and future-dated versions
are skipped, and an env that never wrote the dataset gets one message naming them.

The versions and their envs are written out here; the manifests are plain JSON files."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from kedro.io import DataCatalog, Version
from kedro_datasets.json import JSONDataset

from dnn_pipelines.tracking.pins import UnpinnableInputError, newest_in_env
from dnn_pipelines.tracking.store import MANIFEST_DIR, MANIFEST_NAME
from dnn_pipelines.tracking.view import EnvView

NO_MANIFEST = "2026-11-30T08.00.00.000Z"
BASE_OLD = "2026-11-30T09.00.00.000Z"
BASE_NEW = "2026-11-30T10.00.00.000Z"
OFFLINE = "2026-11-30T11.00.00.000Z"
FUTURE = "2999-01-01T00.00.00.000Z"
ENVS = {BASE_OLD: "base", BASE_NEW: "base", OFFLINE: "offline", FUTURE: "base"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """`data/x.json` saved by five runs; the file holds the version that wrote it."""
    for version in (NO_MANIFEST, *ENVS):
        folder = tmp_path / "data" / "x.json" / version
        folder.mkdir(parents=True)
        (folder / "x.json").write_text(json.dumps(version))
    for version, env in ENVS.items():
        folder = tmp_path / MANIFEST_DIR / version
        folder.mkdir(parents=True)
        (folder / MANIFEST_NAME).write_text(json.dumps({"env": env}))
    return tmp_path


def dataset(project: Path) -> JSONDataset:
    return JSONDataset(filepath=str(project / "data" / "x.json"), version=Version(None, None))


@pytest.mark.parametrize(("env", "newest"), [("base", BASE_NEW), ("offline", OFFLINE)])
def test_the_newest_version_is_the_newest_of_the_env_never_a_future_one(project, env, newest):
    assert newest_in_env("x", dataset(project), project, env) == newest


def test_an_env_that_never_wrote_the_dataset_is_told_what_there_is(project):
    with pytest.raises(UnpinnableInputError) as refused:
        newest_in_env("x", dataset(project), project, "test")
    assert str(refused.value) == (
        "'x' has no version saved by an earlier run in env 'test'; there are 4 version(s) "
        "from other envs (base, offline) or runs without a manifest, which this run does not "
        "read; 1 version(s) dated after this run started (2999-01-01T00.00.00.000Z: a skewed "
        "clock or a copied folder?). Run what writes it in this env first (another pipeline, "
        "or nodes that --tags/--from-nodes left out), or writer and reader in one command: "
        "`kedro run --pipelines <writer>,<reader>`; or pick a version explicitly: "
        "--load-versions=x:<version> (`kedro versions list x` lists them)."
    )


def test_versions_only_from_runs_without_a_manifest_name_no_env(tmp_path):
    folder = tmp_path / "data" / "x.json" / NO_MANIFEST
    folder.mkdir(parents=True)
    (folder / "x.json").write_text("1")
    with pytest.raises(UnpinnableInputError) as refused:
        newest_in_env("x", dataset(tmp_path), tmp_path, "base")
    assert "there are 1 version(s) from other envs or runs without a manifest, which" in str(
        refused.value
    )
    assert "dated after" not in str(refused.value)


def test_a_dataset_never_saved_has_nothing_to_list(tmp_path):
    with pytest.raises(UnpinnableInputError) as refused:
        newest_in_env("x", dataset(tmp_path), tmp_path, "base")
    assert str(refused.value).startswith(
        "'x' has no version saved by an earlier run in env 'base'. Run what writes it"
    )


@pytest.mark.parametrize(
    ("env", "default", "shown"), [("offline", "local", OFFLINE), (None, "base", BASE_NEW)]
)
def test_the_notebook_view_loads_its_envs_newest_and_says_which(project, env, default, shown):
    context = SimpleNamespace(
        env=env,
        config_loader=SimpleNamespace(default_run_env=default),
        catalog=DataCatalog({"x": dataset(project)}),
        project_path=project,
    )
    view = EnvView(context)
    assert view.load("x") == shown  # the file holds the version that wrote it
    assert view.shown == {"x": shown}
