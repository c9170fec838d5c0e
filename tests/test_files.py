"""`dnn_pipelines.files`: hashing, partial names and durable atomic writes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from dnn_pipelines import files

# 3 MiB + 4 KiB of a repeating byte ramp: larger than the hashing chunk, not a multiple of it.
BIG = bytes(range(256)) * (3 * 4096 + 17)
BIG_SHA256 = "dee43ded04461ed7c48c4cd1f3582e67fe16cfc7e204f28e5d69fde4ae62249a"  # sha256sum
BIG_MD5 = "0fd75dab6537f4310eebe9dcf3b11e80"  # md5sum


def test_a_file_larger_than_the_chunk_hashes_to_its_known_digest(tmp_path):
    assert len(BIG) > 3 * files.HASH_CHUNK
    path = tmp_path / "big.bin"
    path.write_bytes(BIG)
    assert files.file_digest(path) == BIG_SHA256
    assert files.file_digest(path, "md5") == BIG_MD5
    assert files.sha256_path(path) == (BIG_SHA256, len(BIG))


def test_sha256_of_a_folder_covers_names_and_contents(tmp_path):
    folder = tmp_path / "model"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.bin").write_bytes(b"a")
    (folder / "sub" / "b.bin").write_bytes(BIG)
    digest, size = files.sha256_path(folder)
    expected = f"{hashlib.sha256(b'a').hexdigest()}  a.bin\n{BIG_SHA256}  sub/b.bin\n"
    assert digest == hashlib.sha256(expected.encode()).hexdigest()
    assert size == 1 + len(BIG)
    (folder / "sub" / "b.bin").rename(folder / "sub" / "c.bin")
    assert files.sha256_path(folder)[0] != digest


def test_partial_names_are_hidden_unique_and_keep_the_extension():
    first, second = files.partial_name("model.keras"), files.partial_name("model.keras")
    assert first != second
    for name in (first, second):
        assert name.startswith(".partial-") and name.endswith("-model.keras")


def test_atomic_json_write_leaves_only_the_final_file(tmp_path):
    target = tmp_path / "new" / "v" / "run_manifest.json"  # folders created on the way
    files.write_json_atomically(target, {"a": 1, "b": ["é"]})
    assert target.read_bytes() == b'{\n  "a": 1,\n  "b": [\n    "\\u00e9"\n  ]\n}\n'
    assert [p.name for p in target.parent.iterdir()] == ["run_manifest.json"]


def test_the_writer_gets_a_partial_name_of_the_final_file_beside_it(tmp_path):
    target = tmp_path / "model.keras"
    seen = []

    def write(partial: Path) -> None:
        seen.append(partial)
        partial.write_bytes(b"weights")

    files.write_atomically(target, write)
    [partial] = seen
    assert partial.parent == tmp_path
    assert partial.name.startswith(".partial-") and partial.name.endswith("-model.keras")
    assert target.read_bytes() == b"weights"


def test_a_failed_write_keeps_the_old_file_and_leaves_no_partial(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")

    def broken(partial: Path) -> None:
        partial.write_text("half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        files.write_atomically(target, broken)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


@pytest.fixture
def disk_events(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Each fsync (of the path behind the descriptor) and rename (to its target), in order."""
    events: list[tuple[str, str]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(descriptor: int) -> None:
        events.append(("fsync", os.readlink(f"/proc/self/fd/{descriptor}")))
        real_fsync(descriptor)

    def replace(source: Path, target: Path) -> None:
        events.append(("rename", str(target)))
        real_replace(source, target)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    return events


def test_publish_syncs_the_file_before_the_rename_and_the_folder_after(tmp_path, disk_events):
    """Durable: the data reaches the disk before its name, the new name before we return."""
    partial = tmp_path / files.partial_name("data.npz")
    partial.write_bytes(b"complete")
    final = tmp_path / "data.npz"
    files.publish(partial, final)
    assert disk_events == [
        ("fsync", str(partial)),
        ("rename", str(final)),
        ("fsync", str(tmp_path)),
    ]
    assert final.read_bytes() == b"complete"


def test_publishing_a_folder_syncs_every_file_and_folder_in_it(tmp_path, disk_events):
    """A model saved as a folder: each file, then each folder once its files are synced."""
    partial = tmp_path / files.partial_name("model")
    (partial / "variables").mkdir(parents=True)
    (partial / "graph.pb").write_bytes(b"graph")
    (partial / "variables" / "data").write_bytes(b"weights")
    files.publish(partial, tmp_path / "model")
    assert [path for event, path in disk_events if event == "fsync"] == [
        str(partial / "graph.pb"),
        str(partial),
        str(partial / "variables" / "data"),
        str(partial / "variables"),
        str(tmp_path),
    ]
    assert (tmp_path / "model" / "variables" / "data").read_bytes() == b"weights"
