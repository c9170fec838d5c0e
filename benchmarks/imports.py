"""What the imports of a scikit-learn section cost before any node runs, in a fresh process.

Each module is imported in the order `kedro run --pipelines initialization --tags faithful`
needs them; the time is what that import adds on top of the ones before it.

    python benchmarks/imports.py
"""

from __future__ import annotations

import importlib
import time

MODULES = (
    "kedro.framework.cli.cli",
    "numpy",
    "scipy.stats",
    "sklearn.neural_network",
    "pandas",
    "matplotlib.figure",
    "kedro_datasets.matplotlib",
    "dnn_pipelines.settings",
)


def main() -> None:
    total = 0.0
    for name in MODULES:
        start = time.perf_counter()
        importlib.import_module(name)
        seconds = time.perf_counter() - start
        total += seconds
        print(f"{name:28s} {seconds:6.2f} s")
    print(f"{'total':28s} {total:6.2f} s")


if __name__ == "__main__":
    main()
