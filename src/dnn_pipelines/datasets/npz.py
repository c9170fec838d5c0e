"""A versioned NumPy `.npz` dataset: kedro-datasets 9 has none."""

from __future__ import annotations

import math
import zipfile
from pathlib import PurePosixPath
from typing import Any

import fsspec
import numpy as np
from kedro.io.core import (
    AbstractVersionedDataset,
    DatasetError,
    Version,
    get_filepath_str,
    get_protocol_and_path,
)

from dnn_pipelines.datasets.atomic import AtomicSaveMixin, UnsafeArtifactError

DEFAULT_MAX_LOAD_BYTES = 1 << 30
"""1 GiB: far above any array of the lesson; a catalog entry may raise it."""


HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}


def _check_headers(file: Any, path: str, max_bytes: int) -> None:
    """Refuse pickled (object) arrays and archives that expand past `max_bytes`.

    A damaged file raises what zipfile or numpy raise; the dataset's load names it.
    """
    total = 0
    with zipfile.ZipFile(file) as archive:
        for member in archive.namelist():
            with archive.open(member) as stream:
                version = np.lib.format.read_magic(stream)
                shape, _, dtype = HEADER_READERS[version](stream)
            if dtype.hasobject:
                raise UnsafeArtifactError(
                    f"Refused: unsafe to load '{path}': array '{member}' holds Python "
                    "objects, which only pickle can load, and a pickle can run any code."
                )
            total += math.prod(shape) * dtype.itemsize
    if total > max_bytes:
        raise UnsafeArtifactError(
            f"Refused: '{path}' would expand to {total} bytes in memory, more than "
            f"max_load_bytes = {max_bytes} (from its headers; nothing was allocated). Raise "
            "max_load_bytes on the catalog entry if the file is meant to be that big."
        )


class _NpzFile(AbstractVersionedDataset[dict[str, np.ndarray], dict[str, np.ndarray]]):
    """Plain read and write of one `.npz` file; `NpzDataset` adds the atomic save."""

    def __init__(
        self,
        *,
        filepath: str,
        compressed: bool = True,
        max_load_bytes: int = DEFAULT_MAX_LOAD_BYTES,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        protocol, path = get_protocol_and_path(filepath, version)
        self._protocol = protocol
        fs_args = {"auto_mkdir": True} if protocol == "file" else {}
        self._fs = fsspec.filesystem(protocol, **fs_args)
        self._compressed = compressed
        self._max_load_bytes = max_load_bytes
        self.metadata = metadata
        super().__init__(
            filepath=PurePosixPath(path),
            version=version,
            exists_function=self._fs.exists,
            glob_function=self._fs.glob,
        )

    def _describe(self) -> dict[str, Any]:
        return {"filepath": self._filepath, "protocol": self._protocol, "version": self._version}

    def load(self) -> dict[str, np.ndarray]:
        """Read every array of the file into memory, once its headers say it is safe.

        Each array's header (dtype, shape) is read first: object arrays (pickles) and files
        that would expand past `max_load_bytes` are refused before anything is allocated.
        """
        path = get_filepath_str(self._get_load_path(), self._protocol)
        with self._fs.open(path, "rb") as file:
            _check_headers(file, path, self._max_load_bytes)
            file.seek(0)
            with np.load(file, allow_pickle=False) as archive:
                return {name: archive[name] for name in archive.files}

    def save(self, data: dict[str, np.ndarray]) -> None:
        """Write the named arrays; refuse anything that is not a dict of plain arrays."""
        if not isinstance(data, dict) or not data:
            raise DatasetError(
                f"{type(self).__name__} saves a non-empty dict of arrays, got {type(data).__name__}"
            )
        arrays = {name: np.asarray(value) for name, value in data.items()}
        objects = [name for name, array in arrays.items() if array.dtype.hasobject]
        if objects:
            raise DatasetError(
                f"Arrays {objects} have dtype object, which .npz can only store as a pickle; "
                "convert them to numeric or string arrays first."
            )
        writer = np.savez_compressed if self._compressed else np.savez
        with self._fs.open(get_filepath_str(self._get_save_path(), self._protocol), "wb") as file:
            writer(file, **arrays)

    def _exists(self) -> bool:
        try:
            path = self._get_load_path()
        except DatasetError:
            return False
        return self._fs.exists(get_filepath_str(path, self._protocol))


class NpzDataset(AtomicSaveMixin, _NpzFile):
    """A dict of named arrays in one `.npz` file, loaded without pickle, saved atomically.

    Object arrays are refused on save: they would need pickle to load, and a
    pickle from someone else's data folder can run code.
    """
