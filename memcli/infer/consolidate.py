"""What consolidation may change, judged from plain data: which memories restate one fact (merge),
which pairs give one slot two values (a possible conflict), which plans' dates have passed
(stale), and which text of a group to keep. Pure: texts, unit vectors and times in; verdicts
with the rule that made them out. memory/consolidation.py reads the vault and writes the plan.

Precision first, as for add: a merge supersedes memories, so it needs the rules to find each
text saying all the other says (both ways), and the model, when loaded, to find them close and
not a change of value. Anything less stays two memories.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

from memcli.infer.attributes import attributes
from memcli.infer.plans import STALE_GRACE_DAYS
from memcli.infer.plans import phrases as _phrases
from memcli.infer.reconcile import compare, compatible
from memcli.infer.types import Existing, Fact
from memcli.text import lexicon
from memcli.text.english import (
    ALIASES,
    GENERIC,
    NUMBER_WORDS,
    RELATIONS,
    content_words,
    subject_of,
    values,
)
from memcli.text.normalize import STOPWORDS, fold, squashed, stem

if TYPE_CHECKING:
    import numpy as np


@dataclass(frozen=True)
class Limits:
    """Every threshold consolidation uses, in one place."""

    neighbours: int = 8  # closest memories by meaning looked at per memory
    near: float = 0.5  # cosine below which two memories are not compared at all
    near_words: float = 0.3  # without a model: the share of content words two must have in common
    merge_cosine: float = 0.8  # a merge needs the two this close in meaning (with a model)
    merge_restated: float = 0.5  # ... and the relation head, when loaded, P(restatement) at least this
    merge_update: float = 0.3  # ... and P(update) below this
    reworded_share: float = 0.5  # a rewording may say at most this share of its words differently
    conflict: float = 0.6  # P(update) a rules' "same slot, new value" needs from the head to be shown
    stale_grace_days: int = STALE_GRACE_DAYS  # a plan's date is past once this many days have gone by after it


LIMITS = Limits()


@dataclass
class Verdict:
    """One judgement about a pair of memories: the rule that made it, and its numbers."""

    yes: bool
    rule: str
    features: dict[str, float] = field(default_factory=dict)


# -- one statement or two: the words of each, and what tells them apart -----------------------


_NEGATORS = lexicon.words("negators")
_CONTRAST = lexicon.words("contrast_words")
_NEGATION_ENDS = lexicon.words("negation_ends")
_FILLERS = frozenset(stem(w) for w in lexicon.word_list("fillers"))
_VERBS = frozenset(stem(w) for w in lexicon.word_list("verb_stems"))
_PAST, _FUTURE = _phrases("past_aspect"), _phrases("future_aspect")
_RELATION_WORDS = frozenset(RELATIONS.split("|"))
_SAME_MEANING = {
    form: f"~{group}"
    for group, row in lexicon.mapping("same_meaning").items()
    for word in row.split()
    for form in (fold(word), stem(fold(word)))
}
_IRREGULAR_PAST = lexicon.words("irregular_past")
_PAST_AUX, _PRESENT_AUX = (
    frozenset({"was", "were", "had", "did"}),
    frozenset({"is", "are", "am", "has", "have", "does", "do"}),
)
_CLAUSE = re.compile(r"[,;:.!?()]|\bbut\b", re.IGNORECASE)
_WORD = re.compile(r"[^\W_]+")
_CAMEL = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")


@dataclass(frozen=True)
class _Token:
    word: str  # folded, as written
    raw: str  # as written, for the pieces of CamelCase ("JavaScript": Java, Script)
    key: str  # what it means for matching: number words as digits, aliases, stems, same-meaning groups
    negated: bool  # said not to hold, or passed over ("never npm", "over npm")
    value: bool  # a name, number or relation: what a swap would change


_OPPOSITE = lexicon.mapping("opposite_of")
_ORDINALS = lexicon.mapping("ordinals")
_TENS = {word: int(number) for word, number in lexicon.mapping("tens").items()}
_PIECES = re.compile(r"[a-z]\d+[a-z](?!\w)|\d+|[^\W\d_]+", re.IGNORECASE)  # "11pm": 11, pm; "k8s" stays


def _key(word: str) -> str:
    word = _ORDINALS.get(word) or NUMBER_WORDS.get(word, word)
    stemmed = ALIASES.get(word) or stem(word)
    return _SAME_MEANING.get(word) or _SAME_MEANING.get(stemmed) or stemmed


def _numbers_as_digits(text: str) -> str:
    """ "twenty-seven" -> "27", "1st" -> "1": numbers compared as numbers."""

    def tens(match: re.Match[str]) -> str:
        unit = NUMBER_WORDS.get(match.group(2).lower(), "0") if match.group(2) else "0"
        return str(_TENS[match.group(1).lower()] + (int(unit) if unit.isdigit() and int(unit) < 10 else 0))

    text = re.sub(rf"\b({'|'.join(_TENS)})(?:[- ](\w+))?\b", tens, text, flags=re.IGNORECASE)
    return re.sub(r"\b(\d+)(?:st|nd|rd|th)\b", r"\1", text)


@lru_cache(maxsize=65536)
def _tokens(text: str) -> tuple[_Token, ...]:
    """The words of a statement that carry its meaning, each with whether it is negated."""
    text = re.sub(
        r"\bcan't\b", "can not", re.sub(r"\bwon't\b", "will not", text, flags=re.IGNORECASE), flags=re.IGNORECASE
    )
    text = _numbers_as_digits(re.sub(r"n't\b", " not", text, flags=re.IGNORECASE))
    # "prefers X to Y", "X instead of Y": what follows is passed over, as after "over"
    text = re.sub(r"\b(prefer(?:s|red|ring)?\b[^,;.]*?)\bto\b", r"\1over", text, flags=re.IGNORECASE)
    text = re.sub(r"\binstead of\b", "over", text, flags=re.IGNORECASE)
    named = {word for value in values(text) for word in _WORD.findall(value)}
    found: list[_Token] = []
    for clause in _CLAUSE.split(text):
        negated = False
        for raw in (piece for word in _WORD.findall(clause) for piece in _PIECES.findall(word)):
            word = fold(raw)
            if word in _NEGATION_ENDS:
                negated = False
            # "over" passes over what follows; "VS Code" is a name
            if word in _NEGATORS or (word in _CONTRAST and raw.islower()):
                negated = True
                continue
            digit = any(ch.isdigit() for ch in _ORDINALS.get(word) or NUMBER_WORDS.get(word, word))
            is_value = digit or word in _RELATION_WORDS or (word in named and word not in STOPWORDS)
            if (word in STOPWORDS or stem(word) in GENERIC) and not is_value:
                continue
            if word in _OPPOSITE:  # "dislikes X" is "does not like X": the rest of the clause too
                negated = not negated
                found.append(_Token(word, raw, _key(_OPPOSITE[word]), negated, False))
                continue
            found.append(_Token(word, raw, _key(word), negated, is_value))
    return tuple(found)


def _close_spelling(x: _Token, y: _Token) -> bool:
    """A typo: long enough words, nearly the same letters (names need more letters and likeness)."""
    shortest, needed = (6, 0.83) if x.value or y.value else (5, 0.8)
    if x.word[0] != y.word[0] or min(len(x.word), len(y.word)) < 4:
        return False
    if sorted(x.word) == sorted(y.word) and not (x.value or y.value):  # letters swapped: "drak"
        return True
    if min(len(x.word), len(y.word)) < shortest:
        return False
    return difflib.SequenceMatcher(None, x.word, y.word).ratio() >= needed


def _short_for(short: str, words: tuple[tuple[str, int], ...]) -> set[int] | None:
    """The tokens a run of `words` ((piece, token) in order) stands for when `short` abbreviates
    it: its initials ("nyc": New York City; "ts": Type Script, split from TypeScript), a numeronym
    ("k8s"), or a long prefix ("postgres")."""
    for start in range(len(words)):
        initials, run = "", set()
        for piece, owner in words[start:]:
            initials += piece[0]
            run.add(owner)
            if initials == short and len(initials) > 1:
                return run
            if not short.startswith(initials):
                break
    for piece, owner in words:
        long_prefix = len(short) >= 4 and piece.startswith(short) and len(short) >= 0.7 * len(piece) and piece != short
        numeronym = re.fullmatch(r"[a-z](\d+)[a-z]", short)
        if long_prefix or (
            numeronym and len(piece) == int(numeronym.group(1)) + 2 and piece[0] == short[0] and piece[-1] == short[-1]
        ):
            return {owner}
    return None


@lru_cache(maxsize=65536)
def _pieces(text: str) -> tuple[tuple[str, int], ...]:
    """(piece, token) of a statement's tokens, CamelCase split: what a short form may stand for."""
    return tuple((fold(piece), n) for n, t in enumerate(_tokens(text)) for piece in (_CAMEL.findall(t.raw) or [t.raw]))


