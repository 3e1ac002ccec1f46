"""Deciding what an add does to the vault: one `Decider` protocol, two deciders with the same
inputs (the index, the exact scope, the message's turns, its date) and the same output
(`Decided`: one Decision per fact, and --explain's sentences).

- `RulesDecider`: extraction and reconciliation by the rules (infer/extract.py, reconcile.py),
  checked by the learned heads when the model is loaded (infer/decider.py, the Judge).
- `LLMDecider`: the optional OpenAI-compatible LLM, whose decisions the rules vet, never trusting
  it further than the rules (decider.vetted); the rules' own decisions when it gives no usable
  answer.

Writing.add picks one (the LLM's when one is configured and not paused) and applies what it
decides; nothing here writes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from memcli.infer.attributes import attributes
from memcli.infer.extract import extract
from memcli.infer.llm import ChatClient, LLMError
from memcli.infer.reconcile import reconcile
from memcli.infer.types import Decision, Doubted, Existing, Extraction, Fact, Similarity
from memcli.models import MemoryRecord
from memcli.text.english import content_words, known_names, refine_subject, subject_of

if TYPE_CHECKING:
    import numpy as np

    from memcli.index.core import Candidates, SearchIndex
    from memcli.infer.decider import Judge

log = logging.getLogger(__name__)

MAX_COMPARED = 300  # a scope this small is compared whole; a bigger one through search
CANDIDATES_PER_TEXT = 15  # in a big scope: the closest memories by words, and by meaning, per fact
LLM_CANDIDATES = (
    30  # a scope this small is shown to the LLM whole (as the prompt budget allows); a bigger one through search
)


class Decided(NamedTuple):
    """What a decider made of one add."""

    decisions: list[Decision]
    known_vectors: dict[str, np.ndarray]  # the texts embedded on the way (the index reuses them)
    sentences: list[dict[str, Any]]  # --explain: each sentence, kept or dropped, and why
    trace: list[dict[str, str]]  # --explain: what each stage of extraction did, in order


class Decider(Protocol):
    def decide(
        self, index: SearchIndex, exact: Candidates, turns: list[tuple[str, str]], when: str | None
    ) -> Decided: ...


@dataclass
class Reading:
    """What the rules made of one add: the extraction, the texts embedded (and their vectors),
    the search queries, the memories compared, the decisions and --explain's sentences."""

    extraction: Extraction
    texts: list[str]
    vectors: np.ndarray | None
    queries: list[str]
    records: list[MemoryRecord]
    existing: list[Existing]
    decisions: list[Decision]
    sentences: list[dict[str, Any]]

    def known_vectors(self) -> dict[str, np.ndarray]:
        return {} if self.vectors is None else dict(zip(self.texts, self.vectors, strict=True))

    def trace(self) -> list[dict[str, str]]:
        return [step.as_dict() for step in self.extraction.trace]

    def decided(self) -> Decided:
        return Decided(self.decisions, self.known_vectors(), self.sentences, self.trace())


def _dated(when: str | None) -> str | None:
    """ "2026-01-03 (Saturday)": the message's date as the LLM gets it."""
    if not when:
        return None
    try:
        moment = datetime.fromisoformat(when.replace("Z", "+00:00"))
    except ValueError:
        return when
    return f"{moment.date().isoformat()} ({moment.strftime('%A')})"


