"""The lesson's "Transfer Learning" section: a pretrained base, a new head, then fine tuning.

Faithful to the lesson with `conf/base` (seed 123): scikit-learn's digits, each 8x8 image
enlarged to 80x80 by repeating every pixel 10 times along each axis, copied into 3
channels and scaled as `img / 8 - 1`; `train_test_split(test_size=0.6, random_state=seed)`;
`keras.applications.Xception(weights="imagenet", include_top=False)` frozen and called with
`training=False`; GlobalAveragePooling2D -> Dropout(0.2) -> Dense(10); Adam() for 5 epochs,
then everything trainable with Adam(1e-5) for 2 epochs.

Where this differs from the lesson, and why:
- The lesson puts a softmax on the output AND uses `from_logits=True`: a double softmax, so
  the loss sees squashed scores and the gradients are tiny. The head outputs logits here
  (`head.output: logits`); `lesson_double_softmax` reproduces the bug on request.
- The enlargement is done by layers inside the model (Rescaling, UpSampling2D "nearest",
  Concatenate), so the catalog stores 8x8 digits (0.5 MB) instead of 80x80x3 float arrays
  (276 MB); the numbers the base sees are identical.
- Fast frozen phase: with the base frozen and in inference mode its output never changes
  during phase 1, so its pooled features are computed once and the head (the very same
  Dropout and Dense layers) is fitted on them: same batches, same shuffles, same dropout
  masks, same weights, without 5 epochs of forward passes through Xception.
- BatchNormalization during fine tuning: the lesson calls the base with `training=False` so
  that its BatchNorm layers stay in inference mode after unfreezing. Keras 3 no longer does
  that (fit's `training=True` overrides the nested call's, keras-team/keras#20285), so those
  layers are kept frozen instead (`training.fine_tune.freeze_batch_norm`), which is how
  Keras 3 keeps them in inference mode.
- Validation runs in a callback at the end of each epoch, as `validation_data` does; it keeps
  the last outputs, so the confusion matrix needs no extra pass over the validation set.

`keras` is imported inside the functions that need it (`# noqa: PLC0415`): the pipeline
registry imports every pipeline module on every run, and runs without a TensorFlow node must
not pay for importing TensorFlow.

The work lives in keras-io's order: `data`, `weights`, `model`, `training`, `report`;
this module names the functions the pipeline wires.
"""

from dnn_pipelines.pipelines.transfer.data import load_digit_images, split_tasks
from dnn_pipelines.pipelines.transfer.model import (
    build_random_base,
    build_random_base_on_target,
    build_transfer_model,
    prepare_base_model,
)
from dnn_pipelines.pipelines.transfer.report import (
    plot_confusion_matrices,
    plot_learning_curves,
    summarize_from_scratch,
    summarize_transfer,
)
from dnn_pipelines.pipelines.transfer.training import (
    fine_tune_phase,
    train_end_to_end,
    train_frozen_phase,
)
from dnn_pipelines.pipelines.transfer.weights import resolve_base_weights

__all__ = [
    "build_random_base",
    "build_random_base_on_target",
    "build_transfer_model",
    "fine_tune_phase",
    "load_digit_images",
    "plot_confusion_matrices",
    "plot_learning_curves",
    "prepare_base_model",
    "resolve_base_weights",
    "split_tasks",
    "summarize_from_scratch",
    "summarize_transfer",
    "train_end_to_end",
    "train_frozen_phase",
]
