"""How sure a decision must be: the thresholds in one place, and the Judge that scores facts and
(fact, memory) pairs with the learned heads for reconcile and extraction to consult.

Precision before recall: a wrong UPDATE or DELETE destroys a true fact silently, a missed one
leaves two memories that read time orders newer-first and a person or agent can settle. So the
rules propose, the relation head must agree, and where they disagree the new fact is added with
the old one named as a possible conflict.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from memcli.infer.heads import Heads, keep_input, relation_input
from memcli.infer.reconcile import Comparison, compatible, pair_features
from memcli.infer.types import ADD, NONE, UPDATE, Decision, Existing, Fact
from memcli.text.english import subject_of


@dataclass(frozen=True)
class Thresholds:
    """Every threshold of a memory decision. Chosen on the training data's held-out split and
    the regression case sets (bench/cases), in flat regions; see bench/train_decisions.py."""

    update: float = 0.6  # P(update) a rules' UPDATE needs from the relation head to go ahead
    restated: float = 0.8  # P(restatement) at which a rules' UPDATE is taken for a repeat (NONE)
    conflict: float = 0.6  # P(update) at which a pair the rules passed over is shown as a possible conflict
    repeat_doubt: float = 0.6  # P(update) at which a rules' NONE is added with a possible conflict instead
    restate_alone: float = 0.9  # P(restatement) at which the head alone calls a fact already known
    # P(noise) at which the keep head drops a statement the rules kept. Only noise: on the case
    # sets the head's "request" and "hypothetical" took real facts ("Use Poetry for dependencies").
    noise: float = 0.85


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
        rules = np.array([features], dtype=np.float32)
        row = self.heads.relation.probabilities(relation_input(rules))[0]
        return self.heads.relation.named(row)


def vetted(decisions: list[Decision], existing: list[Existing]) -> list[Decision]:
    """The optional LLM's decisions through the rules' vetoes, so it is never trusted further than
    the rules: an UPDATE across people (the user's fact against a named someone's) is added
    instead, with the old memory named as a possible conflict; an ADD of a memory already stored
    word for word is NONE."""
    by_text = {" ".join(m.text.casefold().split()): m for m in existing}
    out = []
    for decision in decisions:
        text = decision.text or ""
        if decision.event == UPDATE and decision.target is not None:
            if not compatible(subject_of(text), decision.target.about()):
                decision = Decision(
                    ADD, text=text, why="LLM update about someone else: kept both", conflicts=[(decision.target, 0.5)]
                )
        elif decision.event == ADD and (same := by_text.get(" ".join(text.casefold().split()))) is not None:
            decision = Decision(NONE, target=same, why="LLM add of a memory already stored")
        out.append(decision)
    return out
