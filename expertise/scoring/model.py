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
from expertise.scoring.history import HISTORY_FEATURES, terseness
from expertise.scoring.text import plain_term
from expertise.scoring.tokens import WordTable

LEAN_JSON = "lean.json"
#: Big arrays are memory-mapped, so a one-shot answer reads only the rows of the words it
#: sees; the large weight matrix is float32 (half the size).
MMAP_ARRAYS = ("W",)
FLOAT32_ARRAYS = ("W",)
#: Stage 2's inputs besides the history features, in order.
S2_EXTRA = ("wording_1", "wording_2", "wording_terse")
#: tf-idf entries per block of a sparse product (bounds the temporary gather's memory).
_BLOCK_ENTRIES = 65_536


def cumulative_to_proba(decision: np.ndarray) -> np.ndarray:
    """Cumulative decision values (n, K-1) for P(y > k) as class probabilities (n, K).

    Independently fitted thresholds can cross (a terse ticket: "surely not novice" and
    "surely expert" disagree). Sorting the cumulative probabilities (monotone rearrangement,
    Chernozhukov, Fernandez-Val and Galichon 2010) restores the order and, unlike clipping,
    gives the middle level the disputed mass.
    """
    q = 1.0 / (1.0 + np.exp(-np.clip(decision, -35, 35)))
    q = -np.sort(-q, axis=1)
    n, k = q.shape
    proba = np.empty((n, k + 1))
    proba[:, 0] = 1.0 - q[:, 0]
    proba[:, 1:k] = q[:, :-1] - q[:, 1:]
    proba[:, k] = q[:, -1]
    proba = np.clip(proba, 1e-6, None)
    return proba / proba.sum(axis=1, keepdims=True)


def dense_dot(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """x (n, d) @ w (d, k) as an explicit sum over d in order: the same bits for a row in any
    batch (a BLAS product may block rows differently by batch size)."""
    out = np.zeros((x.shape[0], w.shape[1]))
    for j in range(x.shape[1]):
        out += x[:, j:j + 1] * w[j]
    return out


def sparse_dot(f: Features, weights: np.ndarray) -> np.ndarray:
    """The tf-idf rows @ weights (vocabulary, k): each row's entries gathered and summed in
    entry order (`np.bincount` adds its weights one by one in input order)."""
    n, k = f.n, weights.shape[1]
    out = np.zeros(n * k)
    rows = f.rows()
    step = max(1, _BLOCK_ENTRIES)
    for lo in range(0, len(f.indices), step):
        hi = min(lo + step, len(f.indices))
        contrib = np.asarray(weights[f.indices[lo:hi]], dtype=np.float64) * f.data[lo:hi, None]
        bins = (rows[lo:hi] * k)[:, None] + np.arange(k)
        out += np.bincount(bins.ravel(), weights=contrib.ravel(), minlength=n * k)
    return out.reshape(n, k)


def fuse_topics(retrieval: np.ndarray, topic_logits: np.ndarray, fusion: np.ndarray) -> np.ndarray:
    """softmax(a * cosine + b * log P_lr(topic)): lexical and supervised evidence, calibrated."""
    logits = topic_logits - topic_logits.max(axis=1, keepdims=True)
    log_p = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    z = fusion[0] * retrieval + fusion[1] * log_p
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


@dataclass
class Wording:
    """What the wording of each text of a batch tells (stage 1 and the topic model)."""

    decision: np.ndarray  # (n, 2) stage-1 cumulative scores
    proba: np.ndarray  # (n, 3) stage-1 level probabilities
    topic_proba: np.ndarray  # (n, T) fused topic probabilities
    dense_scaled: np.ndarray  # (n, D) standardised wording signals (for reasons)


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
        self.words = WordTable(self.vocabulary, self.lexicon)
        self._idf = np.asarray(self.arrays["idf"], dtype=np.float64)
        self._retrieval: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
        self._quotable: np.ndarray | None = None
        self._w_direction: np.ndarray | None = None

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
        return np.asarray(self.arrays["W_dense"]).mean(axis=1)

    @property
    def s2_direction(self) -> np.ndarray:
        """The stage-2 coefficients' mean over the cumulative models."""
        return np.asarray(self.arrays["s2_coef"]).mean(axis=0)

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
    @property
    def idf(self) -> np.ndarray:
        return self._idf

    def wording(self, f: Features) -> Wording:
        """Stage 1 and the topic model for a batch's features."""
        a = self.arrays
        linear = sparse_dot(f, a["W"]) + a["b"]
        scaled = (f.dense - a["dense_mean"]) / a["dense_scale"]
        decision = linear[:, :2] + dense_dot(scaled, np.asarray(a["W_dense"]))
        # Topics without training tickets compete on retrieval alone: their supervised score
        # is set to that of the least likely topic the supervised model knows.
        sup = np.asarray(a["sup_index"]).astype(np.int64)
        retrieval = self.retrieval(f)
        topic_logits = np.empty_like(retrieval)
        sup_logits = linear[:, 2:]
        topic_logits[:] = sup_logits.min(axis=1, keepdims=True) if sup.size else 0.0
        if sup.size:
            topic_logits[:, sup] = sup_logits
        return Wording(decision, cumulative_to_proba(decision),
                       fuse_topics(retrieval, topic_logits, np.asarray(a["fusion"])), scaled)

    def retrieval(self, f: Features) -> np.ndarray:
        """Cosine of each tf-idf row with every topic document: the postings of a row's
        terms in a sparse vocabulary x topic matrix, summed per topic in entry order."""
        a = self.arrays
        n, n_topics = f.n, len(self.topics)
        indptr = np.asarray(a["R_indptr"])
        lo = indptr[f.indices]
        lengths = indptr[f.indices + 1] - lo
        total = int(lengths.sum())
        if not total:
            return np.zeros((n, n_topics))
        pos = np.repeat(lo - (np.cumsum(lengths) - lengths), lengths) + np.arange(total)
        values = np.repeat(f.data, lengths) * np.asarray(a["R_data"], dtype=np.float64)[pos]
        bins = np.repeat(f.rows(), lengths) * n_topics + np.asarray(a["R_indices"])[pos]
        return np.bincount(bins, weights=values, minlength=n * n_topics).reshape(n, n_topics)

    def stage2_inputs(self, decision: np.ndarray, history: np.ndarray, n_tokens: np.ndarray
                      ) -> np.ndarray:
        terse = np.array([terseness(int(k)) for k in n_tokens.tolist()])
        extra = np.column_stack([decision, decision.mean(axis=1) * terse])
        return np.hstack([extra, history])

    def level_proba(self, decision: np.ndarray, history: np.ndarray, n_tokens: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
        """Final level probabilities (n, 3) and the stage-2 scaled inputs (for reasons)."""
        a = self.arrays
        z = (self.stage2_inputs(decision, history, n_tokens) - a["s2_mean"]) / a["s2_scale"]
        cumulative = dense_dot(z, np.asarray(a["s2_coef"]).T) + a["s2_intercept"]
        return cumulative_to_proba(cumulative), z

    @property
    def stage2_names(self) -> list[str]:
        return list(S2_EXTRA) + [name for name, _ in HISTORY_FEATURES]


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


__all__ = ["LeanModel", "Wording", "cumulative_to_proba", "dense_dot",
           "fuse_topics", "quotable_masks", "sparse_dot"]
