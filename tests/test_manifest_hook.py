"""The run-manifest hook driven in process, hook call by hook call as a Kedro session makes
them, on a one-node pipeline: every field of the `running`, `success`, `failed` and
`interrupted` manifests against values written out here (digests by hashlib, versions and
paths by hand). test_manifest.py checks the same hook through real `kedro run` sessions."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import shlex
import socket
import sys
import time
from datetime import datetime
from importlib import metadata
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from kedro.io import DataCatalog, MemoryDataset, Version
from kedro.pipeline import Node, Pipeline
from kedro_datasets.json import JSONDataset

from dnn_pipelines.parameters import StrictParams
from dnn_pipelines.tracking import manifest as manifest_module
from dnn_pipelines.tracking.manifest import RunManifestHook
from dnn_pipelines.tracking.store import MANIFEST_DIR, MANIFEST_NAME

EARLIER = "2026-11-30T09.00.00.000Z"
SAVE = "2026-11-30T10.00.00.000Z"
NUMBERS = b"[1, 2, 3]"
JSON_DATASET = "kedro_datasets.json.json_dataset.JSONDataset"


def total(base: int, numbers: list[int], scale: int) -> int:
    return base + scale * sum(numbers)


PIPELINE = Pipeline(
    [
        Node(total, ["base", "numbers", "params:scale"], "total", name="total"),
        Node(len, "numbers", "count", name="count"),  # an unversioned file
        Node(list, "numbers", "copied", name="copy"),  # not in the catalog: in memory
    ]
)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """`numbers` saved by an earlier run of env `test`, with that run's manifest."""
    (tmp_path / "data" / "numbers.json" / EARLIER).mkdir(parents=True)
    (tmp_path / "data" / "numbers.json" / EARLIER / "numbers.json").write_bytes(NUMBERS)
    (tmp_path / MANIFEST_DIR / EARLIER).mkdir(parents=True)
    (tmp_path / MANIFEST_DIR / EARLIER / MANIFEST_NAME).write_text('{"env": "test"}')
    return tmp_path


def catalog(project: Path) -> DataCatalog:
    versioned = {
        name: JSONDataset(
            filepath=str(project / "data" / f"{name}.json"), version=Version(None, SAVE)
        )
        for name in ("numbers", "total")
    }
    return DataCatalog(
        {
            **versioned,
            "count": JSONDataset(filepath=str(project / "data" / "count.json")),
            "base": MemoryDataset(0),  # an input that is not a file
            "params:scale": MemoryDataset(2),
        }
    )


def started_hook(project: Path, run_catalog: DataCatalog, **run_params: Any) -> RunManifestHook:
    """A hook through context, catalog and pipeline start, as a session calls it."""
    tensorflow = SimpleNamespace(
        settings=SimpleNamespace(model_dump=lambda mode: {"mode": mode}), applied={"threads": 1}
    )
    hook = RunManifestHook(tensorflow)
    hook.after_context_created(
        SimpleNamespace(config_loader=SimpleNamespace(default_run_env="test"))
    )
    hook.after_catalog_created({"parameters": {"seed": 7, "scale": 2}}, SAVE)
    hook.before_pipeline_run(params_of(project, **run_params), PIPELINE, run_catalog)
    return hook


def params_of(project: Path, **overrides: Any) -> dict[str, Any]:
    """`run_params` as `kedro run` without options passes them."""
    return {
        "run_id": SAVE,
        "project_path": str(project),
        "env": None,
        "pipeline_names": ["sums"],
        "runner": "None",
        "tags": [],
        "from_nodes": [],
        "to_nodes": [],
        "node_names": [],
        "from_inputs": [],
        "to_outputs": [],
        "namespaces": [],
        "only_missing_outputs": False,
        "load_versions": {},
        "runtime_params": {},
    } | overrides