class RulesDecider:
    """The rules, checked by the learned heads when there is a model."""

    def decide(
        self, index: SearchIndex, exact: Candidates, turns: list[tuple[str, str]], when: str | None = None
    ) -> Decided:
        return self.read(index, exact, turns).decided()

    def read(self, index: SearchIndex, exact: Candidates, turns: list[tuple[str, str]]) -> Reading:
        """The rules' reading of one add, with all it used on the way (the LLM decider vets against it)."""
        extraction = extract(turns)
        texts = [f.text for f in extraction.facts + [d.fact for d in extraction.doubted]]
        texts += [r.target for r in extraction.retractions]
        texts += [r.fallback for r in extraction.retractions if r.fallback]
        vectors = index.embed(texts) if texts else None
        queries = texts + [c.old for c in extraction.corrections]
        # the attribute queries ("home job") have no vector: a zero one would pick k records at random
        queries += [" ".join(sorted(attributes(f.text))) for f in extraction.facts if attributes(f.text)]
        if exact.size <= MAX_COMPARED:
            records = sorted(index.select(exact), key=lambda r: r.time)
        else:  # a big scope: only what is close by words or meaning (or names the same attribute)
            records = index.related(queries, vectors, exact, CANDIDATES_PER_TEXT)
        names = known_names([r.text for r in records])
        existing = [Existing(r.id, r.text, refine_subject(r.text, subject_of(r.text), names)) for r in records]
        for fact in extraction.facts + [d.fact for d in extraction.doubted]:
            fact.subject = refine_subject(fact.text, fact.subject, names)
        judge = judge_for(index, records, texts, vectors)
        sentences = [{"text": text, "kept": False, "why": why} for text, why in extraction.dropped]
        if judge is not None:
            back = brought_back(extraction.doubted, judge, sentences)
            extraction.facts = kept(extraction.facts, judge, sentences)
        else:
            back = []
        sentences += [{"text": f.sentence, "kept": True, "fact": f.text} for f in extraction.facts]
        extraction.facts += back
        decisions = reconcile(extraction, existing, similarity_for(index, records, texts, vectors), judge)
        return Reading(extraction, texts, vectors, queries, records, existing, decisions, sentences)


class LLMDecider:
    """The LLM's decisions, vetted by the rules; the rules' own when it gives no usable answer."""

    def __init__(self, client: ChatClient, rules: RulesDecider | None = None) -> None:
        self.client = client
        self.rules = rules or RulesDecider()

    def decide(
        self, index: SearchIndex, exact: Candidates, turns: list[tuple[str, str]], when: str | None = None
    ) -> Decided:
        reading = self.rules.read(index, exact, turns)
        return self._asked(index, exact, turns, reading, when) or reading.decided()

    def _asked(
        self, index: SearchIndex, exact: Candidates, turns: list[tuple[str, str]], rules: Reading, when: str | None
    ) -> Decided | None:
        """The LLM's decisions, vetted by the rules; None when it gave no usable answer."""
        import numpy as np  # as the index and the heads: only on this path

        from memcli.infer.decider import statements, vetted

        records = llm_candidates(index, exact, turns, rules)
        names = known_names([r.text for r in records])
        candidates = [Existing(r.id, r.text, refine_subject(r.text, subject_of(r.text), names)) for r in records]
        try:
            answer = self.client.decide(turns, candidates, _dated(when))
        except LLMError as err:
            log.warning(f"mem: the LLM failed ({err}); using the built-in extraction")
            return None
        decisions, unstated = statements(answer.decisions)
        said = [d.text for d in decisions if d.text and d.text not in rules.texts]
        said = list(dict.fromkeys(said))
        more = index.embed(said) if said else None
        texts, vectors = rules.texts, rules.vectors
        if more is not None:
            texts, vectors = texts + said, more if vectors is None else np.concatenate([vectors, more])
        seen = {r.id for r in rules.records}
        pool = rules.records + [r for r in records if r.id not in seen]
        judge = judge_for(index, pool, texts, vectors)
        shown_ids = {m.id for m in answer.shown}
        memories = rules.existing + [m for m in candidates if m.id in shown_ids and m.id not in seen]
        result = vetted(
            decisions,
            rules.decisions,
            rules.extraction,
            memories,
            similarity_for(index, pool, texts, vectors),
            judge,
        )
        dropped = answer.dropped + unstated + result.dropped
        if dropped:
            log.warning(f"mem: {len(dropped)} of the LLM's decisions dropped, the rest kept: {'; '.join(dropped)}")
        sentences = rules.sentences + [
            {"text": why, "kept": False, "why": "an LLM decision dropped"} for why in dropped
        ]
        known = {} if vectors is None else dict(zip(texts, vectors, strict=True))
        return Decided(result.decisions, known, sentences, rules.trace())


