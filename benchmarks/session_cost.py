"""What a pipeline test pays for its Kedro session: one pipeline on conf/test, run in one
process through a KedroSession (versioned saves, hooks, manifest) and on an in-memory
catalog with SequentialRunner (the same nodes, nothing saved).

    python benchmarks/session_cost.py vanishing_gradient activations initialization

Each pipeline runs once to warm the imports, then once per side, in a throwaway copy.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kedro.framework.project import pipelines
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from tests.conftest import copy_project


def timed(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def measure(name: str, folder: Path) -> tuple[float, float]:
    """(session seconds, in-memory seconds) of one pipeline."""
    project = copy_project(folder / name)
    project.run([name])  # imports and compiled functions warm
    session = timed(lambda: project.run([name]))
    catalog = project.context().catalog
    pipeline = pipelines[name]
    memory = DataCatalog({ds: MemoryDataset(catalog.load(ds)) for ds in pipeline.inputs()})
    in_memory = timed(lambda: SequentialRunner().run(pipeline, memory))
    return session, in_memory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pipelines", nargs="+")
    names = parser.parse_args().pipelines
    with tempfile.TemporaryDirectory() as folder:
        for name in names:
            session, in_memory = measure(name, Path(folder))
            print(f"{name}: session {session:.2f} s, in-memory {in_memory:.2f} s")


if __name__ == "__main__":
    main()
