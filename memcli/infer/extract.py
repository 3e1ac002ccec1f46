"""Facts out of text or a conversation, with no model: a pipeline of named stages.

`extract()` reads each user turn in stages, each a list of named rules (rules.py holds them
with their examples), and records what every stage did in a trace (`Extraction.trace`, shown by
`mem add --explain`):

1. **segment**: the turn into sentences (one that leans on the one before is joined to it; a
   retraction followed by a new fact is cut in two), labels and openers off ("Big news: …"),
   then each sentence into clauses that stand on their own;
2. **correct**: a value fixed as soon as it is given ("it's the 5th, not the 3rd") puts right the
   fact of this message it names, or is left for the stored memories;
3. **retract**: "forget…", "I no longer…", "the band is over": what to forget;
4. **drop**: what holds no lasting fact: greetings, questions, moods, hypotheticals, other
   people's opinions, one-off requests; everything the assistant said is context only;
5. **rewrite**: the normal form for a list ("I prefer pnpm" -> "Prefers pnpm"), only when sure;
6. **keep**: a fact once per message; a later value in the same message replaces the earlier.

Drafts are immutable: a stage reads one and decides it or hands on a new one. Pure text in, data
out; reconcile.py decides what each fact does to the vault.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any

from memcli.infer.rules import (
    SOFT_RULES,
    correction,
    is_question,
    retraction,
    sentence_dropped,
    statement_before_question,
    strip_label,
    why_dropped,
)
from memcli.infer.types import Correction, Doubted, Extraction, Fact, Step
from memcli.text.english import (
    ANAPHORIC_TARGET,
    META_TAIL,
    NOT_NAMES,
    PRONOUN_SUBJECT,
    SARCASM,
    SELF_TALK,
    content_words,
    front_phrase_last,
    has_verb,
    normalised,
    proper_nouns,
    relations_named,
    sentences,
    spelled_out,
    subject_of,
    subject_span,
)
from memcli.text.normalize import fold

STAGES = ("segment", "correct", "retract", "drop", "rewrite", "keep")


@dataclass(frozen=True)
class Draft:
    """One sentence of a user turn on its way through the stages."""

    raw: str  # as segmented: what the trace and --explain quote
    text: str  # what the next stage reads (label and openers off)
    turn: str  # the whole turn it came from
    note: bool = False  # a short text typed on its own: verbless is fine ("Allergic to penicillin")


class _Reading:
    """What the stages share while they read one conversation."""

    def __init__(self) -> None:
        self.result = Extraction()
        self.context: list[str] = []  # what the user said so far: resolves "forget the whole thing"
        self.person: str | None = None  # who "he"/"she" is: the last person named as a subject
        self.last_assistant = ""
        self.asked_to_recall = False  # "remember that application I told you about?": the answer names it
        self.correcting = False  # the sentence before said "I read it backwards": no "oops" needed

    def step(self, stage: str, rule: str, text: str, out: str = "") -> None:
        self.result.trace.append(Step(stage, rule, text, out))

    def drop(self, stage: str, rule: str, text: str) -> None:
        self.result.dropped.append((text, rule))
        self.step(stage, rule, text)

    def heard(self, content: str) -> None:
        """An assistant turn: it says what to forget only when the user asked it to recall."""
        self.last_assistant = content
        if self.asked_to_recall:
            self.context.append(content)
        self.asked_to_recall = False


def turns_of(messages: Any) -> list[tuple[str, str]]:
    """(role, text) pairs from a string, Mem0-style messages or (role, text) pairs."""
    if isinstance(messages, str):
        return [("user", messages)]
    return [
        (str(m.get("role", "user")), str(m.get("content", ""))) if isinstance(m, dict) else (str(m[0]), str(m[1]))
        for m in messages
    ]


def extract(messages: Any) -> Extraction:
    """Facts, retractions and corrections in what the user said, with the trace of every stage."""
    turns = turns_of(messages)
    reading = _Reading()
    for role, content in turns:
        if role != "user":
            reading.heard(content)
            continue
        parts = segment(content)
        note = len(turns) == 1 and len(parts) == 1  # a note typed on its own: its words are what to keep
        reading.correcting = False
        for raw, rule in parts:
            reading.step("segment", rule, raw)
            draft = Draft(raw, strip_label(raw), content, note)
            if draft.text != raw.strip():
                reading.step("segment", "a label or opener", raw, draft.text)
            if not (_correct(reading, draft) or _retract(reading, draft)):
                reading.context.append(raw)
                _drop_and_rewrite(reading, draft)
    return reading.result


# -- 1. segment ----------------------------------------------------------------------------------


# The segment rules, each with what it must make of a turn (tests/test_extract.py runs them all).
SEGMENTS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "a sentence": (("I live in Porto. I use vim.", ("I live in Porto.", "I use vim.")),),
    "joined: leans on the sentence before": (
        (
            "the dentist called again. they need to push it to the 19th.",
            ("the dentist called again; they need to push it to the 19th.",),
        ),
    ),
    "cut: a retraction, then a new fact": (
        ("I'm not on nights any more: since May I work days", ("I'm not on nights any more", "since May I work days")),
    ),
}


def segment(content: str) -> list[tuple[str, str]]:
    """A user turn as sentences, each with the segment rule that made it."""
    parts = [(part, "a sentence") for part in sentences(spelled_out(content))]
    return _split_retractions(_merge_anaphora(parts))


def _merge_anaphora(parts: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """'the dentist called again. they need to push it to the 19th.' is one statement."""
    merged: list[tuple[str, str]] = []
    for part, rule in parts:
        leans = re.match(r"^(they|it|that|this|there|which)\b(?!'s (the|a)\b)", part, re.IGNORECASE) or re.match(
            r"^(?:[^,.]{0,25},\s*|(?:now|so|and|but|then)\s+)(they|it)(?:'re|'s| are| is)\b", part, re.IGNORECASE
        )
        if merged and leans and not retraction(part) and not correction(part) and not is_question(merged[-1][0]):
            merged[-1] = (f"{merged[-1][0].rstrip('.!')}; {part}", "joined: leans on the sentence before")
        else:
            merged.append((part, rule))
    return merged


def _split_retractions(parts: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """ "I'm not on nights any more: since May I work days" is a retraction and a new fact."""
    out: list[tuple[str, str]] = []
    for part, rule in parts:
        left, _, right = (re.split(r"(?<=\w)([:;])\s+", part, maxsplit=1) + ["", ""])[:3]
        if right and retraction(left) and has_verb(right) and not retraction(right):
            out += [(left, "cut: a retraction, then a new fact"), (right, "cut: a retraction, then a new fact")]
        else:
            out.append((part, rule))
    return out


_CLAUSE_SPLIT = re.compile(
    r"(?:,\s*(?:and|but)?\s*|\s+and\s+)(?=(?:i|i'm|i've|i'd|we|we're|we've|my|our)\b)|,\s+(?:and\s+)?(?=(?!(?:he|she|they|it|her|his|its|their)\b)[a-z])",
    re.IGNORECASE,
)
_THIRD_PERSON_AND = re.compile(
    r"\s+and\s+(?=(?:is|has|was|lives|works|owns|teaches|studies|plays|runs|leads|uses|prefers|loves|likes|"
    r"hates|speaks|writes|drives|goes|does|turned|moved|started|got|became)\b|(?!(?:mon|tues|wednes|thurs|fri|satur|sun)days?\b)[a-z]+[^s\W]s\s+"
    r"(?:her|his|their|the|a|an|my|our|to|in|on|at|by|with|for|up|out|every)\b)",
)


def clauses(sentence: str) -> list[str]:
    """Split a sentence into independent statements, only where both sides stand on their own:
    "I write Go, I edit in Neovim, and I'm lactose intolerant" -> three; "office days are
    Tuesday, Wednesday and Thursday" stays one."""
    pieces: list[str] = []
    start = 0
    for match in _CLAUSE_SPLIT.finditer(sentence):
        left, right = sentence[start : match.start()], sentence[match.end() :]
        if (
            _independent(left)
            and _independent(right.split(",")[0])
            and not right[:1].isupper()
            or (_independent(left) and PRONOUN_SUBJECT.match(right.strip()) and _independent(right.split(",")[0]))
        ):
            pieces.append(left.strip())
            start = match.end()
    pieces.append(sentence[start:].strip())
    out: list[str] = []
    for piece in pieces:
        out.extend(_split_shared_subject(piece))
    return [p for p in out if p]


