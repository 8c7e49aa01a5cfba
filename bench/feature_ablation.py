"""What each feature family buys: accuracy (grouped 4-fold CV on the training split, and the
simulated evaluation split) against featurisation speed (texts per second, one core).

    python bench/feature_ablation.py [--out bench/ablation.json]

The hand-written evaluation file is deliberately not used here: choices are made on training
data only.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import GroupKFold
from sklearn.preprocessing import StandardScaler

from expertise.config import LEVELS, PROJECT_DIR
from expertise.knowledge_base import load_knowledge_base
from expertise.modeling.estimators import OrdinalClassifier, WordingFeatures, learn_lexicon
from expertise.modeling.fit import training_texts
from expertise.scoring.tokens import token_strings


def tokenize(text: str) -> list[str]:
    """The words the model looks up (as `expertise.scoring.tokens` finds them)."""
    return token_strings(text)[1]


def _unigrams(text: str) -> list[str]:
    return tokenize(text)


def _bigrams(text: str) -> list[str]:
    toks = tokenize(text)
    return toks + [f"{a} {b}" for a, b in zip(toks, toks[1:], strict=False)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=PROJECT_DIR / "bench" / "ablation.json")
    args = parser.parse_args()
    kb = load_knowledge_base(PROJECT_DIR / "knowledge_base")
    read = lambda p: pd.read_csv(p, dtype=str, keep_default_na=False)  # noqa: E731
    train = read(PROJECT_DIR / "data" / "tickets_train.csv")
    test = read(PROJECT_DIR / "data" / "tickets_eval.csv")
    x_train, x_test = training_texts(train), training_texts(test)
    y, y_test = train["expertise_level"].to_numpy(object), test["expertise_level"].to_numpy(object)
    groups = train["customer_id"].to_numpy(object)
    lexicon = learn_lexicon(*[[a.body for a in kb.articles if a.level == lv]
                              for lv in ("expert", "novice", "intermediate")])
    families = {
        "word unigrams": lambda: TfidfVectorizer(analyzer=_unigrams, sublinear_tf=True, min_df=2),
        "word 1-2 grams": lambda: TfidfVectorizer(analyzer=_bigrams, sublinear_tf=True, min_df=2),
        "char 2-4 grams": lambda: TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 4),
                                                  sublinear_tf=True, min_df=2),
    }
    rows = []
    for name, make in families.items():
        for with_signals in (False, True):
            vec = make()
            started = time.perf_counter()
            X = vec.fit_transform(x_train)
            Xt = vec.transform(x_test)
            if with_signals:
                sig = WordingFeatures(lexicon).fit(x_train)
                scale = StandardScaler().fit(sig.transform(x_train))
                X = sparse.hstack([X, scale.transform(sig.transform(x_train))]).tocsr()
                Xt = sparse.hstack([Xt, scale.transform(sig.transform(x_test))]).tocsr()
            per_text = (time.perf_counter() - started) / (len(x_train) + len(x_test))
            cv = []
            for tr, te in GroupKFold(4).split(X, y, groups):
                model = OrdinalClassifier(C=4.0, classes=LEVELS).fit(X[tr], y[tr])
                cv.append(float(np.mean(model.predict(X[te]) == y[te])))
            model = OrdinalClassifier(C=4.0, classes=LEVELS).fit(X, y)
            row = {"features": name + (" + signals" if with_signals else ""),
                   "cv_accuracy": round(float(np.mean(cv)), 4),
                   "eval_split_accuracy": round(float(np.mean(model.predict(Xt) == y_test)), 4),
                   "texts_per_second": round(1 / per_text), "n_features": X.shape[1]}
            rows.append(row)
            print(json.dumps(row), flush=True)
    args.out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
