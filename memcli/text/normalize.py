"""The search tokenizer: lowercase, accent folding, stopwords, Snowball (English) stemming."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

from py_rust_stemmers import SnowballStemmer

from memcli.text import lexicon

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_STEMMER = SnowballStemmer("english")

# English function words: frequent, carry no topic, and only add noise to BM25.
STOPWORDS = lexicon.words("stopwords")


def fold(text: str) -> str:
    """Lowercase and strip accents: 'Ångström Café' -> 'angstrom cafe'."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@lru_cache(maxsize=100_000)
def squashed(text: str) -> str:
    """The text as compared for "word for word the same": case, runs of space and a final dot aside."""
    return " ".join(text.casefold().split()).strip(" .")


def stem(word: str) -> str:
    return _STEMMER.stem_word(word)


def tokenize(text: str) -> list[str]:
    """Search terms of a text, in order: folded, stopwords dropped, stemmed."""
    return [stem(word) for word in _WORD.findall(fold(text)) if word not in STOPWORDS]


_SPACED = re.compile(r"\S+")  # a "word" for the token estimate: anything between spaces
_CHARS_PER_PIECE = 12  # a longer "word" (a URL, a hash, a blob without spaces) counts as several


def _pieces(word: str) -> int:
    return -(-len(word) // _CHARS_PER_PIECE)


def estimate_tokens(text: str) -> int:
    """A token estimate that needs no tokenizer: ~4/3 tokens a word (as bench/locomo.py counts),
    a word longer than 12 characters counting once per 12. The one estimator: the session digest
    and MCP's answer budget both count with it."""
    return round(sum(_pieces(word) for word in _SPACED.findall(text)) * 4 / 3)


def cut_to_tokens(text: str, budget: int) -> str:
    """The longest start of `text` (cut after a word, formatting kept) that estimate_tokens puts
    within `budget`."""
    allowed = int(budget * 3 / 4)
    spent = 0
    for match in _SPACED.finditer(text):
        cost = _pieces(match.group(0))
        if spent + cost > allowed:
            if spent == 0:  # one word longer than the budget (a blob): cut inside it
                return text[: match.start() + allowed * _CHARS_PER_PIECE]
            return text[: match.start()].rstrip()
        spent += cost
    return text
