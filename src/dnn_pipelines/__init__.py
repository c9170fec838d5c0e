"""The 'Introduction to Deep Neural Networks' lesson as reproducible Kedro pipelines."""

import os

# TensorFlow's C++ start-up banner drowns Kedro's log; keep warnings and errors only.
# setdefault: a user who wants the banner can still export TF_CPP_MIN_LOG_LEVEL=0.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from dnn_pipelines.tensorflow_settings import apply_in_worker  # after the env var

__version__ = "0.1.0"

# Kedro's ParallelRunner workers run no hooks. Every node function lives in this package,
# so a worker imports it before its first node: a worker of a TensorFlow run applies the
# run's tensorflow.yml here, before anything imports TensorFlow (a no-op elsewhere).
apply_in_worker()
