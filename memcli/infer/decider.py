"""How sure a decision must be: the thresholds in one place, and the Judge that scores facts and
(fact, memory) pairs with the learned heads for reconcile and extraction to consult.

Precision before recall: a wrong UPDATE or DELETE destroys a true fact silently, a missed one
leaves two memories that read time orders newer-first and a person or agent can settle. So the
rules propose, the relation head must agree, and where they disagree the new fact is added with
the old one named as a possible conflict.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from memcli.infer.extract import extract
from memcli.infer.heads import Heads, keep_input, relation_input
from memcli.infer.reconcile import PAIR_FEATURES, Comparison, compare, compatible, pair_features, reconcile
from memcli.infer.types import ADD, DELETE, NONE, UPDATE, Decision, Existing, Extraction, Fact, Similarity
from memcli.text.english import content_words, subject_of
from memcli.text.normalize import squashed


@dataclass(frozen=True)
class Thresholds:
    """Every threshold of a memory decision. Chosen on the training data's held-out split and
    the regression case sets (bench/cases), in flat regions; see bench/train_decisions.py."""

    update: float = 0.6  # P(update) a rules' UPDATE needs from the relation head to go ahead
    # the same, when the rules found the slot by a shared word or closeness, not by one attribute
    # or frame: on the lived-in scenarios these were the UPDATEs of unrelated memories
    update_by_word: float = 0.8
    restated: float = 0.8  # P(restatement) at which a rules' UPDATE is taken for a repeat (NONE)
    conflict: float = 0.6  # P(update) at which a pair the rules passed over is shown as a possible conflict
    # ...and how close in meaning it must be as well: the head reads how the new fact is said, and a
    # change said ("we finally moved!!") is no change of every memory it meets. MiniLM puts
    # unrelated short texts at 0.1-0.3; on the lived-in scenarios 17 of 19 such flags under 0.35
    # named an unrelated memory (which the digest then hid as replaced)
    conflict_cosine: float = 0.35
    repeat_doubt: float = 0.6  # P(update) at which a rules' NONE is added with a possible conflict instead
    restate_alone: float = 0.9  # P(restatement) at which the head alone calls a fact already known
    # P(noise) at which the keep head drops a statement the rules kept. Only noise: on the case
    # sets the head's "request" and "hypothetical" took real facts ("Use Poetry for dependencies").
    noise: float = 0.85
    # P(fact) at which the keep head brings back a clause a soft rule dropped (extract.SOFT_RULES):
    # "just turned 35 today" is a fact, "ugh so tired today" (P(fact) 0.00) is not
    keep_doubted: float = 0.9
    # P(update) at which a rules' UPDATE goes ahead though the optional LLM called the fact known
    # or new; below it (or with no model) the two disagree and both memories are kept. On the
    # written case sets 79 of the rules' 82 UPDATEs are this sure (bench/llm_stub.py).
    overrule_llm: float = 0.8


class Judge:
    """The heads applied to one add: facts' vectors by text, memories' vectors by id."""

    def __init__(
        self,
        heads: Heads,
        fact_vectors: dict[str, np.ndarray],
        memory_vectors: dict[str, np.ndarray | None],
        thresholds: Thresholds | None = None,
    ) -> None:
        self.heads = heads
        self.fact_vectors = fact_vectors
        self.memory_vectors = memory_vectors
        self.thresholds = thresholds or Thresholds()
        # (fact text, memory id) -> the pair features the relation head read, for --explain
        self.features: dict[tuple[str, str], dict[str, float]] = {}

    @property
    def weights(self) -> str:
        return self.heads.sha256[:12]

    def kind(self, fact: Fact) -> dict[str, float] | None:
        """What the keep head takes the fact's sentence for ({class: p}), or None without a vector."""
        vector = self.fact_vectors.get(fact.text)
        if vector is None:
            return None
        row = self.heads.keep.probabilities(keep_input(vector[None, :], [fact.sentence]))[0]
        return self.heads.keep.named(row)

    def relation(self, fact: Fact, memory: Existing, comparison: Comparison | None = None) -> dict[str, float] | None:
        """What the relation head takes (fact, memory) for ({class: p}), or None without vectors."""
        new, stored = self.fact_vectors.get(fact.text), self.memory_vectors.get(memory.id)
        if new is None or stored is None:
            return None
        features = pair_features(fact, memory.text, float(new @ stored), memory.about(), comparison)
        self.features[(fact.text, memory.id)] = {n: round(v, 3) for n, v in zip(PAIR_FEATURES, features, strict=True)}
        rules = np.array([features], dtype=np.float32)
        row = self.heads.relation.probabilities(relation_input(rules, new[None, :]))[0]
        return self.heads.relation.named(row)


