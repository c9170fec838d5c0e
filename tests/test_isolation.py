"""Every run reads only its own data: concurrent runs, clock skew, collisions, resume, envs.

Most tests use the tiny two-node pipeline of test_manifest.py (make_data -> tiny_data ->
summarize -> tiny_metrics), run in process; the concurrency test runs real `kedro run`
processes of the lesson's vanishing_gradient pipeline.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from kedro.io.core import generate_timestamp

from dnn_pipelines.tracking.pins import (
    RunCollisionError,
    RunStorageError,
    UnpinnableInputError,
    claim_save_version,
)
from dnn_pipelines.tracking.store import MANIFEST_DIR, MANIFEST_NAME
from tests import test_manifest
from tests.conftest import KedroProject, copy_project
from tests.test_manifest import manifest_of, run_tiny, tiny_project

DATA = Path("data/01_raw/tiny/data.npz")
METRICS = Path("data/08_reporting/tiny/metrics.json")
FUTURE = "2999-01-01T00.00.00.000Z"
KEDRO = str(Path(sys.executable).with_name("kedro"))
ENV = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1", "COLUMNS": "250"}  # one log line each
LESSON_RUN = [KEDRO, "run", "--env", "test", "--pipelines"]


def saved(project: KedroProject, relative: Path, version: str) -> Path:
    return project.path / relative / version / relative.name


def metrics(project: KedroProject, version: str) -> dict[str, float]:
    return json.loads(saved(project, METRICS, version).read_text())


def intrude(project: KedroProject, version: str, x: np.ndarray, env: str = "test") -> None:
    """What another run (or a copied folder) leaves: a tiny_data version and its manifest."""
    folder = project.path / DATA / version
    folder.mkdir(parents=True)
    np.savez(folder / DATA.name, x=x)
    manifest = project.path / MANIFEST_DIR / version / MANIFEST_NAME
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps({"save_version": version, "env": env, "status": "success"}))


def expected_metrics(seed: int = 123, size: int = 50) -> dict[str, float]:
    """What summarize must give for make_data's numbers, computed here independently."""
    x = np.random.default_rng(seed).normal(size=size)
    return {"mean": float(x.mean()), "std": float(x.std())}


# ---------------------------------------------------------------- a run reads its own saves


def test_a_run_reads_back_its_own_save_while_another_run_saves_a_newer_version(
    tmp_path, monkeypatch
):
    """The race made certain: between make_data's save and summarize's load, a newer
    tiny_data version appears, as when a concurrent run saves it a moment later."""
    project = tiny_project(tmp_path / "project")
    real_make_data = test_manifest.make_data

    def make_data_then_race(seed, params):
        data = real_make_data(seed, params)
        time.sleep(0.01)
        intrude(project, generate_timestamp(), np.full(50, 1000.0))
        return data

    monkeypatch.setattr(test_manifest, "make_data", make_data_then_race)
    version = run_tiny(project)
    assert metrics(project, version) == expected_metrics()
    newer = sorted(p.name for p in (project.path / DATA).iterdir())
    assert newer[-1] > version, "the intruding version must be the newest folder"


def test_an_input_is_pinned_when_the_run_starts_and_recorded(tmp_path, monkeypatch):
    project = tiny_project(tmp_path / "project")
    first = run_tiny(project)

    def summarize_after_a_newer_save(data, params):
        intrude(project, generate_timestamp(), np.full(50, -5.0))
        return real_summarize(data, params)

    real_summarize = test_manifest.summarize
    monkeypatch.setattr(test_manifest, "summarize", summarize_after_a_newer_save)
    rerun = run_tiny(project, from_nodes=["summarize"])
    assert metrics(project, rerun) == expected_metrics()
    manifest = manifest_of(project, rerun)
    assert manifest["pins"] == {
        "source_run": first,
        "inputs": {"tiny_data": first},
        "reused_outputs": {},
    }
    assert manifest["inputs"]["tiny_data"]["version"] == first


# ---------------------------------------------------------------- concurrent processes


SLOW = (123, "vanishing_gradient.n_units=400")  # about 10 s of nodes
FAST = (7, "vanishing_gradient.n_units=3")  # about 2 s of nodes