def _matched(mine: str, theirs: str) -> tuple[set[int], list[tuple[int, int]], set[int]]:
    """Which of my tokens the other statement says too (by meaning, spelling or abbreviation),
    the (mine, theirs) pairs matched word to word, and the other's tokens that a short form of
    mine stands for ("NYC": New York City)."""
    left, right = _tokens(mine), _tokens(theirs)
    hits: set[int] = set()
    pairs: list[tuple[int, int]] = []
    covered: set[int] = set()
    for i, token in enumerate(left):
        for j, other in enumerate(right):
            if token.key == other.key or _close_spelling(token, other):
                hits.add(i)
                pairs.append((i, j))
                break
        else:
            if 2 <= len(token.word) <= 5 and (run := _short_for(token.word, _pieces(theirs))) is not None:
                hits.add(i)
                covered |= run
    return hits, pairs, covered


@lru_cache(maxsize=65536)
def _time_of(text: str) -> tuple[bool, bool, frozenset[str]]:
    """Whether a statement says what was, what is planned, and its auxiliaries (was, is, has…)."""
    auxiliaries = frozenset(fold(w) for w in _WORD.findall(text)) & (_PAST_AUX | _PRESENT_AUX)
    return bool(_PAST.search(text)), bool(_FUTURE.search(text)), auxiliaries


