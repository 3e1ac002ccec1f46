"""What inference works with, and what it decides: facts drawn from what the user said, the
memories they may touch, and one decision per fact (ADD / UPDATE / DELETE / NONE) with its reason.
Plain data shared by extract, reconcile and the LLM path."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from memcli.text.english import subject_of

ADD, UPDATE, DELETE, NONE = "ADD", "UPDATE", "DELETE", "NONE"


@dataclass
class Fact:
    """One statement to remember, normalised to read well in a list ("Prefers pnpm over npm")."""

    text: str
    sentence: str  # the user's words it came from
    subject: frozenset[str] = frozenset()  # who or what it is about (see `subject_of`)

    @classmethod
    def said(cls, text: str) -> Fact:
        """A statement on its own: its own sentence, its subject read from its words."""
        return cls(text=text, sentence=text, subject=subject_of(text))


@dataclass
class Retraction:
    """The user asked to forget something: `target` says what (words to match)."""

    target: str
    sentence: str
    sweeping: bool = False  # "anything about…": every match, not only the best
    fallback: str | None = None  # "No longer plays in a band": kept when nothing matched, else the new text
    replaces: bool = True  # False: a match is deleted, and `fallback` is kept only when nothing matched
    keep: str | None = None  # "…but keep the note about the orchids": that part stays
    rule: str = ""  # the rule that read it (rules.RETRACT_RULES)


@dataclass
class Correction:
    """ "It's the 21st, not the 12th": replace `old` with `new` in what was just said (or stored)."""

    old: str
    new: str
    sentence: str
    rule: str = ""  # the rule that read it (rules.CORRECT_RULES)


class Doubted(NamedTuple):
    """A fact a soft rule dropped (extract.SOFT_RULES): the keep head may bring it back."""

    fact: Fact
    rule: str  # the soft rule that dropped it
    clause: str  # the words it dropped (as --explain lists them)


@dataclass(frozen=True)
class Step:
    """What one stage of extraction did with one piece of what the user said: --explain's trace."""

    stage: str  # segment, correct, retract, drop, rewrite, keep (extract.STAGES, in that order)
    rule: str  # the named rule that acted
    text: str  # the piece it read
    out: str = ""  # what came of it: a fact, what to forget, the value put right

    def as_dict(self) -> dict[str, str]:
        return {"stage": self.stage, "rule": self.rule, "text": self.text, **({"out": self.out} if self.out else {})}


@dataclass
class Extraction:
    facts: list[Fact] = field(default_factory=list)
    retractions: list[Retraction] = field(default_factory=list)
    corrections: list[Correction] = field(default_factory=list)  # left for stored memories
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (sentence, why) for --explain
    # facts a soft rule dropped ("of the moment": "just turned 35 today"), with the rule's name:
    # the keep head may bring one back when it is sure it is a lasting fact (decider.Thresholds)
    doubted: list[Doubted] = field(default_factory=list)
    trace: list[Step] = field(default_factory=list)  # every stage's verdict, in order


@dataclass
class Existing:
    """A current memory of the same scope, as the reconciler sees it."""

    id: str
    text: str
    subject: frozenset[str] | None = None  # who it is about, when the caller knows better than its words

    def about(self) -> frozenset[str]:
        return self.subject if self.subject is not None else subject_of(self.text)


@dataclass
class Decision:
    event: str
    text: str | None = None  # the memory's new text (ADD, UPDATE)
    target: Existing | None = None  # the memory it acts on (UPDATE, DELETE, NONE)
    why: str = ""
    # an ADD that may replace these (the evidence was not strong enough to UPDATE): (memory, score)
    conflicts: list[tuple[Existing, float]] = field(default_factory=list)
    trace: dict[str, object] = field(default_factory=dict)  # the features and numbers behind it (--explain)


Similarity = Callable[[str, str], "float | None"]  # (new text, existing id) -> cosine, None without a model


class Judging(Protocol):
    """What reconcile asks of the learned heads (decider.Judge): a pair's relation, and how sure
    each outcome must be. Absent (None) when there is no model: the rules decide alone."""

    @property
    def thresholds(self) -> Any: ...

    @property
    def weights(self) -> str: ...  # which heads decided: the first 12 hex digits of heads.npz's sha256

    @property
    def features(self) -> dict[tuple[str, str], dict[str, float]]: ...  # (fact, memory id) -> what it read

    def relation(self, fact: Fact, memory: Existing, comparison: Any = None) -> dict[str, float] | None: ...