def _run_lesson(project: KedroProject, config: tuple[int, str]) -> subprocess.Popen[str]:
    seed, size = config
    return subprocess.Popen(
        [*LESSON_RUN, "vanishing_gradient", "--params", f"seed={seed},{size}"],
        cwd=project.path,
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(process: subprocess.Popen[str]) -> str:
    """The save version of a finished `kedro run`, read from its log."""
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output[-3000:]
    assert "did not match load version" not in output
    found = re.search(r"run_manifest\.json/(\S+)/run_manifest\.json", output)
    assert found, output[-2000:]
    return found.group(1)


def _outputs(project: KedroProject, version: str) -> dict[str, str]:
    manifest = manifest_of(project, version)
    assert manifest["status"] == "success"
    return {name: entry["sha256"] for name, entry in manifest["outputs"].items()}


def test_four_concurrent_runs_each_produce_exactly_what_they_produce_alone(tmp_path):
    """Four processes of one pipeline with two configurations, twice: every output of every
    run is bitwise the output of the same run done alone.

    The race is arranged: each slow run starts just before a fast one, so the fast run
    (whose save version is newer) saves every dataset while the slow run is between its
    saves and loads. Unpinned, the slow run reads the fast run's files as "latest".
    """
    project = copy_project(tmp_path / "project")
    alone = {
        config: _outputs(project, _finish(_run_lesson(project, config))) for config in (SLOW, FAST)
    }
    assert len(alone[SLOW]) > 50
    assert alone[SLOW] != alone[FAST]
    for _round in range(2):
        started = []
        for config in (SLOW, FAST, SLOW, FAST):
            started.append((config, _run_lesson(project, config)))
            time.sleep(0.3)
        for config, process in started:
            assert _outputs(project, _finish(process)) == alone[config]


# ---------------------------------------------------------------- unique versions


def test_two_runs_with_the_same_save_version_the_second_is_refused_before_any_node(
    tmp_path, monkeypatch
):
    project = tiny_project(tmp_path / "project")
    clash = "2026-11-30T12.00.00.000Z"
    monkeypatch.setattr("kedro.framework.session.session.generate_timestamp", lambda: clash)
    run_tiny(project)
    first = (project.path / MANIFEST_DIR / clash / MANIFEST_NAME).read_text()
    with pytest.raises(RunCollisionError) as refused:
        run_tiny(project, params={"tiny": {"scale": 9.0}})
    assert str(refused.value) == (
        f"Another run already uses save version {clash} (two runs started in the same "
        "millisecond, or on two machines sharing data/). Nothing was run and nothing was "
        "written: start this run again."
    )
    assert (project.path / MANIFEST_DIR / clash / MANIFEST_NAME).read_text() == first
    assert metrics(project, clash) == expected_metrics()


def test_a_data_folder_that_cannot_hold_the_manifests_says_what_to_fix(tmp_path):
    manifests = tmp_path / MANIFEST_DIR
    manifests.parent.mkdir(parents=True)
    manifests.write_text("not a folder")
    with pytest.raises(RunStorageError) as blocked:
        claim_save_version(tmp_path, "2026-11-30T12.00.00.000Z")
    assert str(blocked.value) == (
        f"Cannot record the run: {manifests} is a file, not the folder of the run "
        "manifests. Move it away and run again."
    )
    manifests.unlink()
    too_long = "v" * 300  # the file system refuses the name, even to root
    with pytest.raises(RunStorageError) as refused:
        claim_save_version(tmp_path, too_long)
    assert str(refused.value) == (
        f"Cannot record the run in {manifests / too_long}: File name too long. Nothing was "
        "run: make data/ writable (or free disk space) and run again."
    )


# ---------------------------------------------------------------- clock skew


def test_a_version_dated_in_the_future_is_never_read_unpinned(tmp_path):
    project = tiny_project(tmp_path / "project")
    first = run_tiny(project)
    intrude(project, FUTURE, np.full(50, 99.0))
    own = run_tiny(project)
    assert metrics(project, own) == expected_metrics()
    resumed = run_tiny(project, from_nodes=["summarize"])
    assert manifest_of(project, resumed)["pins"]["inputs"] == {"tiny_data": own}
    assert metrics(project, resumed) == expected_metrics()
    assert first < own < resumed < FUTURE


def test_an_explicit_pin_still_reads_a_future_version(tmp_path):
    project = tiny_project(tmp_path / "project")
    run_tiny(project)
    intrude(project, FUTURE, np.full(50, 99.0))
    version = run_tiny(project, from_nodes=["summarize"], load_versions={"tiny_data": FUTURE})
    assert metrics(project, version) == {"mean": 99.0, "std": 0.0}


# ---------------------------------------------------------------- resume


def test_resume_after_a_failure_reuses_what_the_failed_run_saved(tmp_path):
    project = tiny_project(tmp_path / "project")
    run_tiny(project, params={"seed": 5})  # an older, complete run with other numbers
    with pytest.raises(RuntimeError, match="asked to fail"):
        run_tiny(project, params={"tiny": {"fail": True}})
    failed = max(p.name for p in (project.path / MANIFEST_DIR).iterdir())
    assert manifest_of(project, failed)["status"] == "failed"
    resumed = run_tiny(project, only_missing_outputs=True)
    pins = manifest_of(project, resumed)["pins"]
    assert pins["source_run"] == failed
    assert pins["reused_outputs"] == {"tiny_data": failed}
    assert not saved(project, DATA, resumed).exists()  # make_data was skipped
    assert metrics(project, resumed) == expected_metrics()


def test_resume_after_sigkill_reads_the_killed_runs_saves(tmp_path):
    project = tiny_project(tmp_path / "project")
    run_tiny(project, params={"seed": 5})
    script = (
        "from pathlib import Path; from tests.conftest import KedroProject; "
        "from tests.test_manifest import run_tiny; "
        f"run_tiny(KedroProject(Path({str(project.path)!r})), "
        "params={'tiny': {'sleep_s': 120}})"
    )
    repo = Path(__file__).resolve().parents[1]
    victim = subprocess.Popen(
        [sys.executable, "-c", script], cwd=repo, env=ENV, start_new_session=True
    )
    manifests = project.path / MANIFEST_DIR

    def killed_run() -> str | None:
        for folder in manifests.iterdir():
            if (
                saved(project, DATA, folder.name).exists()
                and json.loads((folder / MANIFEST_NAME).read_text()).get("status") == "running"
            ):
                return folder.name
        return None

    deadline = time.monotonic() + 120
    while (victim_version := killed_run()) is None:
        assert victim.poll() is None and time.monotonic() < deadline, "no mid-run state"
        time.sleep(0.1)
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(timeout=60)
    resumed = run_tiny(project, from_nodes=["summarize"])
    assert manifest_of(project, resumed)["pins"]["inputs"] == {"tiny_data": victim_version}
    assert metrics(project, resumed) == expected_metrics()


def test_a_partial_run_whose_inputs_no_single_run_holds_names_them(tmp_path):
    project = tiny_project(tmp_path / "project")
    with pytest.raises(UnpinnableInputError, match="holds all of: tiny_data"):
        run_tiny(project, from_nodes=["summarize"])
    assert not (project.path / METRICS).exists()


# ---------------------------------------------------------------- environments


def _with_env(project: KedroProject, env: str) -> None:
    shutil.copytree(project.path / "conf" / "test", project.path / "conf" / env)


def test_a_run_never_reads_another_envs_outputs(tmp_path):
    project = tiny_project(tmp_path / "project")
    _with_env(project, "other")
    other = run_tiny(project, params={"seed": 5}, env="other")
    assert manifest_of(project, other)["env"] == "other"
    with pytest.raises(UnpinnableInputError) as refused:
        run_tiny(project, from_nodes=["summarize"])
    assert "no earlier run in env 'test' holds all of: tiny_data" in str(refused.value)
    mine = run_tiny(project)
    resumed = run_tiny(project, from_nodes=["summarize"])
    assert manifest_of(project, resumed)["pins"]["inputs"] == {"tiny_data": mine}


def test_a_whole_pipeline_whose_input_only_another_env_wrote_is_refused(tmp_path):
    """As `transfer_from_scratch` reading `transfer`'s split: no filter, one input."""
    project = tiny_project(tmp_path / "project")
    _with_env(project, "other")
    other = run_tiny(project, env="other")
    intrude(project, FUTURE, np.full(50, 99.0))  # and a copied folder from the future
    with pytest.raises(UnpinnableInputError) as refused:
        run_tiny(project, pipeline="tiny_summary")
    assert str(refused.value) == (
        "'tiny_data' has no version saved by an earlier run in env 'test'; there are 1 "
        "version(s) from other envs (other) or runs without a manifest, which this run does "
        f"not read; 1 version(s) dated after this run started ({FUTURE}: a skewed clock or a "
        "copied folder?). Run what writes it in this env first (another pipeline, or nodes "
        "that --tags/--from-nodes left out), or writer and reader in one command: `kedro run "
        "--pipelines <writer>,<reader>`; or pick a version explicitly: "
        "--load-versions=tiny_data:<version> (`kedro versions list tiny_data` lists them)."
    )
    pinned = run_tiny(project, pipeline="tiny_summary", load_versions={"tiny_data": other})
    assert metrics(project, pinned) == expected_metrics()


# ---------------------------------------------------------------- interrupted runs


def test_ctrl_c_writes_an_interrupted_manifest(tmp_path):
    project = copy_project(tmp_path / "project")
    # A terminal's Ctrl-C reaches a run that handles it. Started from a background job
    # (`cmd &`, nohup), this process ignores SIGINT and a child would inherit that; a
    # handler is not inherited, so with one here the child gets the default.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        process = subprocess.Popen(
            # Training runs as one compiled TensorFlow call, which a signal cannot stop: the
            # interrupt is handled when the call returns, so the training must end in time.
            [*LESSON_RUN, "dropout", "--params", "dropout.training.epochs=5000"],
            cwd=project.path,
            env=ENV,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    dataset = project.data / "01_raw" / "dropout" / "dataset.npz"
    deadline = time.monotonic() + 300
    while not (dataset.exists() and any(dataset.iterdir())):
        assert process.poll() is None and time.monotonic() < deadline, "nothing was saved"
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=600)
    assert process.returncode == 130, err[-3000:]
    assert "Traceback" not in err
    assert "Interrupted: the run manifest records what was saved so far." in err
    (version,) = [p.name for p in (project.path / MANIFEST_DIR).iterdir()]
    manifest = manifest_of(project, version)
    assert manifest["status"] == "interrupted"
    assert manifest["outputs"]["dropout.dataset"]["version"] == version
