"""kedro-datasets' file datasets, made crash-safe: a save is complete or invisible, a bad file is named."""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np
import pandas as pd
import pytest
from kedro.io import Version
from kedro.io.core import DatasetError, VersionNotFoundError
from matplotlib.figure import Figure

from dnn_pipelines.datasets import (
    AtomicCSVDataset,
    AtomicJSONDataset,
    AtomicMatplotlibDataset,
    NpzDataset,
)
from dnn_pipelines.datasets.atomic import UnsafeArtifactError
from dnn_pipelines.files import PARTIAL_PREFIX

OLD, NEW = "2026-01-01T00.00.00.000Z", "2026-01-02T00.00.00.000Z"


def _figure() -> Figure:
    figure = Figure()
    figure.subplots().plot([0, 1], [1, 0])
    return figure


CASES = {
    "csv": (AtomicCSVDataset, "table.csv", pd.DataFrame({"a": [1, 2]}), "pandas.DataFrame.to_csv"),
    "json": (AtomicJSONDataset, "metrics.json", {"accuracy": 0.9}, "json.dump"),
    "png": (AtomicMatplotlibDataset, "figure.png", None, "matplotlib.figure.Figure.savefig"),
}


def _dataset(kind, folder, load=None, save=None):
    cls, name, _, _ = CASES[kind]
    return cls(filepath=str(folder / name), version=Version(load, save))


def _data(kind):
    return _figure() if kind == "png" else CASES[kind][2]


def _partials(folder):
    return [name for _, _, files in os.walk(folder) for name in files if PARTIAL_PREFIX in name]


