"""The run manifest: written by every run, and what it says matches the files on disk.

A tiny throwaway pipeline (defined here, registered through `register_pipelines` below)
keeps these tests independent of the lesson pipelines and fast.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.pipeline import Node, Pipeline
from pydantic import Field

from dnn_pipelines.parameters import ParameterTreeError, Seed, StrictParams
from dnn_pipelines.tracking import manifest as manifest_module
from dnn_pipelines.tracking.manifest import RunManifestHook, parameters_sha256, runner_name
from dnn_pipelines.tracking.pins import RunStorageError
from dnn_pipelines.tracking.store import MANIFEST_DIR, MANIFEST_NAME
from tests.conftest import KedroProject, copy_project

TINY_CATALOG = """
tiny_data:
  type: dnn_pipelines.datasets.NpzDataset
  filepath: data/01_raw/tiny/data.npz
  versioned: true
tiny_metrics:
  type: dnn_pipelines.datasets.AtomicJSONDataset
  filepath: data/08_reporting/tiny/metrics.json
  versioned: true
"""
TINY_PARAMETERS = "tiny:\n  size: 50\n  scale: 1.0\n  fail: false\n"
USED_JSON = b'{"seed":123,"tiny":{"fail":false,"scale":1.0,"size":50,"sleep_s":0.0}}'
"""The first run's `params:` inputs as canonical JSON: sorted keys, no spaces."""


class TinyParams(StrictParams):
    """Knobs of the throwaway pipeline."""

    size: int = Field(gt=0)
    scale: float
    fail: bool
    sleep_s: float = Field(default=0.0, ge=0)


BLOCKS = {"tiny": TinyParams}
"""The parameter block this registry adds (the project's check knows the project's)."""


def make_data(seed: Seed, params: TinyParams) -> dict[str, np.ndarray]:
    """Seeded random numbers."""
    rng = np.random.default_rng(int(seed))
    return {"x": rng.normal(size=params.size) * params.scale}


def summarize(data: dict[str, np.ndarray], params: TinyParams) -> dict[str, float]:
    """Metrics of the numbers; fails (or takes its time) on request, after make_data saved."""
    time.sleep(params.sleep_s)
    if params.fail:
        raise RuntimeError("asked to fail")
    return {"mean": float(data["x"].mean()), "std": float(data["x"].std())}


def register_pipelines() -> dict[str, Pipeline]:
    """The throwaway project's registry (see `run_tiny`)."""
    tiny = Pipeline(
        [
            Node(make_data, ["params:seed", "params:tiny"], "tiny_data", name="make_data"),
            Node(summarize, ["tiny_data", "params:tiny"], "tiny_metrics", name="summarize"),
        ]
    )
    summary = Pipeline([node for node in tiny.nodes if node.name == "summarize"])
    return {"tiny": tiny, "tiny_summary": summary, "__default__": tiny}


def tiny_project(path: Path) -> KedroProject:
    """A project copy with the tiny pipeline's catalog and parameters in conf/test."""
    project = copy_project(path)
    project.write_conf("test/catalog_tiny.yml", TINY_CATALOG)
    project.write_conf("test/parameters_tiny.yml", TINY_PARAMETERS)
    return project


def run_tiny(
    project: KedroProject,
    params: dict[str, Any] | None = None,
    env: str = "test",
    pipeline: str = "tiny",
    **run_args: Any,
) -> str:
    """Run the tiny pipeline in process, the way `kedro run` does; return its save version."""
    bootstrap_project(project.path)
    pipelines.configure(__name__)  # this module's register_pipelines
    try:
        with KedroSession.create(
            project_path=project.path, env=env, runtime_params=params
        ) as session:
            save_version = session.store["session_id"]
            session.run(pipeline_names=[pipeline], **run_args)
    finally:
        pipelines.configure("dnn_pipelines.pipeline_registry")
    return save_version


