"""The expertise model: an ordinal classifier over wording, stacked with history.

Stage 1 reads the wording (n-grams and hand-made signals) with cumulative binary logistic models
(P(level > novice), P(level > intermediate)), which respects that the levels are ordered.
Stage 2 is a small ordinal model over stage 1's two scores and the history features, fitted on
out-of-fold stage-1 scores so that it learns how far to trust wording versus history; being
low-dimensional and fitted on held-out scores, its probabilities are well calibrated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils.multiclass import unique_labels
from sklearn.utils.validation import check_is_fitted, validate_data

from expertise.scoring.ordinal import cumulative_to_proba


class OrdinalClassifier(ClassifierMixin, BaseEstimator):
    """Cumulative binary logistic regressions for ordered classes (Frank and Hall, 2001).

    Parameters
    ----------
    C : float
        Inverse regularisation strength of each binary model.
    classes : sequence or None
        The classes in their order; None sorts the labels seen in `fit`.
    class_weight : dict, "balanced" or None
        Passed to each binary model.
    max_iter : int
        Iterations of each binary model's solver.

    Examples
    --------
    >>> import numpy as np
    >>> X = np.array([[0.0], [1.0], [2.0], [3.0], [4.0], [5.0]])
    >>> clf = OrdinalClassifier(classes=["low", "mid", "high"]).fit(
    ...     X, ["low", "low", "mid", "mid", "high", "high"])
    >>> clf.predict([[0.0], [5.0]]).tolist()
    ['low', 'high']
    """

    def __init__(
        self,
        C: float = 1.0,
        classes: Any = None,
        class_weight: Any = None,
        max_iter: int = 2000,
    ) -> None:
        self.C = C
        self.classes = classes
        self.class_weight = class_weight
        self.max_iter = max_iter

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> OrdinalClassifier:
        X, y = validate_data(self, X, y, accept_sparse="csr")
        seen = unique_labels(y)
        if self.classes is not None:
            self.classes_ = np.asarray(self.classes)
            unknown = set(seen.tolist()) - set(self.classes_.tolist())
            if unknown:
                raise ValueError(f"labels {sorted(map(str, unknown))} are not in classes")
        else:
            self.classes_ = seen
        if len(seen) < 2:
            raise ValueError("OrdinalClassifier needs samples of at least 2 classes; got 1 class")
        rank = {c: i for i, c in enumerate(self.classes_.tolist())}
        y_rank = np.array([rank[v] for v in y.tolist()])
        n_thresholds = len(self.classes_) - 1
        self.coef_ = np.zeros((n_thresholds, X.shape[1]))
        self.intercept_ = np.zeros(n_thresholds)
        self.n_iter_ = np.zeros(n_thresholds, dtype=np.int32)
        for k in range(n_thresholds):
            target = (y_rank > k).astype(int)
            if target.min() == target.max():  # no sample on one side: a constant model
                self.intercept_[k] = 35.0 if target[0] else -35.0
                continue
            model = LogisticRegression(C=self.C, class_weight=self.class_weight,
                                       max_iter=self.max_iter)
            model.fit(X, target, sample_weight=sample_weight)
            self.coef_[k] = model.coef_[0]
            self.intercept_[k] = model.intercept_[0]
            self.n_iter_[k] = int(np.max(model.n_iter_))
        return self

    def cumulative_decision(self, X: Any) -> np.ndarray:
        """Scores of P(y > k) for each threshold k, shape (n, K-1)."""
        check_is_fitted(self, "coef_")
        X = validate_data(self, X, accept_sparse="csr", reset=False)
        return np.asarray(X @ self.coef_.T) + self.intercept_

    def decision_function(self, X: Any) -> np.ndarray:
        """Log-probabilities, shape (n, K); flat for 2 classes (scikit-learn's convention)."""
        logp = np.log(self.predict_proba(X))
        return logp[:, 1] - logp[:, 0] if logp.shape[1] == 2 else logp

    def predict_proba(self, X: Any) -> np.ndarray:
        return cumulative_to_proba(self.cumulative_decision(X))

    def predict(self, X: Any) -> np.ndarray:
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


@dataclass
class ExpertiseModel:
    """The fitted pieces: text features, stage 1 (wording) and stage 2 (wording + history)."""

    text_features: Any  # FeatureUnion from features.build_text_features
    stage1: OrdinalClassifier
    stage2_scale: Any  # StandardScaler
    stage2: OrdinalClassifier
    lexicon: list[str]