@pytest.mark.parametrize("kind", CASES)
def test_a_crash_mid_write_leaves_the_previous_version_as_latest(kind, tmp_path, monkeypatch):
    _dataset(kind, tmp_path, save=OLD).save(_data(kind))

    def write_half_then_die(*args, **kwargs):
        handle = next((a for a in (*args, *kwargs.values()) if hasattr(a, "write")), None)
        if handle is not None:
            try:
                handle.write("half")
            except TypeError:
                handle.write(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(CASES[kind][3], write_half_then_die)
    with pytest.raises(KeyboardInterrupt):
        _dataset(kind, tmp_path, save=NEW).save(_data(kind))
    monkeypatch.undo()

    assert _dataset(kind, tmp_path).resolve_load_version() == OLD
    assert _partials(tmp_path) == []


@pytest.mark.parametrize("kind", CASES)
def test_the_final_name_appears_only_by_rename_of_a_complete_file(kind, tmp_path, monkeypatch):
    """Killed between writing and renaming: the complete file sits under a hidden name only."""
    _dataset(kind, tmp_path, save=OLD).save(_data(kind))
    dataset = _dataset(kind, tmp_path, save=NEW)
    renamed = []

    def die_instead_of_rename(source, destination, **kwargs):
        renamed.append((os.path.basename(source), os.path.getsize(source)))
        raise KeyboardInterrupt

    monkeypatch.setattr("dnn_pipelines.files.os.replace", die_instead_of_rename)
    with pytest.raises(KeyboardInterrupt):
        dataset.save(_data(kind))

    [(hidden_name, size)] = renamed
    assert hidden_name.startswith(PARTIAL_PREFIX)
    assert hidden_name.endswith(CASES[kind][1])
    assert size > 0
    assert _dataset(kind, tmp_path).resolve_load_version() == OLD


@pytest.mark.parametrize("kind", ["csv", "json"])
def test_a_truncated_file_error_names_the_file_and_version(kind, tmp_path):
    dataset = _dataset(kind, tmp_path, save=OLD)
    dataset.save(_data(kind))
    path = tmp_path / CASES[kind][1] / OLD / CASES[kind][1]
    path.write_bytes(b'{"accuracy": 0.' if kind == "json" else b"\xff\xfe\x00garbage\x00")
    with pytest.raises(DatasetError, match=rf"Cannot read .*{OLD}.*version latest.*corrupt"):
        _dataset(kind, tmp_path).load()


def test_unversioned_save_replaces_the_file_whole(tmp_path):
    dataset = AtomicJSONDataset(filepath=str(tmp_path / "m.json"))
    dataset.save({"a": 1})
    dataset.save({"a": 2})
    assert dataset.load() == {"a": 2}
    assert sorted(os.listdir(tmp_path)) == ["m.json"]


def test_keras_model_round_trip_and_truncated_file(tmp_path):
    import keras  # noqa: PLC0415 - only this test needs TensorFlow

    from dnn_pipelines.datasets.keras_model import KerasModelDataset  # noqa: PLC0415

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    dataset = KerasModelDataset(filepath=str(tmp_path / "model.keras"), version=Version(None, OLD))
    dataset.save(model)
    loaded = KerasModelDataset(
        filepath=str(tmp_path / "model.keras"), version=Version(None, None)
    ).load()
    x = np.ones((1, 3), dtype="float32")
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert _partials(tmp_path) == []

    path = tmp_path / "model.keras" / OLD / "model.keras"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(DatasetError, match=rf"Cannot read .*model\.keras.*{OLD}.*corrupt"):
        KerasModelDataset(
            filepath=str(tmp_path / "model.keras"), version=Version(None, None)
        ).load()


def test_a_saved_figure_loads_back_as_its_png_bytes(tmp_path):
    dataset = _dataset("png", tmp_path, save=OLD)
    dataset.save(_figure())
    png = _dataset("png", tmp_path).load()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert png == (tmp_path / "figure.png" / OLD / "figure.png").read_bytes()


@pytest.fixture
def moves(memory_fs: Any, monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Every `mv` on the in-memory file system, (source, destination)."""
    recorded: list[tuple[str, str]] = []
    move = type(memory_fs).mv

    def recorded_move(self: Any, source: str, destination: str, **kwargs: Any) -> None:
        recorded.append((source, destination))
        move(self, source, destination, **kwargs)

    monkeypatch.setattr(type(memory_fs), "mv", recorded_move)
    return recorded


REMOTE = {
    "json": (AtomicJSONDataset, "metrics.json", {"accuracy": 0.9}),
    "npz": (NpzDataset, "arrays.npz", {"x": np.arange(3.0)}),
}


@pytest.mark.parametrize("kind", REMOTE)
def test_on_a_remote_file_system_the_complete_file_is_moved_into_place(kind, memory_fs, moves):
    cls, name, data = REMOTE[kind]
    cls(filepath=f"memory:///runs/{name}", version=Version(None, OLD)).save(data)
    [(source, destination)] = moves
    assert destination == f"/runs/{name}/{OLD}/{name}"
    assert source.startswith(f"/runs/{name}/{OLD}/{PARTIAL_PREFIX}")
    assert source.endswith(f"-{name}")
    assert memory_fs.find("/runs") == [f"/runs/{name}/{OLD}/{name}"]
    loaded = cls(filepath=f"memory:///runs/{name}", version=Version(None, None)).load()
    assert loaded.keys() == data.keys()
    for key, value in data.items():
        np.testing.assert_array_equal(loaded[key], value)


def test_a_missing_version_on_a_remote_file_system_lists_the_saved_ones(memory_fs):
    NpzDataset(filepath="memory:///runs/arrays.npz", version=Version(None, OLD)).save(
        {"x": np.zeros(2)}
    )
    with pytest.raises(VersionNotFoundError) as raised:
        NpzDataset(filepath="memory:///runs/arrays.npz", version=Version(NEW, None)).load()
    assert str(raised.value) == (
        f"Version '{NEW}' of '/runs/arrays.npz' does not exist. Existing versions, newest "
        f"first: ['{OLD}']. Pick one of them with --load-versions=<dataset>:<version>."
    )


def test_loading_before_any_save_says_what_to_run(tmp_path):
    with pytest.raises(VersionNotFoundError) as raised:
        AtomicJSONDataset(filepath=str(tmp_path / "m.json"), version=Version(None, None)).load()
    assert str(raised.value) == (
        f"No version of '{tmp_path / 'm.json'}' has been saved yet. Run what writes it first "
        "(another pipeline, or nodes that --tags/--from-nodes left out), or writer and reader "
        "in one command: `kedro run --pipelines <writer>,<reader>`."
    )


def test_a_corrupt_pinned_version_is_named_with_the_way_out(tmp_path):
    AtomicJSONDataset(filepath=str(tmp_path / "m.json"), version=Version(None, OLD)).save({})
    (tmp_path / "m.json" / OLD / "m.json").write_text('{"a": 1')
    with pytest.raises(DatasetError) as raised:
        AtomicJSONDataset(filepath=str(tmp_path / "m.json"), version=Version(OLD, None)).load()
    assert str(raised.value) == (
        f"Cannot read '{tmp_path / 'm.json' / OLD / 'm.json'}' (version {OLD} of "
        f"'{tmp_path / 'm.json'}'): JSONDecodeError: Expecting ',' delimiter: line 1 column 8 "
        "(char 7). The file is truncated or corrupt; delete its version folder or load "
        "another version with --load-versions=<dataset>:<version>."
    )


@pytest.fixture(scope="module")
def compiled_model() -> Any:
    import keras  # noqa: PLC0415 - only the Keras tests need TensorFlow

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_a_keras_model_on_a_remote_file_system_round_trips(compiled_model, memory_fs, moves):
    from dnn_pipelines.datasets.keras_model import KerasModelDataset  # noqa: PLC0415

    path = "memory:///runs/model.keras"
    KerasModelDataset(filepath=path, version=Version(None, OLD)).save(compiled_model)
    assert memory_fs.find("/runs") == [f"/runs/model.keras/{OLD}/model.keras"]
    assert [destination for _, destination in moves] == [f"/runs/model.keras/{OLD}/model.keras"]
    loaded = KerasModelDataset(filepath=path, version=Version(None, None)).load()
    for ours, theirs in zip(loaded.get_weights(), compiled_model.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)


def test_keras_load_args_reach_keras_and_imports_come_first(compiled_model, tmp_path, monkeypatch):
    """`imports` is the project's, `tf_device` kedro-datasets'; the rest is Keras' own."""
    from dnn_pipelines.datasets.keras_model import KerasModelDataset  # noqa: PLC0415

    (tmp_path / "probe_layers.py").write_text("REGISTERED = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "probe_layers", raising=False)
    path = str(tmp_path / "model.keras")
    KerasModelDataset(filepath=path).save(compiled_model)
    assert KerasModelDataset(filepath=path).load().compiled
    load_args = {"imports": ["probe_layers"], "compile": False, "tf_device": "/cpu:0"}
    assert not KerasModelDataset(filepath=path, load_args=load_args).load().compiled
    assert "probe_layers" in sys.modules


def test_a_keras_model_that_would_run_code_is_refused(tmp_path):
    import keras  # noqa: PLC0415

    from dnn_pipelines.datasets.keras_model import KerasModelDataset  # noqa: PLC0415

    path = tmp_path / "lambda.keras"
    model = keras.Sequential([keras.Input((3,)), keras.layers.Lambda(lambda x: 2 * x)])
    KerasModelDataset(filepath=str(path)).save(model)
    with pytest.raises(UnsafeArtifactError) as raised:
        KerasModelDataset(filepath=str(path)).load()
    message = str(raised.value)
    assert message.startswith(
        f"Refused: unsafe to load '{path}': it holds code Keras would have to run (a Lambda "
        "layer or another arbitrary-code object): Requested the deserialization of a `Lambda`"
    )
    assert message.endswith(
        ". Set load_args: {safe_mode: false} on the catalog entry only if you trust its source."
    )
