"""A versioned NumPy `.npz` dataset: kedro-datasets 9 has none."""

from __future__ import annotations

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

from dnn_pipelines.datasets.atomic import AtomicSaveMixin


class _NpzFile(AbstractVersionedDataset[dict[str, np.ndarray], dict[str, np.ndarray]]):
    """Plain read and write of one `.npz` file; `NpzDataset` adds the atomic save."""

    def __init__(
        self,
        *,
        filepath: str,
        compressed: bool = True,
        version: Version | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        protocol, path = get_protocol_and_path(filepath, version)
        self._protocol = protocol
        fs_args = {"auto_mkdir": True} if protocol == "file" else {}
        self._fs = fsspec.filesystem(protocol, **fs_args)
        self._compressed = compressed
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
        """Read every array of the file into memory."""
        path = get_filepath_str(self._get_load_path(), self._protocol)
        with self._fs.open(path, "rb") as file, np.load(file, allow_pickle=False) as archive:
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