def manifest(project: Path) -> dict[str, Any]:
    return json.loads((project / MANIFEST_DIR / SAVE / MANIFEST_NAME).read_text())


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def run_nodes(hook: RunManifestHook, run_catalog: DataCatalog, *names: str) -> None:
    """The nodes (all, or those named) as the runner runs them: load, hooks around the
    compute, save; an output the catalog lacks becomes a MemoryDataset when it is saved."""
    for node in PIPELINE.nodes:
        if names and node.name not in names:
            continue
        inputs = {name: run_catalog.load(name) for name in node.inputs}
        hook.before_node_run(node, SAVE)
        outputs = node.run(inputs)
        hook.after_node_run(node, SAVE)
        for name, value in outputs.items():
            if name not in run_catalog:
                run_catalog[name] = MemoryDataset()
            run_catalog.save(name, value)


NUMBERS_ENTRY = {
    "filepath": "data/numbers.json",
    "type": JSON_DATASET,
    "version": EARLIER,
    "bytes": len(NUMBERS),
    "sha256": sha256(NUMBERS),
}


def test_a_started_run_records_what_it_pinned_and_nothing_saved(project):
    (project / "data" / "count.json").write_text("3")  # an earlier run's, not this one's
    started_hook(project, catalog(project))
    written = manifest(project)
    assert written["status"] == "running"
    assert written["save_version"] == SAVE
    assert written["finished_at"] is None and written["duration_s"] is None
    assert written["env"] == "test"  # no --env: the context's default env
    assert written["pins"] == {
        "source_run": EARLIER,
        "inputs": {"numbers": EARLIER},
        "reused_outputs": {},
    }
    assert written["inputs"] == {"numbers": NUMBERS_ENTRY}
    assert written["outputs"] == {}
    assert written["parameters_used"] == {"scale": 2}


def test_a_successful_run_records_every_field(project, caplog):
    run_catalog = catalog(project)
    hook = started_hook(project, run_catalog, runtime_params={"scale": 2})
    run_nodes(hook, run_catalog)
    slow = Node(total, ["base", "numbers", "params:scale"], None, name="slow")  # a name only
    hook.before_node_run(slow, SAVE)
    time.sleep(0.2)
    hook.after_node_run(slow, SAVE)
    with caplog.at_level(logging.INFO, logger="dnn_pipelines.tracking.manifest"):
        hook.after_pipeline_run(
            params_of(project, runtime_params={"scale": 2}), PIPELINE, run_catalog
        )
    assert [r.getMessage() for r in caplog.records if r.name == manifest_module.__name__] == [
        f"Run manifest (success): data/09_tracking/run_manifest.json/{SAVE}/run_manifest.json"
    ]
    written = manifest(project)
    saved = (project / "data" / "total.json" / SAVE / "total.json").read_bytes()
    count = (project / "data" / "count.json").read_bytes()
    assert (json.loads(saved), json.loads(count)) == (12, 3)
    assert written["outputs"] == {
        "count": {
            "filepath": "data/count.json",
            "type": JSON_DATASET,
            "version": None,
            "bytes": len(count),
            "sha256": sha256(count),
        },
        "total": {
            "filepath": "data/total.json",
            "type": JSON_DATASET,
            "version": SAVE,
            "bytes": len(saved),
            "sha256": sha256(saved),
        },
    }
    assert written["inputs"] == {"numbers": NUMBERS_ENTRY}
    assert (written["status"], written["error"]) == ("success", None)
    assert written["manifest_format"] == 1
    assert written["parameters_used_sha256"] == sha256(b'{"scale":2}')
    assert written["parameters_sha256"] == sha256(b'{"scale":2,"seed":7}')
    assert written["parameters"] == {"seed": 7, "scale": 2}
    assert written["runtime_params"] == {"scale": 2}
    assert written["pipelines"] == ["sums"]
    assert written["runner"] == "SequentialRunner"
    assert written["filters"] == dict.fromkeys(
        [
            "tags",
            "from_nodes",
            "to_nodes",
            "node_names",
            "from_inputs",
            "to_outputs",
            "namespaces",
            "only_missing_outputs",
        ]
    )
    assert written["load_versions"] == {}
    assert written["tensorflow_settings"] == {"mode": "json"}
    assert written["tensorflow_applied"] == {"threads": 1}
    assert (written["host"], written["pid"]) == (socket.gethostname(), os.getpid())
    assert written["command"] == shlex.join(sys.argv)
    assert written["platform"] == platform.platform()
    assert written["versions"]["python"] == platform.python_version()
    assert written["versions"]["keras"] == metadata.version("keras")  # never imported
    assert written["project_path"] == project.as_posix()
    seconds = written["node_seconds"]
    assert sorted(seconds) == ["copy", "count", "slow", "total"]
    assert max(seconds, key=seconds.get) == "slow"
    assert list(seconds.values()) == sorted(seconds.values(), reverse=True)  # slowest first
    started = datetime.fromisoformat(written["started_at"])
    finished = datetime.fromisoformat(written["finished_at"])
    assert written["duration_s"] == round((finished - started).total_seconds(), 3)
    assert started.utcoffset().total_seconds() == 0  # UTC