def _past(word: str) -> bool:
    return word in _IRREGULAR_PAST or word in _PAST_AUX or (word.endswith("ed") and len(word) > 4)


def _tense_differs(
    a: str, b: str, left: Sequence[_Token], right: Sequence[_Token], pairs: list[tuple[int, int]]
) -> bool:
    """ "Lived in Nairobi" / "Lives in Nairobi", "Was a smoker" / "Is a smoker": one verb in the
    past, its match (or the statement's auxiliary) in the present."""
    if any(left[i].word != right[j].word and _past(left[i].word) != _past(right[j].word) for i, j in pairs):
        return True
    aux_a, aux_b = _time_of(a)[2], _time_of(b)[2]
    return bool(aux_a & _PAST_AUX and aux_b & _PRESENT_AUX and not aux_a & _PRESENT_AUX) or bool(
        aux_b & _PAST_AUX and aux_a & _PRESENT_AUX and not aux_b & _PRESENT_AUX
    )


def same_statement(a: str, b: str) -> Verdict:
    """Do two memories say the same thing, word by word? What tells them apart, by rule: one
    negates what the other says; one is past or planned and the other not; a name, number or
    relation only one says; words only one says (more detail); or a word in place of another.
    Verbs ("uses" / "prefers") may differ when both talk about the same kind of attribute."""
    if not compatible(subject_of(a), subject_of(b)):
        return Verdict(False, "about someone else")
    (past_a, future_a, _), (past_b, future_b, _) = _time_of(a), _time_of(b)
    past, future = past_a != past_b, future_a != future_b
    if past or future:
        return Verdict(False, "one says what was" if past else "one says what is planned")
    left, right = _tokens(a), _tokens(b)
    hit_left, pairs, short_in_right = _matched(a, b)
    hit_right, _, short_in_left = _matched(b, a)
    hit_left |= short_in_left
    hit_right |= short_in_right
    if any(left[i].negated != right[j].negated for i, j in pairs):
        return Verdict(False, "one says not, or passes over, what the other says")
    if _tense_differs(a, b, left, right, pairs):
        return Verdict(False, "one says what was")
    same_kind = bool(attributes(a)) and attributes(a) == attributes(b)
    soft = _FILLERS | (_VERBS if same_kind else frozenset())
    only_left = [t for i, t in enumerate(left) if i not in hit_left and stem(t.word) not in soft]
    only_right = [t for i, t in enumerate(right) if i not in hit_right and stem(t.word) not in soft]
    # verbs told apart ("uses" / "prefers"): the same words only if the model agrees it reads so
    verbs = [t for n, t in enumerate(left) if n not in hit_left and stem(t.word) in _VERBS - _FILLERS]
    verbs += [t for n, t in enumerate(right) if n not in hit_right and stem(t.word) in _VERBS - _FILLERS]
    features = {"only_a": float(len(only_left)), "only_b": float(len(only_right)), "other_verbs": float(len(verbs))}
    if named := [t.word for t in only_left + only_right if t.value]:
        return Verdict(False, f"a name, number or relation only one says ({', '.join(named)})", features)
    if not only_left and not only_right:
        return Verdict(True, "the same thing in other words" if verbs else "the same words", features)
    if not only_left or not only_right:
        more = only_right or only_left
        return Verdict(False, f"one says more ({', '.join(t.word for t in more)})", features)
    if len(only_left) == 1 and len(only_right) == 1:
        return Verdict(False, f"one word in place of another ({only_left[0].word} / {only_right[0].word})", features)
    # a rewording keeps most of what each says: past half new words, it is another statement on
    # the same topic ("Yoga is amazing for body and mind" / "Yoga shows what we can do")
    shares = [len(only_left) / max(len(left), 1), len(only_right) / max(len(right), 1)]
    features["reworded_share"] = round(max(shares), 3)
    if max(shares) > LIMITS.reworded_share:
        return Verdict(False, f"mostly other words ({max(shares):.0%} of one side)", features)
    return Verdict(True, "the same thing in other words", features)


