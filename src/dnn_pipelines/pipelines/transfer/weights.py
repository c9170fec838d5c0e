"""Pretrained weights: found in Keras' cache or a file, downloaded only when reachable."""

from __future__ import annotations

import logging
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dnn_pipelines.files import file_digest
from dnn_pipelines.pipelines.transfer.errors import MissingWeightsError
from dnn_pipelines.pipelines.transfer.params import IMAGENET, RANDOM, SOURCE_TASK, BaseModelParams

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PublishedWeights:
    """Where Keras gets a model's ImageNet weights (its own constants, in keras.applications)."""

    file_name: str
    origin: str
    md5: str


# keras.applications.xception: WEIGHTS_PATH_NO_TOP and the hash its Xception() checks.
IMAGENET_WEIGHTS = {
    "xception": PublishedWeights(
        file_name="xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
        origin="https://storage.googleapis.com/tensorflow/keras-applications/xception/"
        "xception_weights_tf_dim_ordering_tf_kernels_notop.h5",
        md5="b0042744bf5b25fce3cb969f33bebb97",
    )
}


def keras_cache_dir(cache_dir: str | None) -> Path:
    """The folder Keras caches downloads in: `cache_dir`, else $KERAS_HOME, else ~/.keras.

    Mirrors `keras.utils.get_file`, which falls back to /tmp/.keras when home is read-only.
    """
    if cache_dir:
        return Path(cache_dir).expanduser()
    if os.environ.get("KERAS_HOME"):
        return Path(os.environ["KERAS_HOME"]).expanduser()
    home = Path("~").expanduser()
    return (home if os.access(home, os.W_OK) else Path("/tmp")) / ".keras"


def origin_reachable(url: str, timeout_s: float) -> bool:
    """Whether the host of `url` accepts a TCP connection within `timeout_s` (no download).

    Name resolution ignores socket timeouts, so the probe runs in a daemon thread that is
    abandoned after `timeout_s`: an offline machine answers "no" in seconds, never hangs.
    """
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    answer: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((parts.hostname, port), timeout=timeout_s):
                answer.append(True)
        except OSError:
            answer.append(False)

    thread = threading.Thread(target=probe, name="weights-origin-probe", daemon=True)
    thread.start()
    thread.join(timeout_s)
    return bool(answer and answer[0])


def _remedies(expected: Path) -> str:
    return (
        "Remedies:\n"
        f"  1. copy the weights file to {expected} (on a machine with a network, Keras puts it "
        "in ~/.keras/models/ on first use);\n"
        "  2. point the parameter at a local file: transfer.base_model.weights: /path/to/file.h5 "
        "in conf/local/parameters_transfer.yml (or --params transfer.base_model.weights=...);\n"
        "  3. run the offline variant, which pretrains its own base on digits 0-4 and needs no "
        "download: kedro run --env offline --pipelines transfer"
    )


def resolve_base_weights(base_model: BaseModelParams) -> dict[str, Any]:
    """Find the base's initial weights, or fail in seconds, before any training, saying how.

    `imagenet` is looked for in Keras' cache first; only when the file is missing, downloads
    are allowed and the host answers within `download_timeout_s` does Keras download it.
    Returns where the weights come from: source, path and sha256 of the file.
    """
    if base_model.weights in (RANDOM, SOURCE_TASK):
        return {"source": base_model.weights, "path": None, "sha256": None}
    if base_model.weights != IMAGENET:
        path = Path(base_model.weights).expanduser()
        if not path.is_file():
            raise MissingWeightsError(
                f"Weights file not found: {path} (transfer.base_model.weights).\n{_remedies(path)}"
            )
        return {"source": "file", "path": str(path), "sha256": file_digest(path)}

    published = IMAGENET_WEIGHTS[base_model.architecture]
    models_dir = keras_cache_dir(base_model.cache_dir) / "models"
    expected = models_dir / published.file_name
    if not expected.is_file():
        if not base_model.allow_download:
            reason = "downloads are disabled (transfer.base_model.allow_download: false)"
        elif not origin_reachable(published.origin, base_model.download_timeout_s):
            reason = (
                f"{published.origin} cannot be reached (no answer within "
                f"{base_model.download_timeout_s:g} s: no network?)"
            )
        else:
            reason = ""
        if reason:
            raise MissingWeightsError(
                f"ImageNet weights for {base_model.architecture} are not available: {reason}.\n"
                f"Looked for: {expected}\n"
                f"Cache folder: {models_dir} (Keras' cache: base_model.cache_dir, else "
                "$KERAS_HOME, else ~/.keras; weights go under models/)\n"
                f"{_remedies(expected)}"
            )
        import keras  # noqa: PLC0415

        # get_file saves under /tmp/.keras when the cache folder does not exist yet; create it
        # so the first download lands where later runs look, and keep the path it returns.
        models_dir.mkdir(parents=True, exist_ok=True)
        logger.info("Downloading %s into %s", published.origin, models_dir)
        expected = Path(
            keras.utils.get_file(
                published.file_name,
                published.origin,
                cache_subdir="models",
                file_hash=published.md5,
                cache_dir=str(models_dir.parent),
            )
        )
    matches = file_digest(expected, "md5") == published.md5
    if not matches:
        logger.warning(
            "%s differs from the file Keras publishes (md5 %s); using it as it is",
            expected,
            published.md5,
        )
    return {
        "source": IMAGENET,
        "path": str(expected),
        "sha256": file_digest(expected),
        "matches_published_md5": matches,
    }
