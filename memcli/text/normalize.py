"""The search tokenizer: lowercase, accent folding, stopwords, Snowball (English) stemming."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from py_rust_stemmers import SnowballStemmer

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_STEMMER = SnowballStemmer("english")

# English function words: frequent, carry no topic, and only add noise to BM25.
STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "aren't",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "don",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "let",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "ought",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "s",
        "t",
        "d",
        "ll",
        "m",
        "re",
        "ve",
        "y",
        "isn",
        "wasn",
        "weren",
        "hasn",
        "haven",
        "hadn",
        "doesn",
        "didn",
        "won",
        "wouldn",
        "shan",
        "shouldn",
        "mustn",
        "can't",
        "cannot",
        "couldn",
        "mightn",
        "needn",
        "also",
    ]
)


def fold(text: str) -> str:
    """Lowercase and strip accents: 'Ångström Café' -> 'angstrom cafe'."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=100_000)
def stem(word: str) -> str:
    return _STEMMER.stem_word(word)


def tokenize(text: str) -> list[str]:
    """Search terms of a text, in order: folded, stopwords dropped, stemmed."""
    return [stem(word) for word in _WORD.findall(fold(text)) if word not in STOPWORDS]


def estimate_tokens(text: str) -> int:
    """A token estimate that needs no tokenizer: ~4/3 tokens a word (as bench/locomo.py counts).
    The one estimator: the session digest and MCP's answer budget both count with it."""
    return round(len(text.split()) * 4 / 3)