def relation_by_text(heads: Heads, vectors: dict[str, np.ndarray]) -> Callable[[str, str], dict[str, float] | None]:
    """The relation head over statements known by their text, as consolidation compares stored
    memories with each other: (newer text, older text) -> {class: p}, None without a vector."""
    judge = Judge(heads, vectors, dict(vectors))  # a memory's "id" is its text here

    def relation(new: str, old: str) -> dict[str, float] | None:
        return judge.relation(Fact.said(new), Existing(old, old))

    return relation


def statements(llm: list[Decision]) -> tuple[list[Decision], list[str]]:
    """The LLM's ADD and UPDATE texts as the rules' extraction reads them: a text with one
    lasting fact stays, in the rules' wording of it (for a clean statement, the LLM's own); one with several (a whole message stored as it came,
    as small models do) becomes the rules' statement of each, as an ADD; one with none (noise, a
    question, a hypothetical, a retraction stored as a fact) is dropped. Returns (decisions,
    the reasons for what was dropped)."""
    out: list[Decision] = []
    dropped: list[str] = []
    for decision in llm:
        if decision.event not in (ADD, UPDATE) or not decision.text:
            out.append(decision)
            continue
        read = extract([("user", decision.text)])
        facts = [f.text for f in read.facts] + [r.fallback for r in read.retractions if r.fallback]
        if not facts:
            why = read.dropped[0][1] if read.dropped else "a request to forget" if read.retractions else "nothing"
            dropped.append(f"{decision.event} {decision.text[:60]!r}: the rules find no lasting fact in it ({why})")
        elif len(facts) == 1:  # in the rules' wording, so the rules read it as they read their own facts
            out.append(replace(decision, text=facts[0]))
        else:
            out += [Decision(ADD, text=fact, why="LLM, one statement of several") for fact in facts]
    return out, dropped


def _about_the_same(text: str, other: str) -> bool:
    """Do two statements say something about the same thing (the same slot, or most words)?"""
    words = content_words(text)
    if words and len(words & content_words(other)) / len(words) >= 0.5:
        return True
    return compare(Fact.said(text), Existing("", other), None).same_slot


def _asked_to_forget(extraction: Extraction, memory: Existing) -> bool:
    """Did the message ask to forget something this memory says (by the rules' reading)?"""
    words = content_words(memory.text)
    return any(content_words(r.target) & words for r in extraction.retractions)


@dataclass
class Vetted:
    """The decisions that go ahead, and the LLM decisions dropped, each with its reason."""

    decisions: list[Decision]
    dropped: list[str]


def vetted(
    llm: list[Decision],
    rules: list[Decision],
    extraction: Extraction,
    memories: list[Existing],
    similarity: Similarity,
    judge: Judge | None = None,
) -> Vetted:
    """The optional LLM's decisions through the rules' vetoes and a disagreement check against
    the rules' own decisions for the same message, so it is never trusted further than the rules.

    - An ADD is read by the rules against the memories (`memories`: those shown to the LLM and
      those the rules compared): a restatement is NONE; where the rules see a change to a memory
      the fact is added with that memory as a possible conflict; noise (the keep head) is dropped.
    - An UPDATE goes ahead when the rules agree (their own decision, or their reading of its
      text); one across people, or one the rules see no change in, is added beside the old memory
      as a possible conflict; one that says what the memory says is NONE.
    - A DELETE needs the message to ask to forget that memory (by the rules' reading).
    - Where the rules UPDATE a memory the LLM explicitly left alone (NONE), the fact is added
      with a possible conflict; where the LLM said nothing about it, the rules decide as alone.
      A retraction the rules found goes ahead (a tombstone, reported, as without an LLM).
      A fact the rules keep and the LLM left out is added.
    """
    out, dropped, left_alone = _llm_side(llm, rules, extraction, memories, similarity, judge)
    limit = judge.thresholds.overrule_llm if judge is not None else None
    return Vetted(_rules_side(rules, out, left_alone, limit), dropped)