# -- which pairs to look at -------------------------------------------------------------------


def close_pairs(
    vectors: np.ndarray, k: int = LIMITS.neighbours, floor: float = LIMITS.near
) -> list[tuple[int, int, float]]:
    """(i, j, cosine) with i < j for each row's k closest rows at or above `floor`; rows are unit
    vectors (a zero row, a memory without one, finds nothing). Blockwise, so 10k rows stay small."""
    import numpy as np  # as the index: only once there are vectors (memcli.memory loads without it)

    found: dict[tuple[int, int], float] = {}
    count = len(vectors)
    if count < 2:
        return []
    take = min(k, count - 1)
    for start in range(0, count, 1024):
        block = vectors[start : start + 1024] @ vectors.T  # (b, n)
        for row in range(block.shape[0]):
            block[row, start + row] = -1.0  # not oneself
        best = np.argpartition(-block, take - 1, axis=1)[:, :take]
        for row, columns in enumerate(best):
            i = start + row
            for j in columns:
                cosine = float(block[row, j])
                if cosine >= floor:
                    found[(min(i, int(j)), max(i, int(j)))] = cosine
    return sorted((i, j, c) for (i, j), c in found.items())


def word_pairs(
    texts: Sequence[str], k: int = LIMITS.neighbours, floor: float = LIMITS.near_words
) -> list[tuple[int, int, float]]:
    """Without a model: (i, j, overlap) for texts sharing content words (Jaccard >= floor),
    each text's k best, found through the words they share (no all-pairs loop)."""
    words = [content_words(t) for t in texts]
    holders: dict[str, list[int]] = {}
    for position, these in enumerate(words):
        for word in these:
            holders.setdefault(word, []).append(position)
    found: dict[tuple[int, int], float] = {}
    for i, these in enumerate(words):
        shared: dict[int, int] = {}
        for word in these:
            row = holders[word]
            if len(row) > 200:  # a word this common says nothing about which two are alike
                continue
            for j in row:
                if j != i:
                    shared[j] = shared.get(j, 0) + 1
        scored = sorted(((n / len(these | words[j]), j) for j, n in shared.items()), reverse=True)[:k]
        for overlap, j in scored:
            if overlap >= floor:
                found[(min(i, j), max(i, j))] = overlap
    return sorted((i, j, o) for (i, j), o in found.items())