def judge_for(
    index: SearchIndex, records: list[MemoryRecord], texts: list[str], vectors: np.ndarray | None
) -> Judge | None:
    """The learned heads for this add, when there is a model (their input is its vectors)."""
    from memcli.infer import decider, heads  # numpy, as the index: only once there is a model

    loaded = heads.load()
    if loaded is None or vectors is None:
        return None
    memory_vectors = {r.id: index.vector_of(r.id) for r in records}
    return decider.Judge(loaded, dict(zip(texts, vectors, strict=True)), memory_vectors)


def kept(facts: list[Fact], judge: Judge, sentences: list[dict[str, Any]]) -> list[Fact]:
    """The facts the keep head takes for noise (greetings, thanks, small talk) with P >=
    thresholds.noise are dropped; questions, requests and retractions stay the rules' to read."""
    kept = []
    for fact in facts:
        probabilities = judge.kind(fact)
        if probabilities is not None and probabilities["noise"] >= judge.thresholds.noise:
            sentences.append({"text": fact.sentence, "kept": False, "why": "the model: noise", "p": probabilities})
            continue
        kept.append(fact)
    return kept


def brought_back(doubted: list[Doubted], judge: Judge, sentences: list[dict[str, Any]]) -> list[Fact]:
    """The facts a soft rule dropped that the keep head takes for a lasting fact with P >=
    thresholds.keep_doubted ("just turned 35 today"); the rest stay dropped, with the rule's name."""
    back = []
    for fact, rule, clause in doubted:
        probabilities = judge.kind(fact)
        if probabilities is None:
            continue
        sure = probabilities["fact"] >= judge.thresholds.keep_doubted
        if sure:
            back.append(fact)
        for sentence in sentences:
            if not sentence["kept"] and sentence["why"] == rule and sentence["text"] == clause and "p" not in sentence:
                # the head's numbers are shown either way: why it stayed dropped is explained too
                if sure:
                    sentence.update(kept=True, fact=fact.text, why=f"the model overrules {rule!r}")
                sentence["p"] = probabilities
                break
    return back


def similarity_for(
    index: SearchIndex, records: list[MemoryRecord], texts: list[str], vectors: np.ndarray | None
) -> Similarity:
    if vectors is None:
        return lambda text, memory_id: None
    by_text = dict(zip(texts, vectors, strict=True))
    stored = {r.id: index.vector_of(r.id) for r in records}

    def similarity(text: str, memory_id: str) -> float | None:
        left, right = by_text.get(text), stored.get(memory_id)
        return None if left is None or right is None else float(left @ right)

    return similarity


def llm_candidates(
    index: SearchIndex, exact: Candidates, turns: list[tuple[str, str]], rules: Reading
) -> list[MemoryRecord]:
    """The memories to show the LLM, most relevant first (the prompt budget cuts from the
    end): those the rules' decisions name, then what the same retrieval as the rules' (words
    and meaning) finds for the facts and for the user's own words."""
    import numpy as np  # as the index: loaded already

    said = " ".join(text for role, text in turns if role == "user") or " ".join(text for _, text in turns)
    if exact.size <= LLM_CANDIDATES:
        records = index.select(exact)
        query_vectors = rules.vectors
    else:
        said_vector = index.embed([said])
        texts = rules.texts + [said]
        if rules.vectors is not None and said_vector is not None:
            query_vectors = np.concatenate([rules.vectors, said_vector])
        else:  # without vectors for every text, meaning is looked up for none (they are positional)
            query_vectors = None
        queries = texts + rules.queries[len(rules.texts) :]
        records = index.related(queries, query_vectors, exact, CANDIDATES_PER_TEXT)
    named = [d.target.id for d in rules.decisions if d.target is not None]
    named += [m.id for d in rules.decisions for m, _ in d.conflicts]
    first = {memory_id: number for number, memory_id in enumerate(dict.fromkeys(named))}
    said_words = content_words(said)

    def closeness(record: MemoryRecord) -> tuple[int, float, int, float]:
        cosine = 0.0
        vector = index.vector_of(record.id) if query_vectors is not None else None
        if vector is not None and query_vectors is not None:
            cosine = float(np.max(query_vectors @ vector))
        overlap = len(said_words & content_words(record.text))
        return (-first.get(record.id, len(first)), cosine, overlap, record.time)

    return sorted(records, key=closeness, reverse=True)
