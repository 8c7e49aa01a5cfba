"""The lean inference path: the fitted model as plain arrays, scored with numpy alone.

A one-shot `expertise answer` cannot afford to import scikit-learn (about 1 s) or unpickle a large
vocabulary, so training exports every linear piece to `lean.json` and `lean.*.npy`. Scoring here
reproduces the scikit-learn pipeline's numbers (a test checks they agree to 1e-9); batch scoring
uses the same code on chunks, with scipy's sparse product when it is already loaded.
No pickle is involved, so loading a lean model cannot run code.
"""

from __future__ import annotations

import json
import math
import operator
from collections import Counter
from dataclasses import dataclass, field
from itertools import chain, repeat
from pathlib import Path
from typing import Any

import numpy as np

from expertise.scoring.ordinal import cumulative_to_proba
from expertise.scoring.history import HISTORY_FEATURES, terseness
from expertise.scoring.text import DENSE_FEATURES, Evidence, text_features, tokenize

LEAN_JSON = "lean.json"
#: Big arrays are stored as plain .npy files and memory-mapped, so a one-shot answer reads only
#: the rows of the words it sees; the large weight matrix is float32 (half the size, scores
#: agree with float64 to about 1e-6).
MMAP_ARRAYS = ("W",)
FLOAT32_ARRAYS = ("W",)
#: 1 + log(count): the sublinear term frequency, tabulated for small counts.
_N_SUBLINEAR = 64
_SUBLINEAR = [0.0] + [1.0 + math.log(c) for c in range(1, _N_SUBLINEAR)]
#: Batches at least this large are featurised column-wise (`expertise.scoring.columnar`).
COLUMNAR_MIN_BATCH = 64
S2_EXTRA = ("wording_1", "wording_2", "wording_terse")


@dataclass
class TextScores:
    """Everything the wording tells, for a batch of texts."""

    decision: np.ndarray  # (n, 2) stage-1 cumulative scores
    proba: np.ndarray  # (n, 3) stage-1 level probabilities (wording only)
    topic_proba: np.ndarray  # (n, T) fused topic probabilities
    retrieval: np.ndarray  # (n, T) lexical cosine to each topic
    dense: np.ndarray  # (n, D) raw hand-made features
    n_tokens: np.ndarray  # (n,)
    evidence: Any = field(default_factory=list)  # list[Evidence] or columnar.BatchEvidence
    rows: list[dict[int, float]] = field(default_factory=list)  # tf-idf rows, for reasons
    X: Any = None  # the tf-idf matrix (scipy CSR), when scored as one


