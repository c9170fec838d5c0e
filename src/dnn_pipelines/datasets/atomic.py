"""Crash-safe saving and clear load errors for versioned file datasets.

Kedro loads "latest" as the newest version folder that holds the file, so a run
killed mid-save would leave a half-written file that wins. Every dataset here
writes to a hidden partial name in the same folder and renames it into place;
the rename is atomic, so the final name only ever holds a complete file. On local
disks the file and its folder are fsynced around the rename (`dnn_pipelines.files`),
so the file is also whole after a power cut.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

from kedro.io import core as kedro_core
from kedro.io.core import DatasetError, VersionNotFoundError, get_filepath_str
from kedro_datasets.json import JSONDataset
from kedro_datasets.matplotlib import MatplotlibDataset
from kedro_datasets.pandas import CSVDataset, ParquetDataset
from kedro_datasets.text import TextDataset

from dnn_pipelines.files import partial_name, publish

LOCAL_PROTOCOLS = ("file", "local")


class UnsafeArtifactError(DatasetError):
    """A stored file that loading would have to run code for (pickle, Lambda layers)."""


def without_kedro_wrappers(method: Callable[..., Any]) -> Callable[..., Any]:
    """The save/load of a Kedro dataset without Kedro's wrappers (logging, version checks,
    error wrapping; one per subclass level), as a plain function to call with `self`.

    Only Kedro's come off: another decorator (a profiler's, a mutation tool's) stays.
    """
    while getattr(getattr(method, "__code__", None), "co_filename", None) == kedro_core.__file__:
        method = method.__wrapped__
    return method


def partial_path_for(final_path: PurePosixPath) -> PurePosixPath:
    """A hidden name beside `final_path` that keeps its extension (Keras checks it)."""
    return final_path.parent / partial_name(final_path.name)


class AtomicSaveMixin:
    """Save through a partial file and a rename; name the file and version on a bad load.

    Put it first among the bases of a kedro-datasets file dataset.
    """

    def save(self, data: Any) -> None:
        """Write `data` completely under a partial name, then rename it into place."""
        final_path = self._get_save_path()
        partial_path = partial_path_for(final_path)
        self._get_save_path = lambda: partial_path  # the parent's save writes here
        try:
            without_kedro_wrappers(super().save)(self, data)
            self._publish(partial_path, final_path)
        finally:
            del self._get_save_path
            partial = get_filepath_str(partial_path, self._protocol)
            if self._fs.exists(partial):
                self._fs.rm(partial, recursive=True)

    def _publish(self, partial_path: PurePosixPath, final_path: PurePosixPath) -> None:
        """Rename the complete partial file into place: durably on a local disk."""
        if self._protocol in LOCAL_PROTOCOLS:
            publish(Path(partial_path), Path(final_path))
        else:
            self._fs.mv(
                get_filepath_str(partial_path, self._protocol),
                get_filepath_str(final_path, self._protocol),
            )

    def load(self) -> Any:
        """Load, turning a missing version or an unreadable file into an actionable error."""
        try:
            path = self._get_load_path()
        except VersionNotFoundError as error:
            if self._version and self._version.load:
                raise
            raise VersionNotFoundError(
                f"No version of '{self._filepath}' has been saved yet. Run what writes it "
                "first (another pipeline, or nodes that --tags/--from-nodes left out), or "
                "writer and reader in one command: `kedro run --pipelines <writer>,<reader>`."
            ) from error
        version = self._version.load if self._version and self._version.load else "latest"
        if (
            self._version
            and self._version.load
            and not self._fs.exists(get_filepath_str(path, self._protocol))
        ):
            raise VersionNotFoundError(
                f"Version '{self._version.load}' of '{self._filepath}' does not exist. "
                f"Existing versions, newest first: {self._existing_versions()}. "
                "Pick one of them with --load-versions=<dataset>:<version>."
            )
        try:
            return without_kedro_wrappers(super().load)(self)
        except DatasetError:
            raise
        except Exception as error:
            raise DatasetError(
                f"Cannot read '{path}' (version {version} of '{self._filepath}'): "
                f"{type(error).__name__}: {error}. The file is truncated or corrupt; "
                "delete its version folder or load another version with "
                "--load-versions=<dataset>:<version>."
            ) from error

    def _existing_versions(self) -> list[str]:
        try:
            return self.list_versions(full_path=False)
        except VersionNotFoundError:
            return []


class AtomicCSVDataset(AtomicSaveMixin, CSVDataset):
    """pandas CSVDataset with atomic saves."""


class AtomicParquetDataset(AtomicSaveMixin, ParquetDataset):
    """pandas ParquetDataset with atomic saves."""


class AtomicJSONDataset(AtomicSaveMixin, JSONDataset):
    """JSONDataset with atomic saves."""


class AtomicTextDataset(AtomicSaveMixin, TextDataset):
    """TextDataset with atomic saves (a model summary)."""


class _PngFigureDataset(MatplotlibDataset):
    """MatplotlibDataset that also loads: the saved PNG's bytes (a Figure cannot be read back)."""

    def load(self) -> bytes:
        """The image file as bytes, e.g. for `IPython.display.Image(data=...)` in a notebook."""
        with self._fs.open(get_filepath_str(self._get_load_path(), self._protocol), "rb") as file:
            return file.read()


class AtomicMatplotlibDataset(AtomicSaveMixin, _PngFigureDataset):
    """A single Figure saved atomically as PNG; loads as the PNG's bytes."""