def _independent(text: str) -> bool:
    if re.fullmatch(r"\s*(?i:i'm|i am|my name is)\s+[A-Z][\w-]+(?:\s+[A-Z][\w-]+)?\s*", text):
        return True  # "i'm Tavita, i teach chemistry": an introduction stands on its own
    if re.search(r"\b(otherwise|too|as well|though|anyway)\W*$", text, re.IGNORECASE):
        return False  # leans on the clause before it
    return (
        has_verb(text)
        and len(content_words(text)) >= 2
        and not re.match(
            r"^\s*(so|but|which|that|because|since|who|although|though|unless|until|while|when|if|as|then|starting|from|\w+ing)\b",
            text,
            re.IGNORECASE,
        )
    )


def _split_shared_subject(clause: str) -> list[str]:
    """'My sister Gabriela lives in Valencia and works as a pharmacist' -> two statements about Gabriela."""
    match = _THIRD_PERSON_AND.search(clause)
    if not match:
        return [clause]
    head = clause[: match.start()]
    subject = subject_span(head)
    if not subject or PRONOUN_SUBJECT.match(subject):
        return [clause]
    return [head.strip(), f"{subject} {clause[match.end() :].strip()}"]


# -- 2. correct ----------------------------------------------------------------------------------


def _correct(reading: _Reading, draft: Draft) -> bool:
    """A value put right: in a fact of this message, or left for the stored memories."""
    facts = reading.result.facts
    fixed = attribute_correction(draft.text, facts, reading.correcting)
    if fixed:
        reading.step("correct", "a value put right in this message", draft.raw, fixed)
        return True
    reading.correcting = bool(
        SELF_TALK.search(draft.text)
        or re.match(r"^\W*(?:oops|sorry|wait|hang on|hold on|correction)\b", draft.text, re.IGNORECASE)
    )
    fix = correction(draft.text)
    if not fix:
        return False
    fixed = _apply_correction(fix, facts)
    if fixed:
        reading.step("correct", fix.rule, draft.raw, fixed)
    else:
        reading.result.corrections.append(fix)  # about something stored earlier
        reading.step("correct", f"{fix.rule}: for the stored memories", draft.raw, f"{fix.new} in place of {fix.old}")
    return True