def manifest_of(project: KedroProject, version: str) -> dict[str, Any]:
    return json.loads((project.path / MANIFEST_DIR / version / MANIFEST_NAME).read_text())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Three runs: full, full with a runtime param, then summarize from the first's data."""
    project = tiny_project(tmp_path_factory.mktemp("manifest") / "project")
    first = run_tiny(project)
    scaled = run_tiny(project, params={"tiny": {"scale": 2.0}})
    rerun = run_tiny(project, from_nodes=["summarize"], load_versions={"tiny_data": first})
    return {"project": project, "first": first, "scaled": scaled, "rerun": rerun}


def test_every_run_writes_a_manifest_named_by_its_save_version(runs):
    project = runs["project"]
    folder = project.path / MANIFEST_DIR
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [runs["first"], runs["scaled"], runs["rerun"]]
    )
    manifest = manifest_of(project, runs["first"])
    assert manifest["save_version"] == runs["first"]
    assert manifest["status"] == "success"
    assert manifest["error"] is None
    assert not list(folder.rglob(".partial-*"))


def test_manifest_hashes_match_the_saved_files(runs):
    project = runs["project"]
    outputs = manifest_of(project, runs["first"])["outputs"]
    assert set(outputs) == {"tiny_data", "tiny_metrics"}
    for name, relative in [
        ("tiny_data", "data/01_raw/tiny/data.npz"),
        ("tiny_metrics", "data/08_reporting/tiny/metrics.json"),
    ]:
        entry = outputs[name]
        file = project.path / relative / runs["first"] / Path(relative).name
        assert entry["filepath"] == relative
        assert entry["version"] == runs["first"]
        assert entry["sha256"] == sha256(file)
        assert entry["bytes"] == file.stat().st_size


def test_manifest_records_the_run_and_the_software(runs):
    manifest = manifest_of(runs["project"], runs["first"])
    assert manifest["env"] == "test"
    assert manifest["pipelines"] == ["tiny"]
    assert manifest["runner"] == "SequentialRunner"
    assert manifest["load_versions"] == {}
    assert manifest["runtime_params"] == {}
    assert manifest["inputs"] == {}
    versions = manifest["versions"]
    assert versions["python"] == ".".join(map(str, sys.version_info[:3]))
    for name in ("kedro", "tensorflow", "keras", "scikit-learn", "numpy"):
        assert versions[name] == metadata.version(name)
    assert manifest["git"] == {"commit": None, "dirty": None}  # the copy is no git repo
    assert manifest["parameters"]["tiny"] == {
        "size": 50,
        "scale": 1.0,
        "fail": False,
        "sleep_s": 0.0,
    }
    assert manifest["parameters_used"] == {
        "seed": 123,
        "tiny": {"size": 50, "scale": 1.0, "fail": False, "sleep_s": 0.0},
    }
    assert manifest["parameters_used_sha256"] == hashlib.sha256(USED_JSON).hexdigest()
    assert manifest["tensorflow_settings"]["deterministic_ops"] is True
    assert manifest["filters"]["from_nodes"] is None
    canonical = json.dumps(manifest["parameters"], sort_keys=True, separators=(",", ":"))
    assert manifest["parameters_sha256"] == hashlib.sha256(canonical.encode()).hexdigest()


def test_parameters_hash_follows_the_resolved_parameters(runs):
    first = manifest_of(runs["project"], runs["first"])
    scaled = manifest_of(runs["project"], runs["scaled"])
    rerun = manifest_of(runs["project"], runs["rerun"])
    assert scaled["runtime_params"] == {"tiny": {"scale": 2.0}}
    assert scaled["parameters"]["tiny"]["scale"] == 2.0
    assert scaled["parameters_sha256"] != first["parameters_sha256"]
    assert rerun["parameters_sha256"] == first["parameters_sha256"]
    assert scaled["parameters_used_sha256"] != first["parameters_used_sha256"]
    # the re-run's summarize reads params:tiny only, make_data (params:seed) did not run
    assert rerun["parameters_used"] == {"tiny": first["parameters_used"]["tiny"]}


