"""Fit the two decision heads of memcli/infer/heads.py on the labelled data in bench/train/data.

    python bench/train_decisions.py            # fit, print held-out figures, write memcli/infer/heads.npz
    python bench/train_decisions.py --dry-run  # the same, without writing

Reproducible: a fixed seed for the 80/20 split (stratified by label) and for the solver. The data
was written for this purpose by writers who saw neither mem's code nor any evaluation set; nothing
from ../shared is ever read here. Needs scikit-learn (pip install -e '.[train]'), at training
time only: the shipped heads are scored with numpy.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import classification_report
from sklearn.model_selection import StratifiedKFold, cross_val_score, train_test_split

from memcli.index.embed import BundledEmbedder
from memcli.infer import heads
from memcli.infer.extract import extract
from memcli.infer.reconcile import PAIR_FEATURES, pair_features
from memcli.infer.types import Fact
from memcli.text.english import subject_of

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "bench" / "train" / "data"
OUT = ROOT / "memcli" / "infer" / heads.WEIGHTS_FILE
SEED = 7
C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)


def read(pattern: str) -> list[dict]:
    rows = []
    for path in sorted(DATA.glob(pattern)):
        rows += [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return rows


def fact_of(new: str, stored_vector: np.ndarray, embed) -> tuple[Fact, np.ndarray]:  # noqa: ANN001
    """The fact of `new` a memory would be compared with: of the facts extracted from it, the one
    closest in meaning to the stored memory (as at run time, where each fact meets each
    candidate and the closest pair decides); the words as said when nothing is extracted."""
    facts = extract([("user", new)]).facts or [Fact(text=new, sentence=new, subject=subject_of(new))]
    vectors = embed([f.text for f in facts])
    best = int(np.argmax(vectors @ stored_vector))
    return facts[best], vectors[best]


def fit(name: str, x: np.ndarray, y: np.ndarray, classes: tuple[str, ...]) -> heads.Head:
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=0.2, random_state=SEED, stratify=y)
    mean, scale = x_train.mean(axis=0), x_train.std(axis=0) + 1e-6
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=SEED)
    scores = {}
    for c in C_GRID:
        model = LogisticRegression(C=c, max_iter=3000, random_state=SEED)
        scores[c] = cross_val_score(model, (x_train - mean) / scale, y_train, cv=folds, scoring="f1_macro").mean()
    best = max(scores, key=lambda c: scores[c])
    print(f"\n{name}: {len(y)} examples ({len(y_train)} train, {len(y_test)} held out); C by 5-fold macro-F1:")
    print("  " + "  ".join(f"C={c}: {s:.3f}" for c, s in scores.items()) + f"  -> C={best}")
    model = LogisticRegression(C=best, max_iter=3000, random_state=SEED).fit((x_train - mean) / scale, y_train)
    print(f"  held-out (never seen in fitting), {name}:")
    report = classification_report(y_test, model.predict((x_test - mean) / scale), labels=list(classes), digits=3)
    print("\n".join("    " + line for line in report.splitlines()))
    # the shipped head is fitted on all the data with the chosen C
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    model = LogisticRegression(C=best, max_iter=3000, random_state=SEED).fit((x - mean) / scale, y)
    order = [list(model.classes_).index(c) for c in classes]
    return heads.Head(
        classes,
        model.coef_[order].astype(np.float32),
        model.intercept_[order].astype(np.float32),
        mean.astype(np.float32),
        scale.astype(np.float32),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dry-run", action="store_true", help="fit and report, write nothing")
    args = parser.parse_args()
    started = time.perf_counter()
    model = BundledEmbedder(threads=2)
    embed = model.embed_passages

    sentences = read("sentences-*.jsonl")
    texts = [row["text"] for row in sentences]
    keep_x = heads.keep_input(embed(texts), texts)
    keep_y = np.array([row["label"] for row in sentences])
    keep = fit("keep", keep_x, keep_y, heads.SENTENCE_CLASSES)

    pairs = read("pairs-*.jsonl")
    stored_vectors = embed([row["stored"] for row in pairs])
    rows = []
    for row, stored_vector in zip(pairs, stored_vectors, strict=True):
        fact, vector = fact_of(row["new"], stored_vector, embed)
        rows.append(pair_features(fact, row["stored"], float(vector @ stored_vector)))
    rel_x = heads.relation_input(np.array(rows, dtype=np.float32))
    rel_y = np.array([row["label"] for row in pairs])
    relation = fit("relation", rel_x, rel_y, heads.RELATION_CLASSES)
    print(
        f"\nfeatures: keep {keep_x.shape[1]} (vector + {len(heads.SENTENCE_FEATURES)} rule features), "
        f"relation {rel_x.shape[1]} ({len(PAIR_FEATURES)} rule features, the cosine among them); "
        f"{time.perf_counter() - started:.0f} s"
    )
    if args.dry_run:
        return 0
    arrays = {"format": np.array(heads.FORMAT)}
    for name, head in (("keep", keep), ("relation", relation)):
        arrays.update(
            {
                f"{name}_classes": np.array(head.classes),
                f"{name}_weights": head.weights,
                f"{name}_bias": head.bias,
                f"{name}_mean": head.mean,
                f"{name}_scale": head.scale,
            }
        )
    np.savez_compressed(OUT, **arrays)
    digest = hashlib.sha256(OUT.read_bytes()).hexdigest()
    print(f"wrote {OUT.relative_to(ROOT)} ({OUT.stat().st_size / 1024:.0f} KB, sha256 {digest[:16]}…)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
