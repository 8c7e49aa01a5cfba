"""The fitted model as plain arrays, and its arithmetic over a batch's features.

Training (`expertise.modeling`) exports every linear piece to `lean.json` and `lean.*.npy`;
serving reads them with numpy alone (no scikit-learn import, no pickle, so loading a model
cannot run code). Products are written so that a row's result depends on that row alone, in a
fixed order of operations: sparse products gather the weight rows of a row's tf-idf entries
and sum them with `np.bincount` in entry order; small dense products are explicit sums over
their few inputs. So a text scores bit for bit the same alone or in any batch (a test checks
it); BLAS's matrix products would not guarantee that.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from expertise.scoring.features import Features
from expertise.scoring.history import HistoryParams
from expertise.scoring.text import plain_term
from expertise.scoring.tokens import WordTable

LEAN_JSON = "lean.json"
#: Big arrays are memory-mapped, so a one-shot answer reads only the rows of the words it
#: sees; the large weight matrix is float32 (half the size).
MMAP_ARRAYS = ("W",)
FLOAT32_ARRAYS = ("W",)
#: Batches of at least this many rows use scipy's sparse products where they agree with the
#: numpy definitions (`_scipy_agrees`); smaller ones, a one-shot answer among them, need not
#: import scipy.
_SCIPY_MIN_ROWS = 64


def cumulative_to_proba(decision: np.ndarray) -> np.ndarray:
    """Cumulative decision values (n, K-1) for P(y > k) as class probabilities (n, K).

    Independently fitted thresholds can cross (a terse ticket: "surely not novice" and
    "surely expert" disagree). Sorting the cumulative probabilities (monotone rearrangement,
    Chernozhukov, Fernandez-Val and Galichon 2010) restores the order and, unlike clipping,
    gives the middle level the disputed mass.
    """
    q = 1.0 / (1.0 + np.exp(-np.minimum(np.maximum(decision, -35.0), 35.0)))
    q = -np.sort(-q, axis=1)
    n, k = q.shape
    proba = np.empty((n, k + 1))
    proba[:, 0] = 1.0 - q[:, 0]
    proba[:, 1:k] = q[:, :-1] - q[:, 1:]
    proba[:, k] = q[:, -1]
    proba = np.maximum(proba, 1e-6)
    return proba / proba.sum(axis=1, keepdims=True)


def dense_dot(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """x (n, d) @ w (d, k) with `np.einsum`, whose sum for an output element runs over that
    row's d products alone: the same bits for a row in any batch (a BLAS product may block
    rows differently by batch size)."""
    return np.einsum("ij,jk->ik", x, w)


def sparse_dot(f: Features, weights: Any) -> np.ndarray:
    """The tf-idf rows @ weights (vocabulary, k) as float64.

    Defined as each row's products (value times weight, in float64) added one by one in
    entry order, from 0: a row's result depends on that row alone. `_sequential` computes
    it with numpy for any batch; for large batches scipy's CSR product, which performs the
    same operations in the same order, is used once a probe has found it bit-for-bit equal
    on this machine (`_scipy_agrees`; a compiler that fused multiply and add would not be).
    """
    if f.n >= _SCIPY_MIN_ROWS and _scipy_agrees():
        from scipy import sparse

        X = sparse.csr_matrix((f.data, f.indices, f.indptr), shape=(f.n, weights.shape[0]))
        return np.asarray(X @ weights, dtype=np.float64)
    return _sequential(f, weights)


def _sequential(f: Features, weights: Any) -> np.ndarray:
    """`sparse_dot` with numpy. The weight rows are gathered once; a few rows are each summed
    with `np.add.accumulate` (a running sum, in order); many rows position by position
    (entry p of every row that has one, rows sorted by length so those still adding are a
    prefix)."""
    n = f.n
    out = np.zeros((n, weights.shape[1]))
    lengths = f.indptr[1:] - f.indptr[:-1]
    if not n or not len(f.indices):
        return out
    products = weights[f.indices].astype(np.float64)
    products *= f.data[:, None]
    if n <= 16:
        bounds = f.indptr.tolist()
        for i in lengths.nonzero()[0].tolist():
            out[i] = np.add.accumulate(products[bounds[i]:bounds[i + 1]], axis=0)[-1]
        return out
    order = np.argsort(-lengths, kind="stable")
    starts = f.indptr[:-1][order]
    ordered = lengths[order]
    acc = np.zeros_like(out)
    # how many rows have more than p entries, for each p
    still = n - np.searchsorted(ordered[::-1], np.arange(int(ordered[0])), side="right")
    for p, k in enumerate(still.tolist()):
        acc[:k] += products[starts[:k] + p]
    out[order] = acc
    return out


_SCIPY: list[bool] = []


def _scipy_agrees() -> bool:
    """Whether scipy's sparse products equal the numpy definitions here, bit for bit (probed
    once per process on random data with values of very different sizes)."""
    if not _SCIPY:
        try:
            from scipy import sparse
        except ImportError:
            _SCIPY.append(False)
            return False
        rng = np.random.default_rng(20261202)
        n, v, k = 64, 500, 7
        lengths = rng.integers(0, 60, n)
        indptr = np.concatenate([[0], np.cumsum(lengths)])
        indices = rng.integers(0, v, int(indptr[-1]))
        data = rng.random(int(indptr[-1])) * np.exp(rng.normal(0, 6, int(indptr[-1])))
        f = Features(indptr, indices, data, np.zeros((n, 0)), None,  # type: ignore[arg-type]
                     np.ones(n, bool), lengths)
        weights = (rng.normal(size=(v, k)) * np.exp(rng.normal(0, 4, (v, k)))).astype(np.float32)
        X = sparse.csr_matrix((data, indices, indptr), shape=(n, v))
        R = sparse.random(v, k, density=0.3, random_state=1, format="csr", dtype=np.float32)
        same = (np.array_equal(np.asarray(X @ weights, dtype=np.float64),
                               _sequential(f, weights))
                and np.array_equal((X @ R).toarray(),
                                   _postings(f, R.indptr, R.indices, R.data, k)))
        _SCIPY.append(bool(same))
    return _SCIPY[0]


def _postings(f: Features, indptr: np.ndarray, indices: np.ndarray, values: np.ndarray,
              k: int) -> np.ndarray:
    """The tf-idf rows @ a sparse (vocabulary, k) matrix given as CSR arrays: each row's
    entries in order, each entry's postings in order, added one by one (`np.bincount` adds
    its weights in input order)."""
    n = f.n
    lo = indptr[f.indices]
    lengths = indptr[f.indices + 1] - lo
    has = lengths.nonzero()[0]
    lo, lengths = lo[has], lengths[has]
    total = int(lengths.sum())
    if not total:
        return np.zeros((n, k))
    pos = np.repeat(lo - (np.cumsum(lengths) - lengths), lengths) + np.arange(total)
    products = np.repeat(f.data[has], lengths) * values[pos].astype(np.float64)
    bins = np.repeat(f.rows()[has] * k, lengths) + indices[pos]
    return np.bincount(bins, weights=products, minlength=n * k).reshape(n, k)


def fuse_topics(retrieval: np.ndarray, topic_logits: np.ndarray, fusion: np.ndarray) -> np.ndarray:
    """softmax(a * cosine + b * log P_sup(topic)): lexical and supervised evidence, calibrated.

    With an out-of-scope class (`topic_logits` one column wider than `retrieval`, four
    fusion weights) the last column is "no article fits": its logit is
    ``c + b * log P_sup(none) + d * (best cosine)``, so it competes with the topics in one
    softmax."""
    logits = topic_logits - topic_logits.max(axis=1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    n_topics = retrieval.shape[1]
    z = fusion[0] * retrieval + fusion[1] * log_p[:, :n_topics]
    if log_p.shape[1] > n_topics:
        best = retrieval.max(axis=1) if n_topics else np.zeros(len(retrieval))
        z_none = fusion[2] + fusion[1] * log_p[:, n_topics] + fusion[3] * best
        z = np.concatenate([z, z_none[:, None]], axis=1)
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@dataclass
class Wording:
    """What the wording of each text of a batch tells (stage 1 and the topic model)."""

    decision: np.ndarray  # (n, 2) stage-1 cumulative scores
    proba: np.ndarray  # (n, 3) stage-1 level probabilities
    topic_proba: np.ndarray  # (n, T) fused topic probabilities, given that a topic fits
    dense_scaled: np.ndarray  # (n, D) standardised wording signals (for reasons)
    none_proba: np.ndarray | None = None  # (n,) P(no article fits); None: no such class


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
    words: WordTable = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if "wt_flags" in self.arrays:  # saved at training time
            self.words = WordTable.from_arrays(self.vocabulary, self.meta["extra_words"],
                                               self.arrays)
        else:
            self.words = WordTable(self.vocabulary, self.lexicon)
        self._idf = np.asarray(self.arrays["idf"], dtype=np.float64)
        self._sup = np.asarray(self.arrays["sup_index"]).astype(np.int64)
        self._csr: Any = None
        self._quotable: np.ndarray | None = None
        self._w_direction: np.ndarray | None = None
        self._dense_direction: np.ndarray | None = None
        self._history: tuple[Any, HistoryParams] | None = None

    # ---- reasons' views of the weights ----------------------------------------------------
    @property
    def w_direction(self) -> np.ndarray:
        """Each n-gram's mean stage-1 coefficient (towards expert), as reasons quote it."""
        if self._w_direction is None:
            self._w_direction = np.asarray(self.arrays["W"][:, :2]).mean(axis=1)
        return self._w_direction

    @property
    def dense_direction(self) -> np.ndarray:
        """The wording signals' mean stage-1 coefficient."""
        if self._dense_direction is None:
            self._dense_direction = np.asarray(self.arrays["W_dense"]).mean(axis=1)
        return self._dense_direction

    @property
    def quotable(self) -> np.ndarray:
        """(3, vocabulary) bool: which n-grams reasons may quote for each estimated level:
        technical terms always; plain wording (`text.plain_term`) whose pull points
        towards the level (down for novice, up for expert, either way for intermediate).
        Computed at training time (`quotable` array); computed here for older bundles."""
        if self._quotable is None:
            if "quotable" in self.arrays:
                self._quotable = np.asarray(self.arrays["quotable"], dtype=bool)
            else:
                self._quotable = quotable_masks(self.vocabulary, self.lexicon, self.w_direction)
        return self._quotable

    # ---- persistence -------------------------------------------------------------------
    def save(self, folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        doc = {
            "levels": self.levels, "topics": self.topics, "topic_domains": self.topic_domains,
            "vocabulary": self.vocabulary, "lexicon": sorted(self.lexicon), "meta": self.meta,
            "arrays": sorted(self.arrays),
        }
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
        # a plain array over the mapped file: numpy's memmap wrapper costs time at every use
        arrays = {
            name: np.asarray(np.load(folder / f"lean.{name}.npy", allow_pickle=False,
                                     mmap_mode="r" if name in MMAP_ARRAYS else None))
            for name in doc["arrays"]
        }
        return cls(
            levels=doc["levels"], topics=doc["topics"], topic_domains=doc["topic_domains"],
            vocabulary=doc["vocabulary"], lexicon=frozenset(doc["lexicon"]), arrays=arrays,
            meta=doc["meta"],
        )

    # ---- scoring -----------------------------------------------------------------------
    @property
    def idf(self) -> np.ndarray:
        return self._idf

    @property
    def history(self) -> HistoryParams:
        """The fitted evidence model: how tickets and earlier tickets count (`scoring.history`)."""
        data = self.meta.get("history") or {}
        if self._history is None or self._history[0] is not data:
            self._history = (data, HistoryParams.from_dict(data))
        return self._history[1]

    def wording(self, f: Features) -> Wording:
        """Stage 1 and the topic model for a batch's features."""
        a = self.arrays
        linear = sparse_dot(f, a["W"]) + a["b"]
        retrieval = self.retrieval(f)
        scaled = (f.dense - a["dense_mean"]) / a["dense_scale"]
        decision = linear[:, :2] + dense_dot(scaled, a["W_dense"])
        # Topics without training tickets compete on retrieval alone: their supervised score
        # is set to that of the least likely topic the supervised model knows.
        sup = self._sup
        n_topics = retrieval.shape[1]
        open_set = bool(sup.size) and int(sup.max()) == n_topics
        topic_logits = np.empty((f.n, n_topics + open_set))
        sup_logits = linear[:, 2:]
        topic_logits[:] = sup_logits.min(axis=1, keepdims=True) if sup.size else 0.0
        if sup.size:
            topic_logits[:, sup] = sup_logits
        joint = fuse_topics(retrieval, topic_logits, a["fusion"])
        if not open_set:
            return Wording(decision, cumulative_to_proba(decision), joint, scaled)
        none = joint[:, n_topics]
        topics = joint[:, :n_topics] / np.maximum(1.0 - none, 1e-300)[:, None]
        return Wording(decision, cumulative_to_proba(decision), topics, scaled, none)

    def retrieval(self, f: Features) -> np.ndarray:
        """Cosine of each tf-idf row with every topic document (a sparse vocabulary x topic
        matrix): a row's entries, and each entry's postings, added in order (as
        `sparse_dot`, scipy where it agrees)."""
        a = self.arrays
        indptr, indices = np.asarray(a["R_indptr"]), np.asarray(a["R_indices"])
        n_topics = len(self.topics)
        if f.n >= _SCIPY_MIN_ROWS and _scipy_agrees():
            from scipy import sparse

            if self._csr is None:
                self._csr = sparse.csr_matrix((a["R_data"], indices, indptr),
                                              shape=(len(self.vocabulary), n_topics))
            X = sparse.csr_matrix((f.data, f.indices, f.indptr),
                                  shape=(f.n, len(self.vocabulary)))
            return np.asarray((X @ self._csr).toarray(), dtype=np.float64)
        return _postings(f, indptr, indices, a["R_data"], n_topics)


def quotable_masks(vocabulary: list[str], lexicon: frozenset[str], w_direction: np.ndarray
                   ) -> np.ndarray:
    """(3, vocabulary) bool of `LeanModel.quotable` (done once, at training time)."""
    out = np.zeros((3, len(vocabulary)), dtype=bool)
    for j, (g, w) in enumerate(zip(vocabulary, w_direction.tolist(), strict=True)):
        tech = g in lexicon
        words = not tech and plain_term(g, lexicon)
        out[0, j] = tech or (words and w < 0)
        out[1, j] = tech or words
        out[2, j] = tech or (words and w > 0)
    return out
