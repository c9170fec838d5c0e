"""TensorFlow's native log, kept out of the run's output.

TensorFlow 2.21 writes its C++ log straight to file descriptor 2 through absl, before
any Python logging and regardless of TF_CPP_MIN_LOG_LEVEL: on every machine without a
GPU a run prints "failed call to cuInit", oneDNN notices and grappler warnings. Before a
run imports TensorFlow, descriptor 2 is replaced by a pipe whose reader forwards every
line except those known messages; Python's own stderr (warnings, errors, tracebacks)
passes unchanged. `DNN_PIPELINES_NATIVE_LOG=1` leaves stderr alone.
"""

from __future__ import annotations

import atexit
import os
import re
import threading

NOISE = re.compile(
    r"All log messages before absl::InitializeLog|oneDNN custom operations are on"
    r"|cudart_stub\.cc|failed call to cuInit|cuda_executor\.cc|cuda_platform\.cc"
    r"|use_unbounded_threadpool|cpu_feature_guard\.cc|computation_placer\.cc"
    r"|TF-TRT Warning|Unable to register cu(DNN|FFT|BLAS) factory"
)
_STATE: dict[str, object] = {}


def is_noise(line: str) -> bool:
    """A line of TensorFlow's native log that nobody can act on."""
    return NOISE.search(line) is not None


def filter_native_stderr() -> None:
    """Forward descriptor 2 through a filter, once per process (see the module doc)."""
    if _STATE or os.environ.get("DNN_PIPELINES_NATIVE_LOG"):
        return
    read_end, write_end = os.pipe()
    original = os.dup(2)
    os.dup2(write_end, 2)
    os.close(write_end)

    def forward() -> None:
        with os.fdopen(read_end, "rb") as pipe, os.fdopen(original, "wb", buffering=0) as out:
            for line in pipe:
                if not is_noise(line.decode(errors="replace")):
                    out.write(line)

    thread = threading.Thread(target=forward, name="native-stderr-filter", daemon=True)
    thread.start()
    _STATE.update(original=os.dup(original), thread=thread)
    atexit.register(_restore)


def _restore() -> None:
    """At exit: give descriptor 2 back and let the filter forward what is still buffered."""
    os.dup2(_STATE["original"], 2)  # closes the pipe's last write end: the reader sees EOF
    _STATE["thread"].join(timeout=5)
