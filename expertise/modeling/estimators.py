"""The scikit-learn estimators of the expertise model (training and research only).

`OrdinalClassifier` reads ordered levels with cumulative binary logistic models (Frank and
Hall, 2001). `NgramFeatures` and `WordingFeatures` are transformers over the scoring
pipeline's own featurizer (`expertise.scoring.features`): fitting learns a vocabulary, idf
weights or a lexicon; transforming is the very code that scores tickets, so a model is
trained on exactly the numbers it is served.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.utils.multiclass import unique_labels
from sklearn.utils.validation import check_is_fitted, validate_data

from expertise.privacy import is_name_word
from expertise.scoring.features import DENSE_FEATURES, featurize
from expertise.scoring.model import cumulative_to_proba
from expertise.scoring.text import CURATED_TERMS
from expertise.scoring.tokens import WordTable, analyze, token_strings


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
    """The fitted pieces: text features, stage 1 (wording), the evidence model's parameters."""

    text_features: Any  # FeatureUnion of NgramFeatures and scaled WordingFeatures
    stage1: OrdinalClassifier
    history: Any  # scoring.history.HistoryParams
    lexicon: list[str]


_STOP = frozenset(
    "the a an and or but is are was were be to of in on at for with this that your you it if "
    "then than not no as by from can will may should into out up down it's its via per each".split()
)
#: Everyday words that expert articles use more than novice ones but that customers use in
#: plain speech ("tied to a string", "what state is it in", "need info", "it will fail"):
#: never learned as technical terms on their own.
EVERYDAY_WORDS = frozenset("""
above amber build client clients default disable disabled enable enabled error errors event
events fail failed failure force forwards holds id info loss max min path plus preferred
profile rate reject rejected report results root session sessions state status string
support swap version vs query queries radio registered e.g i.e note step steps check
""".split())
#: What a learned term may look like: a word, a version-like or dotted token; no Markdown.
_TERM_SHAPE = re.compile(r"[a-z0-9][a-z0-9._/+-]*[a-z0-9]")


def learn_lexicon(
    expert_texts: Iterable[str], novice_texts: Iterable[str],
    intermediate_texts: Iterable[str] = (), *, min_docs: int = 4, ratio: float = 4.0,
) -> list[str]:
    """Terms frequent in expert articles and rare in novice ones (document frequency).

    Words that intermediate articles use freely count half against a term, so everyday words
    that experts also use ("settings", "mode") stay out of the lexicon, as do
    :data:`EVERYDAY_WORDS` and tokens that are no term's shape (Markdown left in a token).
    """
    expert_df: Counter[str] = Counter()
    novice_df: Counter[str] = Counter()
    inter_df: Counter[str] = Counter()
    for text in expert_texts:
        expert_df.update(set(token_strings(text)[1]))
    for text in novice_texts:
        novice_df.update(set(token_strings(text)[1]))
    for text in intermediate_texts:
        inter_df.update(set(token_strings(text)[1]))
    learned = [
        term for term, df in expert_df.items()
        if df >= min_docs and (df + 1) / (novice_df[term] + inter_df[term] / 2 + 1) >= ratio
        and term not in _STOP and term not in EVERYDAY_WORDS and re.search(r"[a-z]", term)
        and _TERM_SHAPE.fullmatch(term)
    ]
    return sorted(learned)


