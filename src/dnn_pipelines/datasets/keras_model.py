"""Keras models as versioned `.keras` files, saved atomically, loaded in safe mode.

A module of its own: importing it imports TensorFlow, which numpy pipelines never need.
On a local disk the model is written straight to its partial name and renamed into place,
and loaded straight from its file. kedro-datasets goes through a temporary folder outside
data/ and copies: twice the I/O for an 80 MB model, and a killed save leaves the folder
behind where `kedro versions prune` cannot see it.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from kedro.io.core import get_filepath_str
from kedro_datasets.tensorflow import TensorFlowModelDataset

from dnn_pipelines.datasets.atomic import (
    LOCAL_PROTOCOLS,
    AtomicSaveMixin,
    UnsafeArtifactError,
    without_kedro_wrappers,
)


class _KerasFile(TensorFlowModelDataset):
    """Direct save and load of a local `.keras` file; other file systems as kedro-datasets.

    `load_args: {imports: [module, ...]}` names modules that register the model's custom
    layers, imported before every load (a YAML catalog cannot pass `custom_objects`).
    """

    def __init__(self, *, load_args: dict[str, Any] | None = None, **kwargs: Any) -> None:
        load_args = dict(load_args or {})
        self._imports = list(load_args.pop("imports", []))
        super().__init__(load_args=load_args, **kwargs)

    def save(self, data: Any) -> None:
        """Write the model to the save path (the mixin makes it a partial name)."""
        if self._protocol not in LOCAL_PROTOCOLS:
            without_kedro_wrappers(TensorFlowModelDataset.save)(self, data)
            return
        import keras  # noqa: PLC0415

        path = Path(get_filepath_str(self._get_save_path(), self._protocol))
        path.parent.mkdir(parents=True, exist_ok=True)
        keras.saving.save_model(data, str(path), **self._save_args)

    def load(self) -> Any:
        """Load in safe mode; a file that needs arbitrary code is refused, not run."""
        import keras  # noqa: PLC0415

        for module in self._imports:
            importlib.import_module(module)
        if self._protocol not in LOCAL_PROTOCOLS:
            return without_kedro_wrappers(TensorFlowModelDataset.load)(self)
        path = get_filepath_str(self._get_load_path(), self._protocol)
        load_args = {key: value for key, value in self._load_args.items() if key != "tf_device"}
        try:
            return keras.saving.load_model(path, **load_args)
        except ValueError as error:
            if "safe_mode" not in str(error):
                raise
            raise UnsafeArtifactError(
                f"Refused: unsafe to load '{path}': it holds code Keras would have to run "
                f"(a Lambda layer or another arbitrary-code object): {error} Set "
                "load_args: {safe_mode: false} on the catalog entry only if you trust its source."
            ) from None


class KerasModelDataset(AtomicSaveMixin, _KerasFile):
    """A Keras model in a `.keras` file: atomic saves, safe-mode loads."""
