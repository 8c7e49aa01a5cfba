"""Wording and history features as scikit-learn transformers (used for training).

The computations live in `text.py` and `history.py` (plain Python) so that the lean inference
path in `lean.py` produces the same numbers without importing scikit-learn.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

from expertise.scoring.history import HISTORY_FEATURES, PriorTicket, history_features
from expertise.scoring.text import CURATED_TERMS, DENSE_FEATURES, analyze, tokenize, wording_features

_STOP = frozenset(
    "the a an and or but is are was were be to of in on at for with this that your you it if "
    "then than not no as by from can will may should into out up down it's its via per each".split()
)


def learn_lexicon(
    expert_texts: Iterable[str], novice_texts: Iterable[str],
    intermediate_texts: Iterable[str] = (), *, min_docs: int = 4, ratio: float = 4.0,
) -> list[str]:
    """Terms frequent in expert articles and rare in novice ones (document frequency).

    Words that intermediate articles use freely count half against a term, so everyday words
    that experts also use ("settings", "mode") stay out of the lexicon.
    """
    expert_df: Counter[str] = Counter()
    novice_df: Counter[str] = Counter()
    inter_df: Counter[str] = Counter()
    for text in expert_texts:
        expert_df.update(set(tokenize(text)))
    for text in novice_texts:
        novice_df.update(set(tokenize(text)))
    for text in intermediate_texts:
        inter_df.update(set(tokenize(text)))
    learned = [
        term for term, df in expert_df.items()
        if df >= min_docs and (df + 1) / (novice_df[term] + inter_df[term] / 2 + 1) >= ratio
        and term not in _STOP and len(term) > 1 and re.search(r"[a-z]", term)
    ]
    return sorted(learned)


class WordingFeatures(TransformerMixin, BaseEstimator):
    """Hand-made wording signals (technical terms, specificity, self-assessment, ...).

    Parameters
    ----------
    lexicon : list of str or None
        Technical terms; None means the curated list only.
    """

    def __init__(self, lexicon: list[str] | None = None) -> None:
        self.lexicon = lexicon

    def fit(self, X: Any, y: Any = None) -> WordingFeatures:
        self.lexicon_ = frozenset(self.lexicon) | CURATED_TERMS if self.lexicon else CURATED_TERMS
        self.n_features_in_ = 1
        return self

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "lexicon_")
        texts = _as_texts(X)
        return np.array([wording_features(t, self.lexicon_)[0] for t in texts], dtype=np.float64)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.array([name for name, _ in DENSE_FEATURES], dtype=object)


class HistoryFeatures(TransformerMixin, BaseEstimator):
    """History features for each row from the earlier rows of the same customer.

    Expects a DataFrame with `customer_id`, `created_at`, `domain`, `level_score`, `labelled`,
    `tech_density` and `n_tokens`. Rows without a customer id are anonymous (all zeros).
    """

    def fit(self, X: Any, y: Any = None) -> HistoryFeatures:
        self.n_features_in_ = len(X.columns) if hasattr(X, "columns") else 1
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "n_features_in_")
        return history_matrix(X)

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.array([name for name, _ in HISTORY_FEATURES], dtype=object)


def history_matrix(frame: pd.DataFrame) -> np.ndarray:
    """History features for every row, using only earlier rows of the same customer."""
    out = np.zeros((len(frame), len(HISTORY_FEATURES)), dtype=np.float64)
    order = np.argsort(frame["created_at"].to_numpy(dtype=str), kind="stable")
    seen: dict[str, list[PriorTicket]] = {}
    cust = frame["customer_id"].to_numpy(dtype=object)
    created = frame["created_at"].to_numpy(dtype=object)
    domain = frame["domain"].to_numpy(dtype=object)
    score = frame["level_score"].to_numpy(dtype=float)
    labelled = frame["labelled"].to_numpy(dtype=bool)
    density = frame["tech_density"].to_numpy(dtype=float)
    n_tok = frame["n_tokens"].to_numpy(dtype=int)
    for i in order:
        cid = cust[i]
        if not cid or (isinstance(cid, float) and np.isnan(cid)):
            continue
        prior = seen.setdefault(str(cid), [])
        out[i] = history_features(prior, now=str(created[i]), domain=domain[i] or None,
                                  n_tokens=int(n_tok[i]))
        prior.append(PriorTicket(str(created[i]), float(score[i]), bool(labelled[i]),
                                 domain[i] or None, float(density[i])))
    return out


def _as_texts(X: Any) -> list[str]:
    if isinstance(X, pd.DataFrame):
        X = X.iloc[:, 0]
    return ["" if v is None else str(v) for v in np.asarray(X, dtype=object).ravel()]


def build_text_features(lexicon: list[str] | None, *, min_df: int = 2) -> FeatureUnion:
    """Word uni- and bigram TF-IDF plus the scaled hand-made signals."""
    return FeatureUnion([
        ("ngrams", TfidfVectorizer(analyzer=analyze, sublinear_tf=True, min_df=min_df,
                                   dtype=np.float64)),
        ("wording", Pipeline([("signals", WordingFeatures(lexicon)), ("scale", StandardScaler())])),
    ])