_FIXED_ATTRIBUTE = re.compile(
    r"^(?:(?:oops|sorry|wait|actually|correction|my bad|no|oh|hang on|hold on)[,!.:\s]+)+(?:the\s+|my\s+)?(?P<attr>[a-z][\w\s-]{1,30}?)\s+"
    r"(?:is|was|should be|'s)\s+(?:actually\s+)?(?P<new>[\w:./-]+)",
    re.IGNORECASE,
)


def attribute_correction(sentence: str, facts: list[Fact], correcting: bool = False) -> str | None:
    """'oops, the room number is 215' after 'Hotel X, room 512': fix the value in place and return
    the fact as it now reads. With `correcting` (the sentence before was "I read it backwards") no
    "oops" is needed."""
    text = sentence.strip()
    match = _FIXED_ATTRIBUTE.match(text) or (correcting and _FIXED_ATTRIBUTE.match(f"actually, {text}"))
    if not match:
        return None
    new = match.group("new").rstrip(".,;:!?")
    for word in reversed(match.group("attr").split()):
        stem_ = re.escape(word[:3]) + r"\w*" if len(word) > 3 else re.escape(word)  # "reference" finds "ref"
        pattern = re.compile(rf"\b{stem_}\s+(?:number\s+|no\.?\s+|#)?(?P<old>[\w:./-]*\d[\w:./-]*)", re.IGNORECASE)
        fixed = _swap_latest(facts, pattern, new)
        if fixed:
            return fixed
    return None


def _apply_correction(fix: Correction, facts: list[Fact]) -> str | None:
    """Replace the old value in the latest fact of this message that has it; that fact's new text."""
    for old in (fix.old, re.sub(r"^the\s+", "", fix.old, flags=re.IGNORECASE)):
        new = fix.new if old == fix.old else re.sub(r"^the\s+", "", fix.new, flags=re.IGNORECASE)
        fixed = _swap_latest(facts, re.compile(f"(?P<old>{re.escape(old)})", re.IGNORECASE), new) if old else None
        if fixed:
            return fixed
    return None


