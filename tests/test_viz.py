"""kedro-viz: the API lists every pipeline and node; a real headless Chromium renders the DAG."""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import REPO, KedroProject, copy_project

KEDRO = str(Path(sys.executable).with_name("kedro"))
ARTIFACTS = REPO / "tests" / "artifacts"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
    "--hide-scrollbars",
    "--window-size=1600,1000",
    "--virtual-time-budget=20000",
]


def _free_port() -> int:
    """A free port below 49152: kedro-viz refuses the ephemeral range the OS hands out."""
    for port in random.sample(range(20000, 40000), 200):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port between 20000 and 40000")


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


@pytest.fixture(scope="module")
def viz(tmp_path_factory) -> Iterator[tuple[str, KedroProject]]:
    """`kedro viz run` in its own process group, stopped as a whole group afterwards."""
    project = copy_project(tmp_path_factory.mktemp("viz") / "project")
    port = _free_port()
    server = subprocess.Popen(
        [KEDRO, "viz", "run", "--no-browser", "--host", "127.0.0.1", "--port", str(port)],
        cwd=project.path,
        env={**os.environ, "KEDRO_DISABLE_TELEMETRY": "1"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                _get(f"{url}/api/main")
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    stopped = server.poll() is not None
                    detail = (
                        server.stderr.read().decode(errors="replace")[-3000:] if stopped else ""
                    )
                    raise RuntimeError(f"kedro viz did not start:\n{detail}") from None
                time.sleep(1)
        yield url, project
    finally:
        _stop_group(server)


def _stop_group(server: subprocess.Popen) -> None:
    """Stop `kedro viz` and the server child it starts: the whole process group."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        server.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)  # whatever of the group outlived its parent


def test_api_lists_every_pipeline_with_its_nodes_layers_and_groups(viz, registered_pipelines):
    registered = registered_pipelines
    url, _ = viz
    main = json.loads(_get(f"{url}/api/main"))
    assert {pipeline["id"] for pipeline in main["pipelines"]} == set(registered)
    for name, pipeline in registered.items():
        if name == "__default__":
            continue
        shown = json.loads(_get(f"{url}/api/pipelines/{name}"))
        shown_tasks = {node["name"] for node in shown["nodes"] if node["type"] == "task"}
        assert {node.name.split(".")[-1] for node in pipeline.nodes} <= shown_tasks, name
    assert {"raw", "models", "reporting"} <= set(main["layers"])
    groups = set(main["modular_pipelines"])
    expected = {
        "activations.relu",
        "dropout",
        "initialization",
        "transfer",
        "vanishing_gradient.grid",
    }
    assert expected <= groups


def test_a_real_browser_renders_the_dag(viz):
    url, _ = viz
    chromium = shutil.which("chromium")
    if chromium is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: .ci/run installs Debian's chromium")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    ARTIFACTS.mkdir(exist_ok=True)
    profile = ARTIFACTS / "chromium-profile"
    shutil.rmtree(profile, ignore_errors=True)
    page = f"{url}/?pid=__default__"
    browser = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}"]
    dom = subprocess.run(
        [*browser, "--dump-dom", page], capture_output=True, text=True, timeout=180, check=True
    ).stdout
    for section in ("activations", "augmentation", "dropout", "initialization", "transfer"):
        assert f">{section}<" in dom, f"{section} is not rendered"
    assert dom.count('class="pipeline-node pipeline-node--modularPipeline"') >= 6
    screenshot = ARTIFACTS / "kedro_viz.png"
    subprocess.run(
        [*browser, f"--screenshot={screenshot}", page], capture_output=True, timeout=180, check=True
    )
    assert screenshot.stat().st_size > 20_000  # a rendered graph, not a blank page
