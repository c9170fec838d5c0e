"""A run killed with SIGKILL mid-run loses nothing: old versions intact, latest loads, next run works."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

from tests.conftest import KEDRO, copy_project

ENV = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"}
RUN = [KEDRO, "run", "--env", "test", "--pipelines", "dropout"]
VERSION = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}\.\d{2}\.\d{2}\.\d{3}Z")  # Kedro's save version


def _hashes(data: Path) -> dict[str, str]:
    return {
        str(path.relative_to(data)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in data.rglob("*")
        if path.is_file()
    }


def _versions(folder: Path) -> set[str]:
    return {path.name for path in folder.iterdir()} if folder.exists() else set()


def _complete_or_latest(parts: tuple[str, ...]) -> bool:
    """`<dataset>/<version>/<dataset>` with a Kedro version name, or the latest page."""
    if parts[:2] == ("08_reporting", "latest"):
        return True
    return len(parts) >= 3 and parts[-1] == parts[-3] and VERSION.fullmatch(parts[-2]) is not None


def test_sigkill_mid_run_keeps_every_version_and_the_next_run_succeeds(
    tmp_path, registered_pipelines
):
    project = copy_project(tmp_path / "project")
    first = subprocess.run(
        RUN, cwd=project.path, env=ENV, capture_output=True, timeout=600, check=False
    )
    assert first.returncode == 0, first.stderr[-3000:]
    before = _hashes(project.data)
    dataset_folder = project.data / "01_raw" / "dropout" / "dataset.npz"
    known = _versions(dataset_folder)

    # Long training, so that the kill lands after the first saves and before the last.
    victim = subprocess.Popen(
        [*RUN, "--params", "dropout.training.epochs=100000"],
        cwd=project.path,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 300
    while _versions(dataset_folder) == known:
        assert victim.poll() is None, "the run ended before it could be killed"
        assert time.monotonic() < deadline, "the run never saved its dataset"
        time.sleep(0.2)
    time.sleep(2.0)
    assert victim.poll() is None, "the run ended before it could be killed"
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait(timeout=60)

    after = _hashes(project.data)
    changed = [name for name, digest in before.items() if after.get(name) != digest]
    assert changed == [], f"earlier versions changed or vanished: {changed}"

    catalog = project.context(env="test").catalog
    persisted = [
        name
        for name in sorted(registered_pipelines["dropout"].datasets())
        if not name.startswith("params:") and type(catalog.get(name)).__name__ != "MemoryDataset"
    ]
    assert len(persisted) > 10
    for name in persisted:  # the latest version of each is complete, whatever the kill hit
        assert catalog.load(name) is not None, name

    rerun = subprocess.run(
        RUN, cwd=project.path, env=ENV, capture_output=True, timeout=600, check=False
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    # Every file under data/ is a complete `<dataset>/<version>/<dataset>` file, or the
    # env's latest page; anything else is a leftover, allowed only in the killed run's own
    # version folders and only as a hidden partial of its dataset's file.
    manifests = project.data / "09_tracking" / "run_manifest.json"
    killed = {
        folder.name
        for folder in manifests.iterdir()
        if json.loads((folder / "run_manifest.json").read_text())["status"] == "running"
    }
    assert len(killed) == 1
    leftovers = [
        path.relative_to(project.data).parts
        for path in project.data.rglob("*")
        if path.is_file() and not _complete_or_latest(path.relative_to(project.data).parts)
    ]
    misplaced = [
        "/".join(parts)
        for parts in leftovers
        if parts[-2] not in killed
        or not (parts[-1].startswith(".partial-") and parts[-1].endswith(f"-{parts[-3]}"))
    ]
    assert misplaced == []