def _swap_latest(facts: list[Fact], pattern: re.Pattern[str], new: str, unless_same: bool = False) -> str | None:
    """Put `new` in place of the `old` group of `pattern` in the latest fact that has it (one
    that already says `new` does not count when `unless_same`). The changed fact's text, or None."""
    for i in range(len(facts) - 1, -1, -1):
        fact = facts[i]
        found = pattern.search(fact.text)
        if found and not (unless_same and found.group("old") == new):
            facts[i] = replace(fact, text=fact.text[: found.start("old")] + new + fact.text[found.end("old") :])
            return facts[i].text
    return None


# -- 3. retract -----------------------------------------------------------------------------------


def _retract(reading: _Reading, draft: Draft) -> bool:
    """A request to forget (rules.RETRACT_RULES); "forget that" takes its target from the conversation."""
    found = retraction(draft.text)
    if not found:
        return False
    if ANAPHORIC_TARGET.match(found.target or "it") or not content_words(found.target):
        if not reading.context:  # "forget that" with nothing the user said before: nothing to forget
            reading.drop("retract", "a retraction of nothing the user said", draft.raw)
            return True
        found = replace(found, target=" ".join(reading.context[-3:] + [draft.text]), sweeping=False)
    reading.result.retractions.append(found)
    reading.context.append(draft.raw)
    reading.step("retract", found.rule, draft.raw, found.target)
    return True


# -- 4. drop, 5. rewrite, 6. keep -----------------------------------------------------------------


def _drop_and_rewrite(reading: _Reading, draft: Draft) -> None:
    """The sentence's drop rules, then each clause's, then the normal form of what is left."""
    sentence = draft.text
    if SARCASM.search(draft.raw):
        reading.drop("drop", "sarcasm", draft.raw)
        return
    if is_question(sentence) and re.match(r"^(?:do you |you )?(?:remember|recall|know)\b", sentence, re.IGNORECASE):
        reading.asked_to_recall = True
    choice = _chosen(sentence, reading.last_assistant, reading.result.facts)
    if choice:  # "the Tatras sound perfect" after the assistant offered "the High Tatras"
        _keep(
            reading,
            Fact(text=choice, sentence=draft.raw, subject=frozenset({"@user"})),
            "the assistant's suggestion, picked",
        )
        return
    reason = sentence_dropped(sentence)
    kept = False
    if reason:
        reading.drop("drop", reason, draft.raw)
    else:
        before = statement_before_question(sentence)
        if before:
            reading.step("segment", "the statement before a question", draft.raw, before)
            sentence = before
        parts = clauses(META_TAIL.sub("", sentence).strip())
        for clause in parts:
            if len(parts) > 1:
                reading.step("segment", "a clause", clause)
            kept |= _clause(reading, draft, front_phrase_last(clause))
    if not kept:  # "my cat Miso knocked a plant over again": the anecdote goes, Miso stays
        for rel, name in relations_named(sentence):
            fact = Fact(
                text=f"{rel.capitalize()} is called {name}",
                sentence=draft.raw,
                subject=frozenset({"@relation", fold(name.strip("[]"))}),
            )
            _keep(reading, fact, "a name kept when the anecdote goes")


def _clause(reading: _Reading, draft: Draft, clause: str) -> bool:
    """One clause through the drop rules and the rewrite; True when it was kept as a new fact."""
    reason = why_dropped(clause, draft.note)
    if reason and reason not in SOFT_RULES:
        reading.drop("drop", reason, clause)
        return False
    reading.person = _person_named(clause) or reading.person
    text, rule = normalised(clause, reading.person)
    if text and text != draft.turn.strip().rstrip(".!"):  # not the user's words as typed: a list item
        text = text[:1].upper() + text[1:]
    if not (text and content_words(text)):
        if reason:
            reading.drop("drop", reason, clause)
        else:
            reading.step("rewrite", "no words left", clause)
        return False
    about = text if re.match(r"^(he|she)\b", clause, re.IGNORECASE) else clause
    fact = Fact(text=text, sentence=draft.raw, subject=subject_of(about))
    reading.step("rewrite", rule, clause, text)
    if reason:  # a soft rule's drop: the keep head may bring it back
        reading.result.doubted.append(Doubted(fact, reason, clause))
        reading.drop("drop", reason, clause)
        return False
    return _keep(reading, fact)


