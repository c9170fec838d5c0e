"""The lesson's photo: the first of scikit-learn's sample images, optionally downscaled.

scikit-learn's dataset module is imported inside the function: the pipeline registry imports
every pipeline module on every run, and runs that do not augment must not pay for it.
"""

from __future__ import annotations

import numpy as np

from dnn_pipelines.pipelines.augmentation.params import AugmentationParams


def load_image(params: AugmentationParams) -> dict[str, np.ndarray]:
    """The lesson's photo: `load_sample_images()` ships with scikit-learn, so nothing downloads."""
    from sklearn.datasets import load_sample_images  # noqa: PLC0415

    images = load_sample_images().images
    index = params.image.index
    if index >= len(images):
        raise ValueError(
            f"augmentation.image.index = {index}, but load_sample_images() holds "
            f"{len(images)} images: allowed 0..{len(images) - 1}"
        )
    step = params.image.downscale
    return {"image": np.ascontiguousarray(images[index][::step, ::step], dtype=np.uint8)}
