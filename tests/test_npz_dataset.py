"""The versioned .npz dataset: round trip, versions, no pickles, crash-safe saves."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np
import pytest
from kedro.io import Version
from kedro.io.core import DatasetError, VersionNotFoundError

from dnn_pipelines.datasets import NpzDataset
from dnn_pipelines.datasets.atomic import UnsafeArtifactError
from dnn_pipelines.files import PARTIAL_PREFIX

OLD = "2026-01-01T00.00.00.000Z"


def _versioned(path: Path, load: str | None = None, save: str | None = None) -> NpzDataset:
    return NpzDataset(filepath=str(path / "arrays.npz"), version=Version(load, save))


def test_round_trip_keeps_names_dtypes_and_values(tmp_path):
    arrays = {
        "x": np.random.default_rng(0).normal(size=(4, 3)),
        "labels": np.arange(4, dtype=np.int8),
    }
    dataset = NpzDataset(filepath=str(tmp_path / "a.npz"))
    dataset.save(arrays)
    loaded = dataset.load()
    assert set(loaded) == {"x", "labels"}
    np.testing.assert_array_equal(loaded["x"], arrays["x"])
    assert loaded["labels"].dtype == np.int8


def test_each_save_is_a_new_version_and_latest_is_newest(tmp_path):
    _versioned(tmp_path, save="2026-01-01T00.00.00.000Z").save({"v": np.array([1])})
    _versioned(tmp_path, save="2026-01-02T00.00.00.000Z").save({"v": np.array([2])})
    assert _versioned(tmp_path).load()["v"][0] == 2
    assert _versioned(tmp_path, load="2026-01-01T00.00.00.000Z").load()["v"][0] == 1
    assert _versioned(tmp_path).list_versions(full_path=False) == [
        "2026-01-02T00.00.00.000Z",
        "2026-01-01T00.00.00.000Z",
    ]


def test_missing_version_error_lists_existing_ones(tmp_path):
    _versioned(tmp_path, save="2026-01-01T00.00.00.000Z").save({"v": np.array([1])})
    with pytest.raises(VersionNotFoundError) as missing:
        _versioned(tmp_path, load="nope").load()
    assert str(missing.value) == (
        f"Version 'nope' of '{tmp_path / 'arrays.npz'}' does not exist. Existing versions, newest "
        "first: ['2026-01-01T00.00.00.000Z']. Pick one of them with "
        "--load-versions=<dataset>:<version>."
    )


def test_refuses_object_arrays(tmp_path):
    dataset = NpzDataset(filepath=str(tmp_path / "a.npz"))
    with pytest.raises(DatasetError) as raised:
        dataset.save({"mixed": np.array([1, "a", None], dtype=object), "plain": np.ones(2)})
    assert str(raised.value) == (
        "Arrays ['mixed'] have dtype object, which .npz can only store as a pickle; convert "
        "them to numeric or string arrays first."
    )
    assert not (tmp_path / "a.npz").exists()


@pytest.mark.parametrize(("data", "kind"), [([np.ones(2)], "list"), ({}, "dict"), (3, "int")])
def test_refuses_anything_but_a_non_empty_dict(tmp_path, data, kind):
    with pytest.raises(DatasetError) as raised:
        NpzDataset(filepath=str(tmp_path / "a.npz")).save(data)
    assert str(raised.value) == f"NpzDataset saves a non-empty dict of arrays, got {kind}"
    assert not (tmp_path / "a.npz").exists()


@pytest.mark.parametrize(
    ("compressed", "method"), [(True, zipfile.ZIP_DEFLATED), (False, zipfile.ZIP_STORED)]
)
def test_compressed_or_stored_as_the_catalog_says(tmp_path, compressed, method):
    NpzDataset(filepath=str(tmp_path / "a.npz"), compressed=compressed).save({"z": np.zeros(64)})
    with zipfile.ZipFile(tmp_path / "a.npz") as archive:
        assert [info.compress_type for info in archive.infolist()] == [method]


def test_the_dataset_describes_itself_and_keeps_its_metadata(tmp_path):
    metadata = {"kedro-viz": {"layer": "raw"}}
    dataset = NpzDataset(
        filepath=str(tmp_path / "a.npz"), version=Version(None, OLD), metadata=metadata
    )
    assert dataset.metadata == metadata
    assert dataset._describe() == {
        "filepath": PurePosixPath(tmp_path / "a.npz"),
        "protocol": "file",
        "version": Version(None, OLD),
    }


def test_a_pickled_array_is_refused_as_unsafe_before_it_is_read(tmp_path, monkeypatch):
    path = tmp_path / "evil.npz"
    np.savez(path, payload=np.array([{"a": 1}], dtype=object))
    monkeypatch.setattr(np, "load", lambda *a, **k: pytest.fail("np.load reached"))
    with pytest.raises(UnsafeArtifactError) as refused:
        NpzDataset(filepath=str(path)).load()
    assert str(refused.value).endswith(
        f"Refused: unsafe to load '{path}': array 'payload.npy' holds Python objects, which "
        "only pickle can load, and a pickle can run any code."
    )


def test_the_limit_counts_every_array_of_the_archive(tmp_path):
    path = tmp_path / "two.npz"
    np.savez(path, a=np.zeros(100), b=np.zeros(100))  # 800 bytes each
    with pytest.raises(UnsafeArtifactError, match="would expand to 1600 bytes in memory"):
        NpzDataset(filepath=str(path), max_load_bytes=1000).load()


def _zip_bomb(path, elements: int) -> None:
    """A valid .npz of `elements` float64 zeros, compressed to a few MB."""
    with (
        zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive,
        archive.open("zeros.npy", "w", force_zip64=True) as member,
    ):
        header = {"descr": "<f8", "fortran_order": False, "shape": (elements,)}
        np.lib.format.write_array_header_1_0(member, header)
        chunk = bytes(1 << 20)
        for _ in range(elements * 8 // len(chunk)):
            member.write(chunk)


def test_an_archive_that_would_expand_past_the_limit_is_refused_from_its_headers(tmp_path):
    path = tmp_path / "bomb.npz"
    _zip_bomb(path, 2**25)  # 256 MiB of zeros in memory, under 300 KB on disk
    assert path.stat().st_size < 1 << 20
    with pytest.raises(UnsafeArtifactError) as refused:
        NpzDataset(filepath=str(path), max_load_bytes=2**27).load()
    assert str(refused.value).endswith(
        f"Refused: '{path}' would expand to {2**28} bytes in memory, more than max_load_bytes "
        f"= {2**27} (from its headers; nothing was allocated). Raise max_load_bytes on the "
        "catalog entry if the file is meant to be that big."
    )
    loaded = NpzDataset(filepath=str(path), max_load_bytes=2**28).load()  # at the limit: loads
    assert loaded["zeros"].shape == (2**25,)


def test_crash_mid_save_leaves_nothing_a_load_would_pick(tmp_path, monkeypatch):
    _versioned(tmp_path, save="2026-01-01T00.00.00.000Z").save({"v": np.array([1])})

    def crash(file, **arrays):
        file.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez_compressed", crash)
    with pytest.raises(KeyboardInterrupt):
        _versioned(tmp_path, save="2026-01-02T00.00.00.000Z").save({"v": np.array([2])})

    assert _versioned(tmp_path).load()["v"][0] == 1
    leftovers = [
        name for _, _, files in os.walk(tmp_path) for name in files if PARTIAL_PREFIX in name
    ]
    assert leftovers == []


def test_partial_file_of_a_killed_save_is_ignored(tmp_path):
    _versioned(tmp_path, save="2026-01-01T00.00.00.000Z").save({"v": np.array([1])})
    killed = tmp_path / "arrays.npz" / "2026-01-02T00.00.00.000Z"
    killed.mkdir()
    (killed / f"{PARTIAL_PREFIX}abc-arrays.npz").write_bytes(b"PK\x03\x04 truncated")
    assert _versioned(tmp_path).load()["v"][0] == 1


def test_truncated_file_error_names_file_and_version(tmp_path):
    _versioned(tmp_path, save="2026-01-01T00.00.00.000Z").save({"v": np.arange(1000)})
    path = tmp_path / "arrays.npz" / "2026-01-01T00.00.00.000Z" / "arrays.npz"
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(DatasetError, match=r"Cannot read .*arrays\.npz.*version latest.*corrupt"):
        _versioned(tmp_path).load()


def test_exists_is_false_without_any_version_and_true_after_a_save(tmp_path):
    assert not _versioned(tmp_path).exists()
    _versioned(tmp_path, save="2026-01-01T00.00.00.000Z").save({"v": np.array([1])})
    assert _versioned(tmp_path).exists()
