"""The 'Introduction to Deep Neural Networks' lesson as reproducible Kedro pipelines."""

import os

# TensorFlow's C++ start-up banner drowns Kedro's log; keep warnings and errors only.
# setdefault: a user who wants the banner can still export TF_CPP_MIN_LOG_LEVEL=0.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