# -- restatements and conflicts ---------------------------------------------------------------

Relation = Callable[[str, str], "dict[str, float] | None"]  # the head's {class: p} for (new, stored)


def restatement(a: str, b: str, cosine: float | None, relation: Relation | None = None) -> Verdict:
    """Do two memories state the same fact (so one can go)? Word for word (case, spacing and a
    final dot aside) always; otherwise `same_statement` must find nothing that tells them apart,
    and with a model loaded, a rewording ("the same thing in other words") must be close in meaning
    (>= LIMITS.merge_cosine) and the relation head must take it for a restatement both ways."""
    if squashed(a) == squashed(b):
        return Verdict(True, "word for word the same")
    lexical = same_statement(a, b)
    features = {**lexical.features, "cosine": round(cosine, 4) if cosine is not None else -1.0}
    if not lexical.yes:
        return Verdict(False, lexical.rule, features)
    reworded = lexical.rule != "the same words"
    if reworded and (cosine is None or cosine < LIMITS.merge_cosine):
        return Verdict(False, f"other words, not close enough in meaning (< {LIMITS.merge_cosine})", features)
    for name, (left, right) in (("ab", (a, b)), ("ba", (b, a))):
        probabilities = relation(left, right) if relation is not None else None
        if probabilities is None:
            continue
        features[f"p_restatement_{name}"] = round(probabilities["restatement"], 4)
        features[f"p_update_{name}"] = round(probabilities["update"], 4)
        # the same words (a typo aside) need the head's doubt to be stronger to stop them
        doubt = LIMITS.merge_update if reworded else 0.5
        if probabilities["update"] >= doubt or (reworded and probabilities["restatement"] < LIMITS.merge_restated):
            return Verdict(False, "the relation head takes it for a change", features)
    return Verdict(True, lexical.rule, features)


def conflict(newer: str, older: str, cosine: float | None, relation: Relation | None = None) -> Verdict:
    """Do two current memories give one slot two values (so the newer may replace the older)?
    The rules must say so; with the head loaded, it must agree (P(update) >= LIMITS.conflict)."""
    ruled = compare(Fact.said(newer), Existing("", older), cosine)
    features = {"cosine": round(cosine, 4) if cosine is not None else -1.0, "rules_score": round(ruled.score, 4)}
    if not (ruled.same_slot and ruled.new_value):
        return Verdict(False, ruled.why or "not one slot", features)
    probabilities = relation(newer, older) if relation is not None else None
    if probabilities is not None:
        features["p_update"] = round(probabilities["update"], 4)
        if probabilities["update"] < LIMITS.conflict:
            return Verdict(False, "the relation head doubts it is a change", features)
    return Verdict(True, f"one slot, two values ({ruled.why})", features)


def keeper(texts: Sequence[str], links: Sequence[int], times: Sequence[float]) -> int:
    """Which text of a group of restatements to keep: the one that says most of what the group
    says, then the one with more [[links]], then one written with capitals (as a person writes,
    not "always use pnpm."), then the shorter, then the newer."""
    said_by = [content_words(t) - _FILLERS for t in texts]  # "Basically, …" says nothing more
    union = frozenset().union(*said_by)

    def clarity(position: int) -> tuple[float, int, bool, int, float]:
        text = texts[position]
        said = len(said_by[position] & union) / max(len(union), 1)
        cased = text != text.casefold()
        return (said, links[position], cased, -len(text), times[position])

    return max(range(len(texts)), key=clarity)