def test_outputs_reused_from_an_earlier_run_are_recorded_as_inputs(project):
    (project / "data" / "total.json" / EARLIER).mkdir(parents=True)
    (project / "data" / "total.json" / EARLIER / "total.json").write_bytes(b"12")
    started_hook(project, catalog(project), only_missing_outputs=True)
    written = manifest(project)
    assert written["pins"]["reused_outputs"] == {"total": EARLIER}
    assert written["inputs"] == {
        "numbers": NUMBERS_ENTRY,
        "total": NUMBERS_ENTRY
        | {"filepath": "data/total.json", "bytes": 2, "sha256": sha256(b"12")},
    }


def test_a_failed_run_names_its_error_and_lists_what_it_saved(project):
    run_catalog = catalog(project)
    hook = started_hook(project, run_catalog)
    run_nodes(hook, run_catalog, "total")  # then `count` fails; `copy` never ran
    hook.on_pipeline_error(RuntimeError("boom"), params_of(project), PIPELINE, run_catalog)
    written = manifest(project)
    assert (written["status"], written["error"]) == ("failed", "RuntimeError: boom")
    assert list(written["outputs"]) == ["total"]
    assert isinstance(written["duration_s"], float)


def test_ctrl_c_finishes_every_started_run_as_interrupted_once(project):
    run_catalog = catalog(project)
    hook = started_hook(project, run_catalog)
    run_nodes(hook, run_catalog)
    hook.interrupt_open_runs()
    written = manifest(project)
    assert written["status"] == "interrupted"
    assert list(written["outputs"]) == ["count", "total"]
    (project / MANIFEST_DIR / SAVE / MANIFEST_NAME).unlink()
    hook.interrupt_open_runs()  # nothing left open: nothing written again
    hook.after_pipeline_run(params_of(project), PIPELINE, run_catalog)
    assert not (project / MANIFEST_DIR / SAVE / MANIFEST_NAME).exists()


def test_explicit_filters_and_a_named_runner_are_recorded(project):
    run_catalog = catalog(project)
    run_params = {
        "env": "offline",
        "tags": ["a"],
        "node_names": ["total"],
        "runner": "<kedro.runner.thread_runner.ThreadRunner object at 0x7f>",
        "load_versions": {"numbers": EARLIER},
        "pipeline_names": None,
    }
    hook = started_hook(project, run_catalog, **run_params)
    run_nodes(hook, run_catalog)
    hook.after_pipeline_run(params_of(project, **run_params), PIPELINE, run_catalog)
    written = manifest(project)
    assert written["env"] == "offline"  # --env, not the context's default
    assert written["pipelines"] == ["__default__"]  # no --pipelines
    assert written["runner"] == "ThreadRunner"
    assert written["filters"]["tags"] == ["a"]
    assert written["filters"]["node_names"] == ["total"]
    assert written["filters"]["from_nodes"] is None
    assert written["load_versions"] == {"numbers": EARLIER}
    assert written["pins"]["inputs"] == {}  # an explicit version is the user's, not a pin