@dataclass
class LeanModel:
    """Arrays and vocabulary of a fitted model; see `expertise.modeling.fit.export_lean`."""

    levels: list[str]
    topics: list[str]
    topic_domains: list[str]
    vocabulary: list[str]
    lexicon: frozenset[str]
    arrays: dict[str, np.ndarray]
    meta: dict[str, Any]
    index: dict[str, int] = field(init=False, repr=False)
    _csr: Any = field(init=False, repr=False, default=None)

    def __post_init__(self) -> None:
        self.index = {term: i for i, term in enumerate(self.vocabulary)}
        # Bigrams looked up by their two words: no string is built for a pair not in it.
        self._bigrams: dict[str, dict[str, int]] = {}
        for term, i in self.index.items():
            if " " in term:
                first, second = term.split(" ", 1)
                self._bigrams.setdefault(first, {})[second] = i
        self._idf: list[float] | None = None
        self._w_dir: np.ndarray | None = None
        self._w_dir_list: list[float] | None = None
        self._plain: frozenset[str] | None = None
        self._quotable: list[list[bool]] | None = None
        self._s2_dir: np.ndarray | None = None
        self._dense_dir: np.ndarray | None = None
        self._featurizer: Any = None
        #: Batches at least this large are featurised column-wise (tests set it out of reach
        #: to compare with the per-text path).
        self.columnar_min_batch = COLUMNAR_MIN_BATCH

    @property
    def w_direction(self) -> np.ndarray:
        """Each n-gram's mean stage-1 coefficient (towards expert), as reasons quote it."""
        if self._w_dir is None:
            self._w_dir = self.arrays["W"][:, :2].mean(axis=1)
        return self._w_dir

    @property
    def plain_terms(self) -> frozenset[str]:
        """The vocabulary's n-grams that reasons may quote as wording (`explain.plain_term`)."""
        if self._plain is None:
            from expertise.scoring.reasons import plain_term

            self._plain = frozenset(g for g in self.vocabulary if plain_term(g, self.lexicon))
        return self._plain

    def quotable(self, level_index: int) -> list[bool]:
        """Per vocabulary column, whether reasons for this level can use the n-gram.

        Reasons sum the technical terms, and quote plain wording whose contribution (tf-idf,
        always positive, times `w_direction`) points towards the level: up for expert, down
        for novice, either way for intermediate (`explain.reasons_for`).
        """
        if self._quotable is None:
            plain, lexicon = self.plain_terms, self.lexicon
            w_dir = self.w_direction_list
            masks: list[list[bool]] = [[], [], []]
            for g, w in zip(self.vocabulary, w_dir, strict=True):
                tech, words = g in lexicon, g in plain
                masks[0].append(tech or (words and w < 0))
                masks[1].append(tech or words)
                masks[2].append(tech or (words and w > 0))
            self._quotable = masks
        return self._quotable[level_index]

    @property
    def s2_direction(self) -> np.ndarray:
        """The stage-2 coefficients' mean over the cumulative models (for reasons)."""
        if self._s2_dir is None:
            self._s2_dir = self.arrays["s2_coef"].mean(axis=0)
        return self._s2_dir

    @property
    def dense_direction(self) -> np.ndarray:
        """The wording features' mean stage-1 coefficient (for reasons)."""
        if self._dense_dir is None:
            self._dense_dir = self.arrays["W_dense"].mean(axis=1)
        return self._dense_dir

    @property
    def w_direction_list(self) -> list[float]:
        """`w_direction` as Python floats (fast to index one n-gram at a time)."""
        if self._w_dir_list is None:
            self._w_dir_list = [float(v) for v in self.w_direction]
        return self._w_dir_list

    # ---- persistence -------------------------------------------------------------------
    def save(self, folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        doc = {
            "levels": self.levels, "topics": self.topics, "topic_domains": self.topic_domains,
            "vocabulary": self.vocabulary, "lexicon": sorted(self.lexicon), "meta": self.meta,
        }
        doc["arrays"] = sorted(self.arrays)
        json_path = folder / LEAN_JSON
        json_path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
        paths = [json_path]
        for name, value in self.arrays.items():
            path = folder / f"lean.{name}.npy"
            array = np.asarray(value, dtype=np.float32 if name in FLOAT32_ARRAYS else None)
            np.save(path, np.ascontiguousarray(array), allow_pickle=False)
            paths.append(path)
        return paths

    @classmethod
    def load(cls, folder: Path) -> LeanModel:
        doc = json.loads((folder / LEAN_JSON).read_text(encoding="utf-8"))
        arrays = {
            name: np.load(folder / f"lean.{name}.npy", allow_pickle=False,
                          mmap_mode="r" if name in MMAP_ARRAYS else None)
            for name in doc["arrays"]
        }
        return cls(
            levels=doc["levels"], topics=doc["topics"], topic_domains=doc["topic_domains"],
            vocabulary=doc["vocabulary"], lexicon=frozenset(doc["lexicon"]), arrays=arrays,
            meta=doc["meta"],
        )

    # ---- scoring -----------------------------------------------------------------------
    def tfidf_row(self, text: str) -> dict[int, float]:
        """The l2-normalised sublinear tf-idf row of one text, as {column: value}."""
        return self._tfidf_tokens(tokenize(text))

    def _tfidf_tokens(self, toks: list[str]) -> dict[int, float]:
        # The columns of analyze(text), unigrams then bigrams, counted in first-seen order:
        # the order fixes the floating-point sums, so it must stay.
        if self._idf is None:
            self._idf = [float(v) for v in self.arrays["idf"]]
        idf = self._idf
        ids = [i for i in map(self.index.get, toks) if i is not None]
        ids += [i for after, b in zip(map(self._bigrams.get, toks), toks[1:], strict=False)
                if after is not None and (i := after.get(b)) is not None]
        counts = Counter(ids)
        keys = list(counts)
        if not keys:
            return {}
        n = list(counts.values())
        tf = (map(_SUBLINEAR.__getitem__, n) if max(n) < _N_SUBLINEAR
              else [1.0 + math.log(c) for c in n])
        values = list(map(operator.mul, tf, map(idf.__getitem__, keys)))
        norm = math.sqrt(sum(map(operator.mul, values, values)))
        return (dict(zip(keys, map(operator.truediv, values, repeat(norm)), strict=True))
                if norm else {})

    def score_texts(self, texts: list[str], *, keep_rows: bool = False) -> TextScores:
        """Scores of a batch of texts; `keep_rows` keeps each text's tf-idf row for reasons
        (as `rows`, or as the matrix `X` for batches featurised column-wise)."""
        if len(texts) >= self.columnar_min_batch:  # batches: pyarrow and numpy, same features
            feats = self._columnar().transform(texts)
            return self.score_features(feats.X, feats.dense, feats.evidence)
        rows: list[dict[int, float]] = []
        values: list[list[float]] = []
        evidence: list[Evidence] = []
        for text in texts:
            toks, vals, ev = text_features(text, self.lexicon)
            rows.append(self._tfidf_tokens(toks))
            values.append(vals)
            evidence.append(ev)
        dense = np.array(values, dtype=np.float64).reshape(len(texts), len(DENSE_FEATURES))
        if len(rows) > 8:  # small batches: scipy's sparse products
            return self.score_features(_as_csr(rows, len(self.vocabulary)), dense, evidence,
                                       rows=rows if keep_rows else [])
        # one-shot and session: plain numpy, no scipy import
        linear = _dense_dot(rows, self.arrays["W"]) + self.arrays["b"]
        return self._scores(linear, self._retrieval(rows), dense, evidence,
                            rows if keep_rows else [])

    def _columnar(self) -> Any:
        if self._featurizer is None:
            from expertise.scoring.columnar import ColumnarFeaturizer

            self._featurizer = ColumnarFeaturizer(self)
        return self._featurizer

    def row_entries(self, scores: TextScores, i: int) -> dict[int, float]:
        """Text i's tf-idf row as {column: value}, in first-seen order."""
        if scores.rows:
            return scores.rows[i]
        if scores.X is None:
            return {}
        lo, hi = scores.X.indptr[i], scores.X.indptr[i + 1]
        return dict(zip(scores.X.indices[lo:hi].tolist(), scores.X.data[lo:hi].tolist(),
                        strict=True))

    def score_features(self, X: Any, dense: np.ndarray, evidence: Any, *,
                       rows: list[dict[int, float]] | None = None) -> TextScores:
        """Scores from a tf-idf matrix (scipy CSR) and the dense wording features."""
        linear = np.asarray(X @ self.arrays["W"]) + self.arrays["b"]
        retrieval = np.asarray((X @ self._retrieval_matrix()).todense())
        return self._scores(linear, retrieval, dense, evidence, rows or [], X=X)

    def _scores(self, linear: np.ndarray, retrieval: np.ndarray, dense: np.ndarray,
                evidence: Any, rows: list[dict[int, float]], X: Any = None) -> TextScores:
        a = self.arrays
        scaled = (dense - a["dense_mean"]) / a["dense_scale"]
        decision = linear[:, :2] + scaled @ a["W_dense"]
        # Topics without training tickets compete on retrieval alone: their supervised score is
        # set to that of the least likely topic the supervised model knows.
        sup = a["sup_index"].astype(np.int64)
        topic_logits = np.empty_like(retrieval)
        sup_logits = linear[:, 2:]
        topic_logits[:] = sup_logits.min(axis=1, keepdims=True) if sup.size else 0.0
        if sup.size:
            topic_logits[:, sup] = sup_logits
        topic_proba = fuse_topics(retrieval, topic_logits, a["fusion"])
        n_tokens = np.expm1(dense[:, 8]).round().astype(int)
        return TextScores(
            decision=decision, proba=cumulative_to_proba(decision), topic_proba=topic_proba,
            retrieval=retrieval, dense=dense, n_tokens=n_tokens, evidence=evidence, rows=rows,
            X=X,
        )

    def _retrieval_matrix(self) -> Any:
        if self._csr is None:
            from scipy import sparse

            a = self.arrays
            self._csr = sparse.csr_matrix((a["R_data"], a["R_indices"], a["R_indptr"]),
                                          shape=(len(self.vocabulary), len(self.topics)))
        return self._csr

    def _retrieval(self, rows: list[dict[int, float]]) -> np.ndarray:
        """Cosine of each tf-idf row with every topic document (a sparse vocabulary x topic
        matrix, so a knowledge base of thousands of topics stays small and fast)."""
        a = self.arrays
        data, indices, indptr = a["R_data"], a["R_indices"], a["R_indptr"]
        n_topics = len(self.topics)
        out = np.zeros((len(rows), n_topics))
        for k, row in enumerate(rows):
            if not row:
                continue
            # Every posting of every term in one gather, then one bincount. Products are taken
            # in the matrix's dtype and summed per topic in term order, as a term-by-term loop
            # would: the result is bit-for-bit the same, without a Python loop over terms.
            cols = np.fromiter(row.keys(), dtype=np.int64, count=len(row))
            vals = np.fromiter(row.values(), dtype=np.float64, count=len(row))
            lo = indptr[cols]
            lengths = indptr[cols + 1] - lo
            total = int(lengths.sum())
            if not total:
                continue
            pos = np.repeat(lo - (np.cumsum(lengths) - lengths), lengths) + np.arange(total)
            weights = np.repeat(vals.astype(data.dtype), lengths) * data[pos]
            out[k] = np.bincount(indices[pos], weights=weights, minlength=n_topics)
        return out

    def stage2_inputs(self, decision: np.ndarray, history: np.ndarray, n_tokens: np.ndarray
                      ) -> np.ndarray:
        terse = np.array([terseness(int(n)) for n in n_tokens])
        extra = np.column_stack([decision, decision.mean(axis=1) * terse])
        return np.hstack([extra, history])

    def level_proba(self, decision: np.ndarray, history: np.ndarray, n_tokens: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
        """Final level probabilities (n, 3) and the stage-2 scaled inputs (for reasons)."""
        a = self.arrays
        z = (self.stage2_inputs(decision, history, n_tokens) - a["s2_mean"]) / a["s2_scale"]
        return cumulative_to_proba(z @ a["s2_coef"].T + a["s2_intercept"]), z

    @property
    def stage2_names(self) -> list[str]:
        return list(S2_EXTRA) + [name for name, _ in HISTORY_FEATURES]


def fuse_topics(retrieval: np.ndarray, topic_logits: np.ndarray, fusion: np.ndarray) -> np.ndarray:
    """softmax(a * cosine + b * log P_lr(topic)): lexical and supervised evidence, calibrated."""
    logits = topic_logits - topic_logits.max(axis=1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    z = fusion[0] * retrieval + fusion[1] * log_p
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _as_csr(rows: list[dict[int, float]], n_cols: int) -> Any:
    from scipy import sparse

    n = len(rows)
    indptr = np.zeros(n + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(r) for r in rows])
    nnz = int(indptr[-1])
    indices = np.fromiter(chain.from_iterable(rows), dtype=np.int64, count=nnz)
    data = np.fromiter(chain.from_iterable(r.values() for r in rows), dtype=np.float64,
                       count=nnz)
    return sparse.csr_matrix((data, indices, indptr), shape=(n, n_cols))


def _dense_dot(rows: list[dict[int, float]], W: np.ndarray) -> np.ndarray:
    """rows (as {column: value}) @ W, gathering only the rows of W that are used."""
    out = np.zeros((len(rows), W.shape[1]))
    for k, row in enumerate(rows):
        if row:
            idx = np.fromiter(row.keys(), dtype=np.int64, count=len(row))
            val = np.fromiter(row.values(), dtype=np.float64, count=len(row))
            out[k] = val @ W[idx]
    return out