class NgramFeatures(TransformerMixin, BaseEstimator):
    """Word unigrams and bigrams of the digit-shaped tokens, sublinear tf-idf, l2-normalised.

    `fit` learns the vocabulary (terms in at least `min_df` texts) and the idf weights;
    `transform` is the scoring pipeline's featurizer.

    A name must never become a feature. Texts are redacted before they get here
    (`expertise.scoring.text.scoring_text`); as a second line, `fit` leaves out every term
    with a word that looks like a person's name: a given or family name known to
    `expertise.privacy.is_name_word`, or a word written only capitalised, never in lower case,
    at least once inside a sentence, and in at most `name_max_df` texts (a customer's name in
    their own tickets). Technical terms and product names seen in lower case, or in more
    texts, stay.

    Parameters
    ----------
    min_df : int
        Least number of texts a term must occur in.
    name_max_df : int
        Most texts a capitalised-only word may occur in and still be taken for a name; 0 turns
        the capitalisation rule off (known names are always left out).
    """

    def __init__(self, min_df: int = 2, name_max_df: int = 5) -> None:
        self.min_df = min_df
        self.name_max_df = name_max_df

    def fit(self, X: Any, y: Any = None) -> NgramFeatures:
        from sklearn.feature_extraction.text import TfidfVectorizer

        texts = _as_texts(X)
        vectorizer = TfidfVectorizer(analyzer=analyze, sublinear_tf=True, min_df=self.min_df,
                                     dtype=np.float64).fit(texts)
        vocabulary = [""] * len(vectorizer.vocabulary_)
        for term, column in vectorizer.vocabulary_.items():
            vocabulary[column] = term
        names = _name_like_words(texts, self.name_max_df)
        keep = [i for i, term in enumerate(vocabulary)
                if not any(w in names or is_name_word(w) for w in term.split(" "))]
        self.vocabulary_ = [vocabulary[i] for i in keep]
        self.idf_ = np.asarray(vectorizer.idf_, dtype=np.float64)[keep]
        self.names_dropped_ = len(vocabulary) - len(keep)
        self.n_features_in_ = 1
        return self

    def transform(self, X: Any) -> Any:
        from scipy import sparse

        check_is_fitted(self, "idf_")
        texts = _as_texts(X)
        f = featurize(texts, WordTable(self.vocabulary_, ()), self.idf_)
        return sparse.csr_matrix((f.data, f.indices, f.indptr),
                                 shape=(len(texts), len(self.vocabulary_)))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "vocabulary_")
        return np.array(self.vocabulary_, dtype=object)


class WordingFeatures(TransformerMixin, BaseEstimator):
    """Hand-made wording signals (technical terms, specificity, self-assessment, ...):
    `expertise.scoring.features.DENSE_FEATURES`, as the scoring pipeline computes them.

    Parameters
    ----------
    lexicon : list of str or None
        Technical terms besides the curated ones; None means the curated list only.
    """

    def __init__(self, lexicon: list[str] | None = None) -> None:
        self.lexicon = lexicon

    def fit(self, X: Any, y: Any = None) -> WordingFeatures:
        self.lexicon_ = frozenset(self.lexicon) | CURATED_TERMS if self.lexicon else CURATED_TERMS
        self.n_features_in_ = 1
        return self

    def __getstate__(self) -> dict[str, Any]:
        # a frozenset pickles in hash order, which differs between processes: sorted, the
        # bundle's pickle is the same bytes for the same training
        state = dict(super().__getstate__())
        if isinstance(state.get("lexicon_"), frozenset):
            state["lexicon_"] = sorted(state["lexicon_"])
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        if "lexicon_" in state:
            state = {**state, "lexicon_": frozenset(state["lexicon_"])}
        super().__setstate__(state)

    def transform(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "lexicon_")
        words = WordTable((), self.lexicon_)
        return featurize(_as_texts(X), words, np.zeros(0)).dense

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        return np.array([name for name, _ in DENSE_FEATURES], dtype=object)


_WORD = re.compile(r"[A-Za-z][a-z'’]+")
_SENTENCE_START = re.compile(r"(?:^|[.!?:;]\s+|\n\s*)$")


def _name_like_words(texts: list[str], max_df: int) -> frozenset[str]:
    """Words (lower case) that the texts write only capitalised, at least once inside a
    sentence, in at most ``max_df`` texts: how a name shows, and a product name rarely does."""
    if max_df <= 0:
        return frozenset()
    lower: set[str] = set()
    inside: set[str] = set()
    df: Counter[str] = Counter()
    for text in texts:
        seen: set[str] = set()
        for m in _WORD.finditer(text):
            word = m.group()
            key = word.lower()
            if word[0].islower():
                lower.add(key)
                continue
            seen.add(key)
            if key not in inside and not _SENTENCE_START.search(text, max(0, m.start() - 3),
                                                                 m.start()):
                inside.add(key)
        df.update(seen)
    return frozenset(w for w in inside - lower if df[w] <= max_df
                     and w not in CURATED_TERMS and len(w) > 2)


def _as_texts(X: Any) -> list[str]:
    if isinstance(X, pd.DataFrame):
        X = X.iloc[:, 0]
    return ["" if v is None else str(v) for v in np.asarray(X, dtype=object).ravel()]