def test_a_manifest_that_cannot_be_written_is_logged_not_raised(project, caplog):
    run_catalog = catalog(project)
    hook = started_hook(project, run_catalog)
    folder = project / MANIFEST_DIR / SAVE
    (folder / MANIFEST_NAME).unlink()
    (folder / MANIFEST_NAME).mkdir()  # a folder where the file goes: the write fails
    with caplog.at_level(logging.ERROR, logger="dnn_pipelines.tracking.manifest"):
        hook.after_pipeline_run(params_of(project), PIPELINE, run_catalog)
    [record] = caplog.records
    assert record.getMessage().startswith(
        f"Could not write the run manifest {folder / MANIFEST_NAME}: [Errno 21] Is a directory"
    )


def test_package_versions_are_the_installed_ones_and_none_for_a_missing_one(monkeypatch):
    monkeypatch.setattr(manifest_module, "TRACKED_DISTRIBUTIONS", ("kedro", "no-such-dist"))
    assert manifest_module.package_versions() == {
        "python": platform.python_version(),
        "kedro": metadata.version("kedro"),
        "no-such-dist": None,
    }


def fake_git(folder: Path, script: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A `git` first on PATH that runs `script` (sh)."""
    fake = folder / "bin" / "git"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\n{script}\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")


def test_a_git_that_hangs_counts_as_no_git(tmp_path, monkeypatch):
    fake_git(tmp_path, "exec sleep 30", monkeypatch)  # killed at the timeout
    monkeypatch.setattr(manifest_module, "_GIT_TIMEOUT_S", 0.5)
    assert manifest_module.git_state(tmp_path) == {"commit": None, "dirty": None}


def test_a_folder_outside_any_git_work_tree_has_no_commit(tmp_path, monkeypatch):
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path.parent))
    assert manifest_module.git_state(tmp_path) == {"commit": None, "dirty": None}


def test_a_commit_whose_status_fails_has_an_unknown_dirty_flag(tmp_path, monkeypatch):
    fake_git(tmp_path, 'if [ "$1" = rev-parse ]; then echo 0123abc; else exit 1; fi', monkeypatch)
    assert manifest_module.git_state(tmp_path) == {"commit": "0123abc", "dirty": None}


class Located(StrictParams):
    """A parameter model whose Python and JSON dumps differ."""

    folder: Path
    sizes: tuple[int, ...]


def test_parameters_become_plain_json_values():
    assert manifest_module._jsonable(
        {
            "model": Located(folder=Path("data/x"), sizes=(2, 1)),  # kept in order
            "mixed": frozenset({"b", "a", 2}),  # sorted by repr: quotes sort before digits
            "odd": complex(1, 2),
            3: None,
        }
    ) == {
        "model": {"folder": "data/x", "sizes": [2, 1]},
        "mixed": ["a", "b", 2],
        "odd": "(1+2j)",
        "3": None,
    }


def test_an_input_on_a_remote_file_system_is_recorded_by_its_version_alone(project, memory_fs):
    """No local file to hash: the version read, the other fields null (fsspec's in-memory
    file system stands for s3:// and the like)."""
    remote = JSONDataset(filepath="memory:///runs/numbers.json", version=Version(None, EARLIER))
    remote.save([1, 2, 3])
    run_catalog = catalog(project)
    run_catalog["numbers"] = JSONDataset(
        filepath="memory:///runs/numbers.json", version=Version(None, SAVE)
    )
    started_hook(project, run_catalog)
    assert manifest(project)["inputs"]["numbers"] == {
        "filepath": None,
        "type": None,
        "version": EARLIER,
        "bytes": None,
        "sha256": None,
    }
