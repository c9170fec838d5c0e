"""Shared fixtures: a throwaway copy of the project, so tests never write into the repo's data/.

The copy holds pyproject.toml, .telemetry and conf/; the code runs from the installed
package. Kedro resolves the catalog's relative paths against the copy, so every
artifact of a test run lands in the test's own temporary folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec
import pytest
from kedro.config import MissingConfigException
from kedro.framework.project import configure_project
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO = Path(__file__).resolve().parents[1]


IN_PROCESS_FIRST = (
    "tests/test_errors.py",
    "tests/test_files.py",
    "tests/test_manifest_hook.py",
    "tests/test_pins.py",
    "tests/test_store.py",
    "tests/test_tensorflow_settings_double.py",
    "tests/test_hooks.py",
)
"""Test files without Kedro sessions: seconds for all of them."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under mutmut, the in-process tests first, then file by file.

    mutmut passes a mutant's tests in no particular order and stops at the first failure
    (`-x`): a mutant those tests kill is judged in seconds, not after the session tests,
    and each file's module fixtures run once.
    """
    if "MUTANT_UNDER_TEST" in os.environ:
        items.sort(
            key=lambda item: (
                item.path.relative_to(REPO).as_posix() not in IN_PROCESS_FIRST,
                str(item.path),
            )
        )


class ConfigContext:
    """A Kedro context as far as the hooks read it: settings files and the project path."""

    def __init__(self, project_path: Path = REPO, **files: dict[str, Any]) -> None:
        self.project_path = project_path
        self.config_loader = self
        self._files = files

    def __getitem__(self, key: str) -> dict[str, Any]:
        if key not in self._files:
            raise MissingConfigException(f"No files of '{key}' found")
        return self._files[key]


@pytest.fixture
def memory_fs() -> Iterator[Any]:
    """fsspec's in-memory file system, a non-local protocol like s3:// without a network;
    tests write under /runs, emptied afterwards."""
    fs = fsspec.filesystem("memory")
    yield fs
    if fs.exists("/runs"):
        fs.rm("/runs", recursive=True)


@dataclass
class KedroProject:
    """A copy of the project in a temporary folder, run in this process."""

    path: Path

    @property
    def data(self) -> Path:
        return self.path / "data"

    def run(
        self,
        pipelines: list[str] | None = None,
        env: str = "test",
        params: dict[str, Any] | None = None,
        runner: Any = None,
        **run_args: Any,
    ) -> dict[str, Any]:
        """`kedro run --env <env> --pipelines ... --params ...`, in process."""
        bootstrap_project(self.path)
        with KedroSession.create(project_path=self.path, env=env, runtime_params=params) as session:
            return session.run(pipeline_names=pipelines, runner=runner, **run_args)

    def context(self, env: str = "test", params: dict[str, Any] | None = None) -> Any:
        """A loaded KedroContext (catalog, params, config) of the copy."""
        bootstrap_project(self.path)
        session = KedroSession.create(project_path=self.path, env=env, runtime_params=params)
        return session.load_context()

    def load(self, dataset: str, env: str = "test") -> Any:
        """Load the latest version of a catalog entry."""
        return self.context(env).catalog.load(dataset)

    def write_conf(self, relative: str, text: str) -> None:
        """Write a YAML file under the copy's conf/ (e.g. a bad parameter for a test)."""
        target = self.path / "conf" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def copy_project(destination: Path) -> KedroProject:
    """Copy the files that make a Kedro project (code excluded) to `destination`."""
    destination.mkdir(parents=True, exist_ok=True)
    for name in ("pyproject.toml", ".telemetry"):
        shutil.copy2(REPO / name, destination / name)
    shutil.copytree(REPO / "conf", destination / "conf", ignore=shutil.ignore_patterns("local"))
    (destination / "conf" / "local").mkdir()
    (destination / "src").mkdir()  # Kedro requires it; the code runs from the installed package
    return KedroProject(destination)


@pytest.fixture(scope="session")
def registered_pipelines() -> dict[str, Any]:
    """The project's pipelines, as `kedro run` registers them."""
    configure_project("dnn_pipelines")
    from dnn_pipelines.pipeline_registry import register_pipelines  # noqa: PLC0415 - after configure

    return register_pipelines()


@pytest.fixture
def project(tmp_path: Path) -> KedroProject:
    """A fresh project copy for one test."""
    return copy_project(tmp_path / "project")


CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
"""Debian's Chromium, headless, making no connection of its own (the network is closed)."""


def chromium() -> str:
    """Debian's chromium: required in CI (.ci/run installs it), a skip elsewhere."""
    found = shutil.which("chromium")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: .ci/run installs Debian's chromium")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return found


def screenshot(url: str, shot: Path, profile: Path, size: str = "1400,900") -> None:
    """A PNG of `url` as headless Chromium renders it (scripts given 15 s of virtual time)."""
    shot.parent.mkdir(parents=True, exist_ok=True)
    shot.unlink(missing_ok=True)
    subprocess.run(
        [
            chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={size}",
            "--virtual-time-budget=15000",
            f"--screenshot={shot}",
            url,
        ],
        capture_output=True,
        timeout=180,
        check=False,
    )


KEDRO = str(Path(sys.executable).with_name("kedro"))


def kedro_run(
    project: KedroProject, *args: str, cwd: Path | None = None, without: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """`kedro run <args>` in a fresh process, in the project (or `cwd`), telemetry off and
    the environment variables `without` removed; bounded by a 600 s timeout."""
    env = {key: value for key, value in os.environ.items() if key not in without}
    return subprocess.run(
        [KEDRO, "run", *args],
        cwd=cwd or project.path,
        env={**env, "KEDRO_DISABLE_TELEMETRY": "1", "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@contextlib.contextmanager
def served(folder: Path) -> Iterator[tuple[int, list[str]]]:
    """`python -m http.server` on 127.0.0.1 for `folder`, stopped by pid on exit.

    Yields the port and a list that holds the server's request log once the block ends.
    """
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=folder,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    log: list[str] = []
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "the HTTP server did not start in 30 s"
                time.sleep(0.2)
        yield port, log
    finally:
        stop_group(server)
        log.append(server.stderr.read())


def stop_group(process: subprocess.Popen, grace_s: float = 30) -> None:
    """Stop a server started in a session of its own: its whole process group, by id."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=grace_s)
