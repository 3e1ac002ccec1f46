"""Two small learned heads over the bundled model's vectors and the rules' features, scored with
numpy (no runtime dependency beyond it):

- keep: what a sentence is — a lasting fact, noise, a question, a one-off request, a retraction
  or a hypothetical (other people's opinions and sarcasm count as hypothetical);
- relation: what a new statement is to a stored memory of the same scope — an update (same slot,
  new value), a restatement, unrelated, or a retraction of it — from the rules' pair features,
  the cosine of the two vectors and the new statement's own vector.

Both are multinomial logistic regressions fitted by bench/train_decisions.py on labelled data
kept in bench/train/data (never on the evaluation sets); the weights ship as heads.npz with their
sha256 beside this file. Their probabilities are features of a decision, never the whole of it:
the rules' vetoes (scopes, other people, value swaps) stand, and thresholds (decider.py) say how
sure each outcome must be.
"""

from __future__ import annotations

import functools
import hashlib
import io
import math
import re
from dataclasses import dataclass
from importlib import resources

import numpy as np

from memcli.infer.rules import is_question, retraction, sentence_dropped, why_dropped
from memcli.text.english import (
    EPHEMERAL,
    GREETING,
    HYPOTHETICAL,
    OTHERS_OPINION,
    PRONOUN_SUBJECT,
    REQUEST,
    SARCASM,
    STANDING,
    content_words,
    has_verb,
    values,
)

SENTENCE_CLASSES = ("fact", "noise", "question", "request", "retraction", "hypothetical")
RELATION_CLASSES = ("update", "restatement", "unrelated", "retraction")
WEIGHTS_FILE = "heads.npz"
FORMAT = (
    2  # of heads.npz (2: the relation head reads the fact's vector); a change is a new file, never a reinterpretation
)

SENTENCE_FEATURES = (
    "greeting",
    "question",
    "hypothetical",
    "sarcasm",
    "others_opinion",
    "request",
    "standing",
    "ephemeral",
    "retraction",
    "has_verb",
    "first_person",
    "has_value",
    "content_words",
    "chars",
    "rules_drop_sentence",
    "rules_drop_clause",
)


def sentence_features(text: str) -> list[float]:
    """The rules' view of a sentence, in SENTENCE_FEATURES order."""
    stripped = re.sub(r"^[^\w\[`'\"]+", "", text.strip())
    return [
        float(bool(GREETING.match(stripped))),
        float(is_question(stripped)),
        float(bool(HYPOTHETICAL.search(text))),
        float(bool(SARCASM.search(text))),
        float(bool(OTHERS_OPINION.search(text))),
        float(bool(REQUEST.search(text))),
        float(bool(STANDING.search(text))),
        float(bool(EPHEMERAL.search(text))),
        float(retraction(stripped) is not None),
        float(has_verb(text)),
        float(bool(PRONOUN_SUBJECT.match(stripped))),
        float(bool(values(text))),
        math.log1p(len(content_words(text))),
        math.log1p(len(text)),
        float(sentence_dropped(text) is not None),
        float(why_dropped(text) is not None),
    ]


@dataclass(frozen=True)
class Head:
    """A multinomial logistic regression: standardised features -> class probabilities."""

    classes: tuple[str, ...]
    weights: np.ndarray  # (classes, features)
    bias: np.ndarray  # (classes,)
    mean: np.ndarray  # (features,)
    scale: np.ndarray  # (features,)

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        """(n, features) -> (n, classes), rows summing to 1."""
        logits = ((features - self.mean) / self.scale) @ self.weights.T + self.bias
        logits -= logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)

    def named(self, row: np.ndarray) -> dict[str, float]:
        return {name: round(float(p), 3) for name, p in zip(self.classes, row, strict=True)}


@dataclass(frozen=True)
class Heads:
    keep: Head
    relation: Head
    sha256: str  # of heads.npz: shown by --explain, so a decision names the weights that made it


def keep_input(vectors: np.ndarray, texts: list[str]) -> np.ndarray:
    """The keep head's input: each text's unit vector, then its rule features."""
    rules = np.array([sentence_features(t) for t in texts], dtype=np.float32).reshape(len(texts), -1)
    return np.hstack([vectors.astype(np.float32), rules])


def relation_input(rules: np.ndarray, facts: np.ndarray) -> np.ndarray:
    """The relation head's input for pairs: the rules' pair features (reconcile.pair_features),
    the cosine of the two vectors among them, then the new fact's own unit vector — how it is
    said (a change, a retraction, a repeat, a remark about someone else), learned from the data
    rather than from a word list. Measured with each writer's data held out in turn
    (bench/train_decisions.py): accuracy 0.76 -> 0.84 with the fact's vector. The product or the
    distance of the two vectors, tried too, were no better than the features alone once stored
    texts could not leak across the split."""
    return np.hstack([rules.astype(np.float32), facts.astype(np.float32).reshape(len(rules), -1)])


def _head(data: np.lib.npyio.NpzFile, name: str) -> Head:
    return Head(
        classes=tuple(str(c) for c in data[f"{name}_classes"]),
        weights=data[f"{name}_weights"],
        bias=data[f"{name}_bias"],
        mean=data[f"{name}_mean"],
        scale=data[f"{name}_scale"],
    )


@functools.cache
def load() -> Heads | None:
    """The shipped heads, or None when the file is missing (the rules decide alone then)."""
    source = resources.files("memcli.infer").joinpath(WEIGHTS_FILE)
    if not source.is_file():
        return None
    raw = source.read_bytes()
    with np.load(io.BytesIO(raw), allow_pickle=False) as data:
        if int(data["format"]) != FORMAT:
            return None
        return Heads(_head(data, "keep"), _head(data, "relation"), hashlib.sha256(raw).hexdigest())