def _llm_side(
    llm: list[Decision],
    rules: list[Decision],
    extraction: Extraction,
    memories: list[Existing],
    similarity: Similarity,
    judge: Judge | None,
) -> tuple[list[Decision], list[str], set[str]]:
    """Each LLM decision as the rules let it stand: (kept, dropped with reasons, the memories the
    LLM explicitly called known)."""
    rules_on = {d.target.id: d for d in rules if d.target is not None}
    out: list[Decision] = []
    dropped: list[str] = []
    left_alone: set[str] = set()
    for decision in llm:
        text, target = decision.text or "", decision.target
        if decision.event == ADD:
            if any(d.event == ADD and squashed(d.text or "") == squashed(text) for d in out):
                dropped.append(f"ADD {text[:60]!r}: the same text twice in one answer")
            elif (checked := _read_by_rules(text, memories, similarity, judge)) is None:
                dropped.append(f"ADD {text[:60]!r}: the keep head takes it for noise")
            else:
                out.append(checked)
        elif decision.event == UPDATE and target is not None:
            out.append(_checked_update(decision, rules_on.get(target.id), similarity, judge))
        elif decision.event == DELETE and target is not None:
            ruled = rules_on.get(target.id)
            if (ruled is not None and ruled.event in (DELETE, UPDATE)) or _asked_to_forget(extraction, target):
                out.append(Decision(DELETE, target=target, why="LLM; the message asks to forget it"))
            else:
                dropped.append(f"DELETE {target.id}: the rules see no request to forget it in the message")
        elif decision.event == NONE and target is not None:
            left_alone.add(target.id)
            out.append(decision)
    return out, dropped, left_alone


def _sure(ruled: Decision, limit: float | None) -> float | None:
    """How sure the rules are of an UPDATE, when sure enough to go ahead over the LLM: 1.0 for
    the user's own words (a retraction or a correction), else the relation head's P(update)
    when it reaches `limit`; None otherwise (or with no model)."""
    if ruled.trace.get("from") in ("retraction", "correction"):
        return 1.0
    relation = ruled.trace.get("relation")
    if limit is None or ruled.target is None or not isinstance(relation, dict):
        return None
    p = relation.get("update")
    if relation.get("memory") != ruled.target.id or p is None:
        return None
    return float(p) if float(p) >= limit else None


def _names(decision: Decision, memory: Existing) -> bool:
    return any(m.id == memory.id for m, _ in decision.conflicts)


