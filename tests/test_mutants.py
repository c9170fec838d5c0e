"""Known bugs stay caught: each mutant below was killed once; it must keep failing its tests.

The full mutation run (`mutmut run`, docs/development.md) is too slow for every CI run. These
are plausible bugs: those a review once introduced by hand (the suite let most of them
through then) and bugs found and fixed since. Each is applied to a copy of the package,
which the tests import through PYTHONPATH (subprocesses such as `kedro run` included), and
the tests that must catch it run in a fresh process: they have to fail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.conftest import REPO

PACKAGE = REPO / "src" / "dnn_pipelines"
PYTEST_FAILED = 1  # pytest's exit code when tests ran and some failed


class Mutant(NamedTuple):
    """A bug: `original` (found exactly once in `path`) becomes `mutated`."""

    path: str
    original: str
    mutated: str
    tests: str  # pytest node selection: `file` or `file::test` or `file -k expr`


MUTANTS = {
    "hash only the first chunk of a big file": Mutant(
        "files.py",
        "while chunk := file.read(HASH_CHUNK):",
        "if chunk := file.read(HASH_CHUNK):",
        "tests/test_files.py",
    ),
    "hash the parameters' JSON with spaces": Mutant(
        "tracking/manifest.py",
        'separators=(",", ":")',
        'separators=(", ", ": ")',
        "tests/test_manifest.py -k parameters_hash",
    ),
    "Monte-Carlo spread as the population std": Mutant(
        "pipelines/dropout/nodes.py",
        "samples.std(axis=0, ddof=1)",
        "samples.std(axis=0, ddof=0)",
        "tests/pipelines/dropout/test_nodes.py -k mc_spread",
    ),
    "the TensorFlow hook applies the defaults": Mutant(
        "hooks.py",
        "settings = self._settings or TensorFlowSettings()",
        "settings = TensorFlowSettings()",
        "tests/test_tensorflow_settings.py -k envs_settings_not_the_defaults",
    ),
    "a settings mistake shown with a traceback": Mutant(
        "cli.py",
        "    TensorFlowSettingsError,\n    UserInputError,\n)",
        "    UserInputError,\n)",
        "tests/test_cli.py -k tensorflow",
    ),
    "prune deletes outside data/": Mutant(
        "tracking/prune.py",
        "if not removal.path.absolute().is_relative_to(data_dir):",
        "if False:",
        "tests/test_versions.py -k outside_data",
    ),
    "the first weights download lands in /tmp/.keras": Mutant(
        "pipelines/transfer/weights.py",
        "models_dir.mkdir(parents=True, exist_ok=True)",
        "pass",
        "tests/pipelines/transfer/test_nodes.py -k first_download",
    ),
    "ImageDataGenerator's pivot read as (row, column)": Mutant(
        "pipelines/augmentation/composed.py",
        'centre_x = (ops.cast(width, "float32") - 1.0) / 2.0',
        'centre_x = (ops.cast(height, "float32") - 1.0) / 2.0',
        "tests/pipelines/augmentation/test_composed.py -k non_square",
    ),
    "shift fractions of the wrong side": Mutant(
        "pipelines/augmentation/layers.py",
        '"shift_x_fraction": dx / width,',
        '"shift_x_fraction": dx / height,',
        "tests/pipelines/augmentation/test_nodes.py -k shift_fractions",
    ),
}


def mutated_package(destination: Path, mutant: Mutant) -> Path:
    """A copy of the package with the mutant applied; returns the folder to put on PYTHONPATH."""
    source = (PACKAGE / mutant.path).read_text()
    assert source.count(mutant.original) == 1, (
        f"{mutant.path} no longer holds {mutant.original!r} exactly once: update this mutant "
        "to the code as it is now"
    )
    root = destination / "src"
    shutil.copytree(PACKAGE, root / "dnn_pipelines", ignore=shutil.ignore_patterns("__pycache__"))
    (root / "dnn_pipelines" / mutant.path).write_text(
        source.replace(mutant.original, mutant.mutated)
    )
    return root


@pytest.mark.parametrize("name", list(MUTANTS))
def test_a_known_bug_fails_its_tests(name: str, tmp_path: Path) -> None:
    mutant = MUTANTS[name]
    root = mutated_package(tmp_path, mutant)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-x",
            "-p",
            "no:cacheprovider",
            *mutant.tests.split(),
        ],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,  # a failure is the expected outcome
    )
    assert result.returncode == PYTEST_FAILED, (
        f"{name}: expected failing tests, got exit code {result.returncode}\n{result.stdout[-3000:]}"
    )


def test_the_mutated_copy_is_what_the_tests_import(tmp_path: Path) -> None:
    """Without this, every mutant above could 'fail' for an unrelated reason."""
    root = mutated_package(tmp_path, MUTANTS["hash only the first chunk of a big file"])
    probe = "import dnn_pipelines.files as f; print(f.__file__)"
    shown = subprocess.run(
        [sys.executable, "-c", probe],
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert Path(shown) == root / "dnn_pipelines" / "files.py"
