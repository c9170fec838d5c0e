"""The lesson's code, copied as it is (only wrapped in a function): the reference for exactness.

Deliberately independent of the package: plain numpy, the notebook's global seeding,
its lambdas, loops and array layout.
"""

import numpy as np


def lesson_vanishing_gradient(seed, n_dim, n_lay):
    np.random.seed(seed)

    # Pattern.
    x = np.random.randn(n_dim)
    y = np.random.randn(n_dim)

    # Activation function and its derivative.
    g = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    gp = lambda x: g(x) * (1 - g(x))  # noqa: E731

    # Weights.
    w = np.random.randn(n_lay, n_dim, n_dim)

    o = np.zeros((n_dim, n_lay + 1))
    a = np.zeros((n_dim, n_lay + 1))

    o[:, 0] = x
    for l in range(1, n_lay + 1):  # noqa: E741
        a[:, l] = w[l - 1, :, :] @ o[:, l - 1]
        o[:, l] = g(a[:, l])

    d = np.zeros((n_dim, n_lay + 1))

    d[:, -1] = (o[:, -1] - y) * gp(a[:, -1])
    for l in range(n_lay, 0, -1):  # noqa: E741
        d[:, l - 1] = (w[l - 1, :, :] @ d[:, l]) * gp(a[:, l])

    grad = np.zeros_like(w)
    for l in range(n_lay):  # noqa: E741
        grad[l, :, :] = d[:, l, None] * o[:, None, l]

    norms = np.zeros(n_lay)
    for l in range(n_lay):  # noqa: E741
        norms[l] = np.linalg.norm(grad[l])

    return {"x": x, "y": y, "w": w, "o": o, "a": a, "d": d, "grad": grad, "norms": norms}