def _keep(reading: _Reading, fact: Fact, rule: str = "a new fact") -> bool:
    """Keep a fact once per message; a later value of the same thing replaces the earlier one."""
    facts = reading.result.facts
    if not re.search(r"[^\W\d_]{2}", fact.text):  # "1", "* *": no words, no fact
        reading.step("keep", "no words", fact.text)
        return False
    if any(f.text.casefold() == fact.text.casefold() for f in facts):
        reading.step("keep", "said twice in this message", fact.text)
        return False
    updated = _update_earlier(facts, fact)
    if updated:
        reading.step("keep", "a new value for a fact of this message", fact.text, updated)
        return False
    facts.append(fact)
    reading.step("keep", rule, fact.sentence, fact.text)
    return True


_NOUN_VALUE = re.compile(r"\b([a-z]{3,})\s+(?:number\s+|no\.?\s*|#)?(\d[\w-]*)\b", re.IGNORECASE)
_NOW = re.compile(r"\b(now|instead|actually|upgraded|downgraded|changed|moved|switched)\b", re.IGNORECASE)


def _update_earlier(facts: list[Fact], fact: Fact) -> str | None:
    """'…room 312.' then 'we got upgraded, so it's room 508 now': fix the earlier fact of this
    message instead of keeping both. The earlier fact's new text when the new one was folded in."""
    if not _NOW.search(fact.text):
        return None
    changed = None
    for noun, value in _NOUN_VALUE.findall(fact.text):
        pattern = re.compile(rf"\b{re.escape(noun)}\s+(?:number\s+|no\.?\s*|#)?(?P<old>\d[\w-]*)\b", re.IGNORECASE)
        changed = _swap_latest(facts, pattern, value, unless_same=True) or changed
    return changed


_REACTION = re.compile(
    r"^(?:(?:oh|ooh|ok|okay|yes|yeah|hmm|wow)[,!\s]+)*(?:the\s+)?(?P<x>[\w' -]{2,40}?)\s+(?:sounds?|looks?|seems?)\s+"
    r"(?:really\s+|so\s+)?(?:perfect|great|good|ideal|amazing|lovely|nice|best|right)\b"
    r"|^(?:let'?s|i'?ll|we'?ll)\s+(?:go with|take|do|book|pick|choose)\s+(?:the\s+)?(?P<y>[\w' -]{2,40}?)[.!]*$",
    re.IGNORECASE,
)
_PLAN = re.compile(
    r"\b(?:plan(?:ning)?|organi[sz]ing|looking for|booking)\s+(?P<obj>(?:a|an|the|my|our)\s+[^,.;]+)", re.IGNORECASE
)


def _chosen(sentence: str, offered: str, facts: list[Fact]) -> str | None:
    """A reaction that picks one of the assistant's suggestions, as a fact: "Is considering the
    High Tatras for a long weekend away in October". Only what the assistant named counts."""
    match = _REACTION.match(sentence.strip())
    if not match or not offered:
        return None
    picked = (match.group("x") or match.group("y") or "").strip()
    if not picked or fold(picked) in NOT_NAMES | {"that", "this", "it", "all", "everything"}:
        return None
    head = picked.split()[-1]
    named = re.search(rf"(?:\b[Tt]he\s+)?(?:[A-Z][\w'-]*\s+){{0,3}}(?i:{re.escape(head)})\b", offered)
    if not named or not any(w[:1].isupper() for w in named.group(0).split()):
        return None
    plan = next((m.group("obj").strip() for f in facts for m in [_PLAN.search(f.text)] if m), None)
    return f"Is considering {named.group(0).strip()}" + (f" for {plan}" if plan else "")


def _person_named(clause: str) -> str | None:
    """The person a clause names as its subject or as the user's relation ('my mentor is X')."""
    for _, name in relations_named(clause):
        return name
    span = subject_span(clause)
    links = re.findall(r"\[\[[^\]]+\]\]", span)
    if links:
        return links[0]
    names = proper_nouns(span, initial=True) if span and not PRONOUN_SUBJECT.match(span) else []
    return names[0] if names else None