def test_rerun_records_the_pinned_input_and_only_what_it_saved(runs):
    project = runs["project"]
    rerun = manifest_of(project, runs["rerun"])
    first = manifest_of(project, runs["first"])
    assert rerun["load_versions"] == {"tiny_data": runs["first"]}
    assert rerun["filters"]["from_nodes"] == ["summarize"]
    assert rerun["inputs"]["tiny_data"] == first["outputs"]["tiny_data"]
    assert set(rerun["outputs"]) == {"tiny_metrics"}
    assert rerun["outputs"]["tiny_metrics"]["version"] == runs["rerun"]
    # the metrics of the re-run from the first run's data are the first run's metrics
    assert rerun["outputs"]["tiny_metrics"]["sha256"] == first["outputs"]["tiny_metrics"]["sha256"]


def test_unpinned_input_records_the_latest_version_it_loaded(tmp_path):
    project = tiny_project(tmp_path / "project")
    run_tiny(project)
    latest = run_tiny(project, params={"tiny": {"size": 7}})
    rerun = manifest_of(project, run_tiny(project, from_nodes=["summarize"]))
    assert rerun["load_versions"] == {}
    assert rerun["inputs"]["tiny_data"]["version"] == latest
    assert rerun["inputs"]["tiny_data"]["sha256"] == sha256(
        project.data / "01_raw/tiny/data.npz" / latest / "data.npz"
    )


def test_failed_run_writes_a_failed_manifest_with_what_it_saved(tmp_path):
    project = tiny_project(tmp_path / "project")
    with pytest.raises(RuntimeError, match="asked to fail"):
        run_tiny(project, params={"tiny": {"fail": True}})
    (version,) = [p.name for p in (project.path / MANIFEST_DIR).iterdir()]
    manifest = manifest_of(project, version)
    assert manifest["status"] == "failed"
    assert "RuntimeError: asked to fail" in manifest["error"]
    assert set(manifest["outputs"]) == {"tiny_data"}


def test_invalid_parameters_stop_before_the_pipeline_and_write_no_manifest(tmp_path):
    project = tiny_project(tmp_path / "project")
    key = "tiny.size = -1: Input should be greater than 0"
    with pytest.raises(ParameterTreeError, match=re.escape(key)):
        run_tiny(project, params={"tiny": {"size": -1}})
    assert not (project.path / MANIFEST_DIR).exists()


def test_git_commit_and_dirty_flag(tmp_path):
    project = tiny_project(tmp_path / "project")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=project.path, check=True)
    (project.path / ".gitignore").write_text("data/\n")
    subprocess.run([*git, "add", "."], cwd=project.path, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "init"], cwd=project.path, check=True)
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=project.path, capture_output=True, text=True, check=True
    ).stdout.strip()
    clean = manifest_of(project, run_tiny(project))
    assert clean["git"] == {"commit": head, "dirty": False}
    (project.path / "conf" / "test" / "parameters_tiny.yml").write_text(
        TINY_PARAMETERS.replace("50", "51")
    )
    dirty = manifest_of(project, run_tiny(project))
    assert dirty["git"] == {"commit": head, "dirty": True}


def test_a_run_that_cannot_claim_its_version_is_refused_before_any_node(tmp_path):
    """The manifest folder is how runs keep their versions apart: no folder, no run."""
    project = tiny_project(tmp_path / "project")
    (project.data / "09_tracking").mkdir(parents=True)
    (project.path / MANIFEST_DIR).write_text("a file where the manifest folder should be")
    with pytest.raises(RunStorageError, match="is a file, not the folder of the run manifests"):
        run_tiny(project)
    assert not (project.data / "08_reporting").exists()


def test_a_manifest_that_cannot_be_written_at_the_end_does_not_fail_the_run(
    tmp_path, caplog, monkeypatch
):
    project = tiny_project(tmp_path / "project")
    real = manifest_module.write_json_atomically

    def fail_after_start(path, content):
        if content["status"] != "running":
            raise OSError(28, "No space left on device")
        real(path, content)

    monkeypatch.setattr(manifest_module, "write_json_atomically", fail_after_start)
    version = run_tiny(project)
    assert (project.data / "08_reporting/tiny/metrics.json" / version / "metrics.json").is_file()
    assert "Could not write the run manifest" in caplog.text
    assert manifest_of(project, version)["status"] == "running"