def _rules_side(
    rules: list[Decision], out: list[Decision], left_alone: set[str], limit: float | None
) -> list[Decision]:
    """The rules' own decisions the LLM's do not account for, added to them; a change the rules
    are sure of (the relation head's P(update) >= limit) goes ahead over the LLM's NONE or ADD."""
    acted_on = {d.target.id for d in out if d.target is not None and d.event != NONE}
    acted_on |= {memory.id for d in out for memory, _ in d.conflicts}

    def without_none(memory_id: str) -> list[Decision]:
        return [d for d in out if not (d.event == NONE and d.target and d.target.id == memory_id)]

    for ruled in rules:
        old = ruled.target
        changed = {d.target.id for d in out if d.event in (UPDATE, DELETE) and d.target is not None}
        if ruled.event == UPDATE and old is not None and old.id not in changed and (p := _sure(ruled, limit)):
            out = [
                d
                for d in without_none(old.id)
                if not (d.event == ADD and (_about_the_same(ruled.text or "", d.text or "") or _names(d, old)))
            ]
            out.append(replace(ruled, why=f"{ruled.why} (the rules, sure: P(update) {p:.2f}; the LLM disagreed)"))
            acted_on.add(old.id)
        elif ruled.event == DELETE and old is not None and old.id not in changed:
            out = without_none(old.id)
            for decision in out:  # a memory about to be forgotten is no possible conflict
                decision.conflicts = [(m, p) for m, p in decision.conflicts if m.id != old.id]
            out.append(Decision(DELETE, target=old, why=f"{ruled.why} (the rules; the LLM left it)"))
        elif ruled.event == UPDATE and old is not None and old.id not in acted_on:
            same = next((d for d in out if d.event == ADD and _about_the_same(ruled.text or "", d.text or "")), None)
            if same is not None:  # the LLM added the fact, the rules see it change a memory: kept both
                same.conflicts = [*same.conflicts, (old, 0.5)]
                same.why = f"kept both: the LLM added it, the rules see a change to {old.id} ({ruled.why})"
            elif old.id in left_alone:
                out = without_none(old.id)
                why = f"kept both: the rules see a change to {old.id} ({ruled.why}), the LLM called it known"
                out.append(Decision(ADD, text=ruled.text, why=why, conflicts=[(old, 0.5)]))
            else:  # the LLM said nothing about it: the rules decide as they do alone
                out.append(replace(ruled, why=f"{ruled.why} (the rules; the LLM said nothing of it)"))
        elif ruled.event == ADD and ruled.text and not _covered(ruled.text, out):
            out.append(replace(ruled, why=f"the rules' fact, which the LLM left out ({ruled.why})"))
    return out


def _read_by_rules(text: str, memories: list[Existing], similarity: Similarity, judge: Judge | None) -> Decision | None:
    """An LLM's ADD as the rules read it: NONE for a restatement, an ADD with a possible conflict
    where they see a change, None for noise."""
    for memory in memories:
        if squashed(memory.text) == squashed(text):
            return Decision(NONE, target=memory, why="LLM add of a memory already stored")
    fact = Fact.said(text)
    if judge is not None and (kind := judge.kind(fact)) is not None and kind["noise"] >= judge.thresholds.noise:
        return None
    (ruled,) = reconcile(Extraction(facts=[fact]), memories, similarity, judge)
    if ruled.event == NONE and ruled.target is not None:
        return Decision(NONE, target=ruled.target, why=f"LLM add; the rules: already known ({ruled.why})")
    if ruled.event == UPDATE and ruled.target is not None:
        why = f"kept both: the LLM added it, the rules see a change to {ruled.target.id} ({ruled.why})"
        return Decision(ADD, text=text, why=why, conflicts=[(ruled.target, 0.5)])
    return Decision(ADD, text=text, why="LLM", conflicts=ruled.conflicts, trace=ruled.trace)


def _checked_update(
    decision: Decision, ruled: Decision | None, similarity: Similarity, judge: Judge | None
) -> Decision:
    text, target = decision.text or "", decision.target
    assert target is not None
    if not compatible(subject_of(text), target.about()):
        return Decision(ADD, text=text, why="LLM update about someone else: kept both", conflicts=[(target, 0.5)])
    if ruled is not None and ruled.event == UPDATE:
        return Decision(UPDATE, text=text, target=target, why="LLM; the rules agree")
    (read,) = reconcile(Extraction(facts=[Fact.said(text)]), [target], similarity, judge)
    if read.event == UPDATE:
        return Decision(UPDATE, text=text, target=target, why=f"LLM; the rules agree ({read.why})")
    if read.event == NONE:
        return Decision(NONE, target=target, why="LLM update that says what the memory says")
    why = f"kept both: the LLM saw a change to {target.id}, the rules do not"
    return Decision(ADD, text=text, why=why, conflicts=[(target, 0.5)])


def _covered(text: str, decisions: list[Decision]) -> bool:
    """Does one of the decisions already account for the rules' fact `text`?"""
    for decision in decisions:
        if decision.event in (ADD, UPDATE) and decision.text and _about_the_same(text, decision.text):
            return True
        if decision.event == NONE and decision.target and compare(Fact.said(text), decision.target, None).restates:
            return True
    return False
