"""The augmentation pipeline end to end on conf/test: every output written, versioned, readable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from kedro.validation.exceptions import ParameterValidationError

from dnn_pipelines.datasets import NpzDataset
from tests.conftest import KedroProject, copy_project

OUTPUTS = {
    "augmentation.image": "data/01_raw/augmentation/image.npz",
    "augmentation.geometry_probe": "data/03_primary/augmentation/geometry_probe.npz",
    "augmentation.augmenter": "data/06_models/augmentation/augmenter.keras",
    "augmentation.samples": "data/07_model_output/augmentation/samples.npz",
    "augmentation.sample_parameters": "data/07_model_output/augmentation/sample_parameters.csv",
    "augmentation.effects": "data/07_model_output/augmentation/effects.npz",
    "augmentation.effect_parameters": "data/07_model_output/augmentation/effect_parameters.csv",
    "augmentation.geometry_evidence": "data/07_model_output/augmentation/geometry_evidence.npz",
    "augmentation.composition_comparison": (
        "data/07_model_output/augmentation/composition_comparison.npz"
    ),
    "augmentation.composition_draws": "data/07_model_output/augmentation/composition_draws.csv",
    "augmentation.geometry_check": "data/08_reporting/augmentation/geometry_check.csv",
    "augmentation_metrics": "data/08_reporting/augmentation/metrics.json",
    "augmentation.original_plot": "data/08_reporting/augmentation/original.png",
    "augmentation.grid_plot": "data/08_reporting/augmentation/grid.png",
    "augmentation.effects_plot": "data/08_reporting/augmentation/effects.png",
    "augmentation.geometry_plot": "data/08_reporting/augmentation/geometry_check.png",
    "augmentation.composition_plot": "data/08_reporting/augmentation/composition.png",
}
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def versions(project: KedroProject, relative: str) -> list[Path]:
    """The saved files of a versioned entry, oldest first (<path>/<version>/<name>)."""
    folder = project.path / relative
    return sorted(folder.glob(f"*/{folder.name}"))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> KedroProject:
    """One run of the whole pipeline on conf/test, shared by the tests below."""
    project = copy_project(tmp_path_factory.mktemp("augmentation"))
    project.run(["augmentation"])
    return project


@pytest.fixture(scope="module")
def catalog(project: KedroProject):
    """The run's catalog, created once (each `project.load` would rebuild the context)."""
    return project.context().catalog


def test_every_output_is_written_once_as_a_versioned_file(project):
    for name, relative in OUTPUTS.items():
        saved = versions(project, relative)
        assert len(saved) == 1, name
        assert saved[0].stat().st_size > 0, name
    for relative in OUTPUTS.values():
        if relative.endswith(".png"):
            assert versions(project, relative)[0].read_bytes()[:8] == PNG_MAGIC


def test_samples_are_uint8_copies_of_the_photo(catalog):
    samples = catalog.load("augmentation.samples")
    image = catalog.load("augmentation.image")["image"]
    assert image.shape == (107, 160, 3)
    assert samples["images"].dtype == np.uint8
    assert samples["images"].shape == (4, 107, 160, 3)
    assert not any(np.array_equal(copy, image) for copy in samples["images"])


def test_metrics_record_each_samples_draws_and_a_passed_geometry_check(catalog):
    metrics = catalog.load("augmentation_metrics")
    table = catalog.load("augmentation.sample_parameters")
    assert metrics["seed"] == 123
    assert metrics["n_samples"] == len(metrics["samples"]) == len(table) == 4
    for record, (_, row) in zip(metrics["samples"], table.iterrows(), strict=True):
        assert record["rotation_deg"] == pytest.approx(row["rotation_deg"])
        assert record["flipped"] == bool(row["flipped"])
    check = metrics["geometry_check"]
    assert check["all_passed"] is True
    assert check["max_error"]["rotation.rotation_deg"]["max_error"] < 1.0
    assert check["max_error"]["shift.shift_x_px"]["max_error"] < 1.0
    assert check["max_error"]["zoom.position_px"]["max_error"] < 1.0
    assert check["max_error"]["flip.flipped"]["max_error"] == 0.0


LOAD_IN_A_FRESH_PROCESS = """
import sys
from dnn_pipelines.datasets.keras_model import KerasModelDataset
path = sys.argv[1]
try:
    KerasModelDataset(filepath=path).load()
except Exception as error:  # the layer's class is unknown until its module is imported
    print("without imports:", type(error).__name__)
imports = {"imports": ["dnn_pipelines.pipelines.augmentation.composed"]}
model = KerasModelDataset(filepath=path, load_args=imports).load()
print("with imports:", [type(layer).__name__ for layer in model.layers])
"""


def test_augmenter_is_saved_as_a_keras_model_that_a_fresh_process_loads(project):
    """The catalog's `imports` registers the composed layer before a safe-mode load."""
    [saved] = versions(project, OUTPUTS["augmentation.augmenter"])
    result = subprocess.run(
        [sys.executable, "-c", LOAD_IN_A_FRESH_PROCESS, str(saved)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert result.stdout.splitlines() == [
        "without imports: DatasetError",
        "with imports: ['ImageDataGeneratorTransform']",
    ]
    augmenter = project.context().catalog.load("augmentation.augmenter")
    [layer] = augmenter.layers
    assert (layer.name, layer.fill_mode, layer.rotation_range) == (
        "image_data_generator",
        "nearest",
        40,
    )


def test_same_seed_same_samples_another_seed_other_samples(project):
    """Rerun the sampling (and what it needs) twice more: seed 123 again, then seed 124."""
    samples = OUTPUTS["augmentation.samples"]
    project.run(["augmentation"], to_outputs=["augmentation.samples"])
    project.run(["augmentation"], params={"seed": 124}, to_outputs=["augmentation.samples"])
    first, again, other = (
        NpzDataset(filepath=str(path)).load()["images"] for path in versions(project, samples)
    )
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("width_shift_range", 1.0),  # >= 1 would mean pixels in ImageDataGenerator
        ("rotation_range", -40),
        ("zoom_range", -0.2),
    ],
)
def test_a_bad_range_stops_the_run_before_any_node_naming_the_key(tmp_path, key, value):
    project = copy_project(tmp_path / "project")
    project.write_conf(
        "test/parameters_augmentation.yml",
        f"augmentation:\n  image:\n    downscale: 4\n  transforms:\n    {key}: {value}\n",
    )
    with pytest.raises(ParameterValidationError, match=rf"augmentation[\s\S]*transforms\.{key}"):
        project.run(["augmentation"])
    assert not (project.data / "01_raw").exists()  # no node ran