def test_the_hook_never_imports_tensorflow(tmp_path):
    project = tiny_project(tmp_path / "project")
    script = (
        "import sys; from pathlib import Path; "
        "from tests.conftest import KedroProject; from tests.test_manifest import run_tiny; "
        f"run_tiny(KedroProject(Path({str(project.path)!r}))); "
        "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'"
    )
    repo = Path(__file__).resolve().parents[1]
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=repo, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert len(list((project.path / MANIFEST_DIR).iterdir())) == 1


# ---------------------------------------------------------------- units


def test_parameters_hash_ignores_key_order_and_dumps_models():
    model = TinyParams(size=3, scale=0.5, fail=False)
    as_model = {"seed": 1, "tiny": model}
    as_dict = {"tiny": {"fail": False, "scale": 0.5, "size": 3, "sleep_s": 0.0}, "seed": 1}
    assert parameters_sha256(as_model) == parameters_sha256(as_dict)
    assert parameters_sha256(as_dict) != parameters_sha256({**as_dict, "seed": 2})


def test_parameters_hash_is_the_sha256_of_canonical_json():
    """Pinned digests (`printf '%s' '<json>' | sha256sum`): tuples as lists, None as null."""
    as_dict = {"tiny": {"fail": False, "scale": 0.5, "size": 3, "sleep_s": 0.0}, "seed": 1}
    assert (
        parameters_sha256(as_dict)
        == hashlib.sha256(
            b'{"seed":1,"tiny":{"fail":false,"scale":0.5,"size":3,"sleep_s":0.0}}'
        ).hexdigest()
        == "bfd98021c1ac4752b801408bf07172893c3dc34f34d0c7b2687575a60d323ddf"
    )
    nested = {"b": {"d": "x", "c": None}, "a": (1, 2)}
    assert (
        parameters_sha256(nested)
        == "daf8b0a2c35be3d034651c198a9a20a5094a21b177514cadf9c767c560cd70d7"  # {"a":[1,2],...}
    )


@pytest.mark.filterwarnings("ignore:Save version .* did not match load version:UserWarning")
def test_a_pin_on_a_dataset_the_run_saves_is_warned_about(tmp_path, caplog):
    project = tiny_project(tmp_path / "project")
    first = run_tiny(project)
    run_tiny(project, load_versions={"tiny_data": first})
    assert (
        f"--load-versions pins 'tiny_data' to {first}, but this run also saves 'tiny_data': "
        "the nodes after its producer load the pinned version, not the new one. Start the "
        "run after the producer (--from-nodes) to reuse the stored version."
    ) in caplog.messages


def test_runner_name_from_run_params():
    assert runner_name("None") == "SequentialRunner"
    assert runner_name("") == "SequentialRunner"
    assert (
        runner_name("<kedro.runner.parallel_runner.ParallelRunner object at 0x7f>")
        == "ParallelRunner"
    )
    assert runner_name("ThreadRunner") == "ThreadRunner"


def test_hook_is_registered_in_settings():
    from dnn_pipelines import settings  # noqa: PLC0415

    assert any(isinstance(hook, RunManifestHook) for hook in settings.HOOKS)


def test_parallel_runner_runs_get_the_same_manifest(tmp_path):
    from kedro.runner import ParallelRunner  # noqa: PLC0415

    project = tiny_project(tmp_path / "project")
    sequential = manifest_of(project, run_tiny(project))
    parallel = manifest_of(project, run_tiny(project, runner=ParallelRunner(max_workers=2)))
    assert parallel["runner"] == "ParallelRunner"
    assert parallel["status"] == "success"
    assert {name: entry["sha256"] for name, entry in parallel["outputs"].items()} == {
        name: entry["sha256"] for name, entry in sequential["outputs"].items()
    }


def test_manifest_records_each_node_compute_time_slowest_first(runs):
    first = manifest_of(runs["project"], runs["first"])
    seconds = first["node_seconds"]
    assert set(seconds) == {"make_data", "summarize"}
    assert all(0 <= value <= first["duration_s"] for value in seconds.values())
    assert list(seconds.values()) == sorted(seconds.values(), reverse=True)
    rerun = manifest_of(runs["project"], runs["rerun"])
    assert set(rerun["node_seconds"]) == {"summarize"}  # only the nodes that ran
