"""Numpy-only helpers shared by the scikit-learn model and the lean inference path."""

from __future__ import annotations

import numpy as np


def cumulative_to_proba(decision: np.ndarray) -> np.ndarray:
    """Turn cumulative decision values (n, K-1) for P(y > k) into class probabilities (n, K)."""
    q = 1.0 / (1.0 + np.exp(-np.clip(decision, -35, 35)))
    # P(y > k) cannot grow with k, but independently fitted thresholds can cross (a terse
    # ticket: "surely not novice" and "surely expert" disagree). Sorting the cumulative
    # probabilities (monotone rearrangement, Chernozhukov, Fernandez-Val and Galichon 2010)
    # restores the order and, unlike clipping to the running minimum, never moves the
    # estimate further from a monotone truth; the middle level keeps the disputed mass.
    q = -np.sort(-q, axis=1)
    n, k = q.shape
    proba = np.empty((n, k + 1))
    proba[:, 0] = 1.0 - q[:, 0]
    proba[:, 1:k] = q[:, :-1] - q[:, 1:]
    proba[:, k] = q[:, -1]
    proba = np.clip(proba, 1e-6, None)
    return proba / proba.sum(axis=1, keepdims=True)
