"""What each extracted fact does to the vault: ADD, UPDATE (supersede), DELETE or NONE.

Pure: the service hands in the extraction, the current memories of exactly the same scope
(scopes never supersede each other) and, when a model is loaded, a similarity function.

Two statements are about the same thing ("slot") when their subjects can be the same (the user;
the same named person or thing) and either they talk about the same kind of attribute (where
someone lives, works, what they eat, which editor or package manager they use, which team they
lead…), or they share a topic word and give it different values (standup at 9:30 / 10:00), or
the model finds them close. Same slot + a new value or a change word -> UPDATE; same slot and
nothing new -> NONE; otherwise ADD.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from functools import lru_cache

from memcli.infer.attributes import answers, attributes
from memcli.infer.rules import retraction as retraction_of
from memcli.infer.types import ADD, DELETE, NONE, UPDATE, Decision, Existing, Extraction, Fact, Judging, Similarity
from memcli.text import lexicon
from memcli.text.english import (
    DAYS,
    MONTHS,
    RELATIONS,
    content_words,
    normalise,
    proper_nouns,
    subject_of,
    subject_span,
    values,
)
from memcli.text.normalize import fold

CHANGE = re.compile(
    r"\b(now|new|no longer|anymore|any more|moved|switched|changed|migrated|rewrote|rewritten|replaced|relocated|transferred|swapped|traded|promoted|renamed|rebranded|ported|transitioned|"
    r"since|from now on|these days|nowadays|as of|starting|from \w+ on|instead|zero|quit|stopped|started|"
    r"rescheduled|push(?:ed)? it|became|upgrad\w+|downgrad\w+|currently|cutover|cut over|retired|gave up|"
    r"no more|picked up|got a new|finished|joined|left|graduated|slipp\w+|delayed|postponed|pushed back|brought forward|moved up|extended|from (?:next \w+|(?:jan|febr)uary|march|april|may|june|july|august|september|"
    r"october|november|december|monday|tuesday|wednesday|thursday|friday|saturday|sunday))\b",
    re.IGNORECASE,
)
ALSO = re.compile(r"\b(also|too|as well|another|second|additionally|in addition)\b", re.IGNORECASE)
CHANGE_COSINE = 0.45  # with a change word, this close in meaning is the same subject matter


def _no_model(text: str, memory_id: str) -> float | None:
    return None


def compatible(a: frozenset[str], b: frozenset[str]) -> bool:
    """Can two statements be about the same someone? Names must meet; the user is not their sister."""
    if ("@user" in a and "@acts" in b) or ("@user" in b and "@acts" in a):  # the user is not their mum
        return False
    names_a, names_b = a - {"@user", "@relation", "@acts"}, b - {"@user", "@relation", "@acts"}
    if names_a and names_b:  # 'PR' is 'Deadlift PR'; 'Project Thistle' is not 'Project Bramble'
        return any(
            set(x.split()) <= set(y.split()) or set(y.split()) <= set(x.split()) for x in names_a for y in names_b
        )
    # the user and a named someone of theirs ("my sister Gabriela") are not the same someone; an
    # unnamed one may be an attribute of the user's ("Manager is Renata" / "has a new manager")
    return not (("@user" in a and "@relation" in b and names_b) or ("@user" in b and "@relation" in a and names_a))


def _values(text: str, subject: frozenset[str]) -> set[str]:
    """Values that could change, without the subject's own name ('Gabriela' is who, not what)."""
    found = values(text) - subject
    return {v for v in found if not any(v in s or s in v for s in subject if not s.startswith("@"))}


def _restated(old: str, fact: Fact) -> str:
    """The new memory's text; in a memory of several statements ("Timezone is Europe/Lisbon;
    prefers meetings after 10:00") only the one the fact changes is rewritten."""
    parts = [part.strip() for part in old.split("; ") if part.strip()]
    if len(parts) > 1:
        hits = [
            (result.score, number)
            for number, part in enumerate(parts)
            for result in [compare(fact, Existing("", part), None)]
            if result.same_slot
        ]
        if hits:
            number = max(hits)[1]
            parts[number] = _restated_one(parts[number], fact)
            return "; ".join(parts)
    return _restated_one(old, fact)


# When the change happened, relative to saying it: never part of the new value ("moved to Bergen
# last month" swaps Oslo for Bergen in "lives in Oslo and works as a marine biologist"; kept whole,
# the job would be gone). The memory's date says when it was said.
_WHEN_IT_CHANGED = re.compile(
    r",?\s*\b(?:(?:last|past)\s+(?:week|month|year|weekend)|yesterday|recently|lately|a (?:few )?(?:days|weeks|months) ago)\b",
    re.IGNORECASE,
)


def _restated_one(old: str, fact: Fact) -> str:
    """The new memory's text. A short change of one value ("we've relocated to Bristol" after
    "Is based in Edinburgh") keeps the stored wording with the value swapped ("Is based in
    Bristol"): it reads as the fact, and finds the same questions. Anything more, as said."""
    swapped = _swapped(old, replace(fact, text=_WHEN_IT_CHANGED.sub("", fact.text).strip()))
    return swapped if swapped is not None else _with_relation(old, fact.text)


def _swapped(old: str, fact: Fact) -> str | None:
    """`old` with its one value swapped for the fact's, or None when the fact says more than that."""
    subject = subject_of(old)
    old_only = _values(old, subject) - _values(fact.text, fact.subject)
    new_only = _values(fact.text, fact.subject) - _values(old, subject)
    extra: set[str] = set(
        content_words(fact.text) - content_words(old) - set().union(*(content_words(v) for v in new_only), frozenset())
    )
    extra = {w for w in extra if not CHANGE.search(w) and w not in _CHANGE_STEMS}
    shared = _values(fact.text, fact.subject) & _values(old, subject)
    # the words of the old frame the fact does not say ("cat" of "Has a cat called Miso" against "on
    # call for Falcon"): swapping the value in would be a sentence nobody said, unless the two name
    # the same kind of attribute ("relocated to" / "is based in": home)
    unsaid = (
        content_words(old) - content_words(fact.text) - set().union(*(content_words(v) for v in old_only), frozenset())
    )
    unsaid -= _VERB_STEMS
    if unsaid and not attributes(old) & attributes(fact.text):
        return None
    if len(old_only) != 1 or len(new_only) != 1 or extra or shared:  # "from Neovim to Helix" names the old one too
        return None
    (old_value,), (new_value,) = old_only, new_only
    found_old = re.search(rf"(?<!\w){re.escape(old_value)}(?!\w)", old, re.IGNORECASE)
    found_new = re.search(rf"(?<!\w){re.escape(new_value)}(?!\w)", fact.text, re.IGNORECASE)
    if not found_old or not found_new or "[[" in found_old.group(0):
        return None
    return old[: found_old.start()] + found_new.group(0) + old[found_old.end() :]


def _with_relation(old: str, new: str) -> str:
    """ "Idris joined the fire brigade" replacing "Brother Idris works as…" keeps who Idris is."""
    match = re.match(rf"^((?:{RELATIONS})\s+)([A-Z][\w-]+)\b", old, re.IGNORECASE)
    if match and new.startswith(match.group(2)) and not new.lower().startswith(match.group(1).lower()):
        return match.group(1)[:1].upper() + match.group(1)[1:] + new
    return new


_CHANGE_STEMS = frozenset(content_words(" ".join(lexicon.word_list("change_stems"))))


# Verbs say what was done, not what it was about: "forget that I use X" must not match every "Uses …".
_VERB_STEMS = frozenset(content_words(" ".join(lexicon.word_list("verb_stems"))))


@lru_cache(maxsize=65536)
def _name_stems(text: str) -> frozenset[str]:
    return frozenset().union(
        *(content_words(name) for name in proper_nouns(text)), *(content_words(v) for v in values(text))
    )


@dataclass
class Comparison:
    same_slot: bool
    new_value: bool  # the fact brings a value the memory lacks, in place of one it has
    restates: bool  # nothing in the fact that the memory does not say
    score: float  # how sure, to choose among several memories
    why: str
    # the two name one attribute (home, job, editor…), one frame ("Favourite tea is …") or one
    # subject ("Standup …"); else the slot rests on a shared word or closeness only, and an
    # UPDATE needs the head surer of it (Thresholds.update_by_word)
    by_attribute: bool = False


_THING = frozenset({"the", "this", "that", "these", "those", "a", "an"})  # not "our": "our datastore" is theirs


def _thing(text: str) -> frozenset[str]:
    """The words of the thing a statement is about when its subject is one ("the Jaarbeurs office
    is getting…"), not the user nor a person of theirs: a determiner and a noun before the verb."""
    span = subject_span(text).split()
    return content_words(" ".join(span[1:])) if len(span) >= 2 and fold(span[0]) in _THING else frozenset()


def _other_thing(fact: str, memory: str) -> bool:
    """One is about a thing and the two share no word: the office's new espresso machine is not
    the user's coffee ("this repo", "the dentist", "the grant report" said on both sides may be)."""
    if (content_words(fact) & content_words(memory)) - _VERB_STEMS:
        return False
    return bool(_thing(fact) or _thing(memory))


def _who(fact: Fact, subject: frozenset[str]) -> frozenset[str]:
    """The words naming who the two are about (the vault's known names, read in any case:
    "Marcus plays…" / "marcus has started…"): who, not what, so no evidence of one slot."""
    return content_words(" ".join(n for n in fact.subject | subject if not n.startswith("@")))


_COPULA = re.compile(r"^(?P<frame>.+?)\s+(?:is|are)\s+(?:now\s+)?(?P<value>.+?)[.!]?$", re.IGNORECASE)
_FILLER = frozenset(content_words("lately these days nowadays now currently actually really"))


def _copula(text: str) -> tuple[frozenset[str], frozenset[str]] | None:
    """ "Favourite tea is rooibos lately": (the frame's words, the value's words), or None. A value
    need not be a name: "rooibos" is one because the frame says so."""
    match = _COPULA.match(text.strip())
    if not match:
        return None
    frame, value = content_words(match["frame"]) - _FILLER, content_words(match["value"]) - _FILLER
    return (frame, value) if frame and value else None


def _by_frame(fact: str, memory: str, score: float) -> Comparison | None:
    """Two "<frame> is <value>" statements with one frame ("Favourite tea is …"): another value is
    a change (the relation head still has the last word), one more ("also blue") a new fact; the
    same value is left to the other rules. None when the frames differ."""
    left, right = _copula(fact), _copula(memory)
    if not (left and right and left[0] == right[0]) or left[1] & right[1]:
        return None
    if ALSO.search(fact):
        return Comparison(False, False, False, score, "")
    return Comparison(True, True, False, 1.5 + score, "same frame, another value", by_attribute=True)


def _elsewhere(fact: Fact, memory: Existing) -> str:
    """Why the two cannot be one slot: about someone else, or about something else ("" if neither)."""
    if not compatible(fact.subject, memory.about()):
        return "about someone else"
    if _thing_and_dealings(fact.text, fact.subject, memory.text, memory.about()) or _thing_and_dealings(
        memory.text, memory.about(), fact.text, fact.subject
    ):
        return "about the thing, not the user's dealings with it"
    return "about something else" if _other_thing(fact.text, memory.text) else ""


def _thing_and_dealings(one: str, one_subject: frozenset[str], other: str, other_subject: frozenset[str]) -> bool:
    """`one` says something of a thing ("The Heron project got a new product owner"), `other`
    what the user does with it ("Leads the Heron project"): the thing is its object there, not
    its subject, so the two are no one slot. "our API is written in Flask" has the API as its
    subject, and stays the same thing as "the API runs on FastAPI now"."""
    thing = _thing(one)
    if not thing or "@user" in one_subject or _thing(other) or not other_subject <= {"@user"}:  # "this repo" is theirs
        return False
    return not thing <= content_words(subject_span(other))


_DAY = re.compile(rf"^(?:{DAYS})s?$", re.IGNORECASE)
_MONTH = re.compile(rf"^(?:{MONTHS})$", re.IGNORECASE)


def value_kind(value: str) -> str:
    """What kind of value a value is: a day of the week, a month, an amount (numbers and times of
    day, which say the same kinds of things: "at 9" / "10am"), or a name."""
    if _DAY.match(value):
        return "day"
    if _MONTH.match(value):
        return "month"
    return "amount" if value[:1].isdigit() else "name"


def _answers_clash(fact: str, memory: str, kinds: frozenset[str]) -> bool:
    """Both name an answer of a closed set ("vegan" / "pescatarian") for a kind, and not the same."""
    return any(answers(fact, k) and answers(memory, k) and not answers(fact, k) & answers(memory, k) for k in kinds)


# a time the memory gives in words: "Dentist appointment next week" has a when for "moved to the 14th"
_WHEN_IN_WORDS = re.compile(
    r"\b(?:(?:next|this|coming|following)\s+(?:week|month|year|weekend|term|season)|tomorrow|tonight)\b", re.IGNORECASE
)


def _only_says_when(fact: str, memory: str, new: set[str], old: set[str]) -> bool:
    """The fact moves something *to* a day, a month or an amount, and that is all it brings anew,
    where the memory has no value of that kind: it says when or how much of the same thing ("vet
    chamber meetings got moved to thursdays" beside "Is the vice-chair of the county vet chamber";
    "rent went up to 1200" beside "Rents a flat in Porto"), not the memory's value anew. A change
    to a word ("switching to early mornings, 6am to 2pm", "nicotine-free for three weeks") is not
    this: its new value is the word."""
    if not new or any(value_kind(v) == "name" for v in new) or _same_kind_of_value(new, old):
        return False
    if _WHEN_IN_WORDS.search(memory):
        return False
    words = re.findall(r"[\w:.'-]+", fold(fact))
    targets = {fold(v).split()[0] for v in new}
    for i, word in enumerate(words[:-1]):
        after = words[i + 2] if words[i + 1] == "the" and i + 2 < len(words) else words[i + 1]
        ranged = i > 0 and value_kind(words[i - 1]) != "name"  # "6am to 2pm" is a span, not a move
        if word in ("to", "until", "till") and after in targets and not ranged:
            return True
    return False


def _same_kind_of_value(new: set[str], old: set[str]) -> bool:
    """Can a value the fact brings stand in for one the memory has (the same kind of value)?"""
    return bool({value_kind(v) for v in new} & {value_kind(v) for v in old})


def compare(fact: Fact, memory: Existing, similarity: float | None) -> Comparison:
    subject = memory.about()
    if elsewhere := _elsewhere(fact, memory):
        return Comparison(False, False, False, 0.0, elsewhere)
    fact_values, memory_values = _values(fact.text, fact.subject), _values(memory.text, subject)
    clash = bool(fact_values - memory_values) and bool(memory_values - fact_values)
    # a topic word is not a name: "Ana" in two statements does not make them one attribute
    # a shared verb ("uses") says nothing about the topic; a shared name is who, not what
    shared = (
        (content_words(fact.text) & content_words(memory.text))
        - _name_stems(fact.text)
        - _name_stems(memory.text)
        - _who(fact, subject)
        - _VERB_STEMS
        - _CHANGE_STEMS  # "the club moved our group" and "the school moved her lessons": no one topic
    )
    all_fact = content_words(fact.text)
    coverage = len(all_fact & content_words(memory.text)) / max(len(all_fact), 1)
    cosine = similarity if similarity is not None else 0.0
    # a value the memory says in other words ("O-negative" / "O negative") is no new value
    covered = all(content_words(v) <= content_words(memory.text) for v in fact_values - memory_values)
    framed = _by_frame(fact.text, memory.text, cosine + coverage)
    if framed is not None:
        return framed
    kinds = attributes(fact.text) & attributes(memory.text)
    answers_clash = _answers_clash(fact.text, memory.text, kinds)
    # only a day, a month or an amount where the memory has none: when or how much, not a new value
    says_when = not answers_clash and _only_says_when(
        fact.text, memory.text, fact_values - memory_values, memory_values
    )
    if kinds and (fact.subject or subject or clash) and not says_when:
        new_value = (
            clash or answers_clash or (bool(CHANGE.search(fact.text)) and not fact_values <= memory_values | {""})
        )
        # "actually I prefer JavaScript now" against "prefers TypeScript over JavaScript": a change
        dropped = bool(CHANGE.search(fact.text)) and bool(memory_values - fact_values)
        new_value = new_value or dropped
        restates = not new_value and (covered or cosine >= 0.7) and (coverage >= 0.5 or cosine >= 0.6)
        if not new_value and not restates and not CHANGE.search(fact.text):
            return Comparison(False, False, False, cosine + coverage, "")  # same kind of thing, another fact
        # a change word with nothing new ("Maya just moved to Oslo" when she lives in Oslo) is a restatement
        same_values = bool(fact_values) and fact_values <= memory_values  # "we moved to Ghent" when it says Ghent
        changed_only = bool(CHANGE.search(fact.text)) and coverage < 0.6 and not same_values
        return Comparison(
            True,
            new_value or changed_only,
            restates or (not new_value and (coverage >= 0.6 or same_values)),
            2.0 + cosine + coverage,
            f"both say {'/'.join(sorted(kinds))}",
            by_attribute=True,
        )
    changed = bool(CHANGE.search(fact.text)) and not ALSO.search(fact.text)
    # beyond a shared attribute, another value must be the same kind of value: "28€ for 90 min" is
    # no new value for "moved our group to monday nights", though both are about the padel club
    swapped = clash and _same_kind_of_value(fact_values - memory_values, memory_values - fact_values)
    if shared and swapped and (fact.subject or subject or changed or cosine >= 0.35 or similarity is None):
        # one subject ("Standup is at 9:30" / "Standup has moved", "Son Malik is 6" / "Malik just
        # turned 7") is as good as one attribute; a word the user does something with ("opened an
        # instagram for the pharmacy" / "The pharmacy is open 9 to 8") is weaker
        about = (content_words(subject_span(fact.text)) & content_words(subject_span(memory.text))) - _VERB_STEMS
        return Comparison(
            True,
            True,
            False,
            1.5 + cosine + coverage,
            f"same {'/'.join(sorted(shared))}, new value",
            by_attribute=bool(about),
        )
    if cosine >= 0.6 and swapped:
        return Comparison(True, True, False, 1.0 + cosine, "close in meaning, new value")
    # a value where the memory has none may be a change ("switched to an osteopath"); beside values
    # of other kinds only, it is something more about the same thing
    if (
        changed
        and cosine >= CHANGE_COSINE
        and (swapped or (fact_values - memory_values and not memory_values))
        and not says_when
    ):
        return Comparison(True, True, False, 1.0 + cosine, "a change to something close in meaning")
    dropped = changed and bool(memory_values - fact_values)  # "… JavaScript now" vs "TypeScript over JavaScript"
    if dropped and (cosine >= 0.75 or coverage >= 0.6):
        return Comparison(True, True, False, 1.0 + cosine + coverage, "a change that leaves out what was said before")
    if covered and not dropped and (coverage >= 0.6 or cosine >= 0.75 or (cosine >= 0.55 and shared)):
        return Comparison(True, False, True, 1.0 + cosine + coverage, "says it again")
    if not clash and shared and cosine >= 0.7:  # "the DB" for "the database": a new word, not a new value
        return Comparison(True, False, True, 1.0 + cosine + coverage, "says it again")
    titles = {v for v in fact_values if v[:1] in "'\"‘“"}, {v for v in memory_values if v[:1] in "'\"‘“"}
    if changed and titles[0] and titles[1] and not titles[0] & titles[1]:
        return Comparison(True, True, False, 1.0 + cosine, "a new title in place of the old")
    return Comparison(False, False, False, cosine + coverage, "")


def reconcile(
    extraction: Extraction,
    existing: list[Existing],
    similarity: Similarity = _no_model,
    judge: Judging | None = None,
) -> list[Decision]:
    """One decision per fact, retraction and correction, in that order of effect:
    corrections and retractions first (they act on what is stored), then facts."""
    decisions: list[Decision] = []
    live = list(existing)  # shrinks as memories are superseded or deleted
    _reconcile_corrections(extraction, live, decisions)
    facts = list(extraction.facts) + _reconcile_retractions(extraction, live, decisions, similarity)
    _reconcile_facts(facts, live, decisions, similarity, judge)
    return decisions


def _drop(live: list[Existing], memory: Existing) -> None:
    live[:] = [m for m in live if m.id != memory.id]


def _reconcile_corrections(extraction: Extraction, live: list[Existing], decisions: list[Decision]) -> None:
    for fix in extraction.corrections:
        target = next((m for m in reversed(live) if fix.old.casefold() in m.text.casefold()), None)
        if target is None:
            text = normalise(fix.sentence)
            decisions.append(Decision(ADD, text=text, why="a correction of something not stored"))
            continue
        start = target.text.casefold().find(fix.old.casefold())
        text = target.text[:start] + fix.new + target.text[start + len(fix.old) :]
        why = f"corrected {fix.old!r} to {fix.new!r}"
        decisions.append(Decision(UPDATE, text=text, target=target, why=why, trace={"from": "correction"}))
        _drop(live, target)


def _reconcile_retractions(
    extraction: Extraction, live: list[Existing], decisions: list[Decision], similarity: Similarity
) -> list[Fact]:
    """Decisions for the retractions; returns the facts they leave to add ("I quit alcohol")."""
    facts: list[Fact] = []
    for retraction in extraction.retractions:
        hits = _retracted(retraction.target, retraction.sweeping, live, similarity)
        for memory in hits:
            why = f"asked to forget {retraction.target[:60]!r}"
            rest = _without(memory.text, retraction.target, retraction.keep) if retraction.keep else None
            said: dict[str, object] = {"from": "retraction"}  # the user's own words (the LLM's vetting reads it)
            if rest:  # "forget the birthday, keep the orchids": only that part goes
                decisions.append(
                    Decision(UPDATE, text=rest, target=memory, why=why + " (the rest kept)", trace=dict(said))
                )
            elif retraction.fallback and retraction.replaces:  # "I quit smoking" replaces "smokes ten a day"
                decisions.append(
                    Decision(UPDATE, text=retraction.fallback, target=memory, why="no longer true", trace=dict(said))
                )
            else:
                decisions.append(Decision(DELETE, target=memory, why=why, trace=dict(said)))
            _drop(live, memory)
        if not hits and retraction.fallback:  # "I quit alcohol" with nothing stored about alcohol: a new fact
            facts.append(Fact(text=retraction.fallback, sentence=retraction.sentence, subject=frozenset({"@user"})))
    return facts


def _reconcile_facts(
    facts: list[Fact],
    live: list[Existing],
    decisions: list[Decision],
    similarity: Similarity,
    judge: Judging | None = None,
) -> None:
    for fact in facts:
        best: tuple[Comparison, Existing] | None = None
        compared: dict[str, Comparison] = {}  # the relation head reads them too: compare once
        for memory in live:
            result = compared[memory.id] = compare(fact, memory, similarity(fact.text, memory.id))
            if result.same_slot and (best is None or result.score > best[0].score):
                best = (result, memory)
        if best is None and _changes_earlier(fact, decisions):  # "I live in Porto. Actually I moved to Ghent."
            continue
        decision = _rules_decision(fact, best)
        if judge is not None:
            decision = _judged(fact, decision, best, _closest(fact, live, similarity, best), judge, compared)
        decisions.append(decision)
        if decision.event == UPDATE and decision.target is not None:
            _drop(live, decision.target)


def _rules_decision(fact: Fact, best: tuple[Comparison, Existing] | None) -> Decision:
    """What the rules alone decide for a fact, given its best same-slot memory."""
    if best is None:
        return Decision(ADD, text=fact.text, why="new")
    result, memory = best
    if result.new_value and ALSO.search(fact.sentence) and not CHANGE.search(fact.sentence):
        # "we adopted a second cat" beside "Has a cat named Pixel": one more, not another value
        return Decision(ADD, text=fact.text, why=f"one more, not a change ({result.why})")
    if result.new_value:
        return Decision(UPDATE, text=_restated(memory.text, fact), target=memory, why=result.why)
    if result.restates:
        return Decision(NONE, target=memory, why=result.why)
    return Decision(ADD, text=fact.text, why="related, but says something new")


HEAD_CANDIDATES = 5  # memories the relation head reads per fact: the rules' best and the closest in meaning


def _closest(
    fact: Fact, live: list[Existing], similarity: Similarity, best: tuple[Comparison, Existing] | None
) -> list[Existing]:
    """The memories worth asking the head about: the rules' best match, then the nearest by cosine."""
    ranked = sorted(live, key=lambda m: -(similarity(fact.text, m.id) or 0.0))[:HEAD_CANDIDATES]
    return ([best[1]] if best is not None else []) + [m for m in ranked if best is None or m.id != best[1].id]


def _judged(
    fact: Fact,
    proposed: Decision,
    best: tuple[Comparison, Existing] | None,
    live: list[Existing],
    judge: Judging,
    compared: dict[str, Comparison],
) -> Decision:
    """The rules' proposal, checked by the relation head (precision first): an UPDATE goes ahead
    only when the head agrees, else the fact is added with the memory named as a possible
    conflict; a NONE needs the head to see a restatement; a pair the rules passed over but the
    head takes for an update is shown as a possible conflict, never acted on."""
    limits = judge.thresholds
    scored = {m.id: p for m in live if (p := judge.relation(fact, m, compared.get(m.id))) is not None}
    trace: dict[str, object] = {"rules": proposed.event, "rules_why": proposed.why, "heads": judge.weights}
    if best is not None and best[1].id in scored:
        trace["relation"] = {"memory": best[1].id, **scored[best[1].id]}
    trace["candidates"] = [
        {
            "id": m.id,
            "memory": m.text,
            "rules": compared[m.id].why if m.id in compared else "",
            "p": scored[m.id],
            "features": judge.features.get((fact.text, m.id), {}),
        }
        for m in live
        if m.id in scored
    ]
    if proposed.event == UPDATE and proposed.target is not None:
        p_update = scored.get(proposed.target.id, {}).get("update")
        p_same = scored.get(proposed.target.id, {}).get("restatement", 0.0)
        # a slot the rules found by a shared word or closeness alone needs the head surer (the
        # rules' UPDATE of a fact always targets their best match)
        gate = limits.update_by_word if best is not None and not best[0].by_attribute else limits.update
        if p_update is not None and p_same >= limits.restated and p_update < gate:
            return _with(
                Decision(NONE, target=proposed.target, why="the model: says it again"),
                trace,
                threshold=f"P(restatement) {p_same} >= {limits.restated}",
            )
        if p_update is None or p_update >= gate:
            return _with(
                proposed,
                trace,
                threshold=f"P(update) {p_update} >= {gate}" if p_update is not None else "no model",
            )
        why = "kept both: the rules saw a change, the model doubts it"
        return _kept_both(fact, proposed.target, p_update, why, trace, f"P(update) {p_update} < {gate}")
    if proposed.event == NONE and proposed.target is not None:
        p_change = scored.get(proposed.target.id, {}).get("update")
        if p_change is None or p_change < limits.repeat_doubt:
            return _with(proposed, trace, threshold=f"P(update) {p_change} < {limits.repeat_doubt}")
        why = "kept both: the rules saw a repeat, the model a change"
        return _kept_both(fact, proposed.target, p_change, why, trace, f"P(update) {p_change} >= {limits.repeat_doubt}")
    candidates = [(m, scored[m.id]) for m in live if m.id in scored and compatible(fact.subject, m.about())]
    if candidates:
        memory, probabilities = max(candidates, key=lambda pair: pair[1]["restatement"])
        if probabilities["restatement"] >= limits.restate_alone:
            return _with(
                Decision(NONE, target=memory, why="the model: already known"),
                trace,
                threshold=f"P(restatement) {probabilities['restatement']} >= {limits.restate_alone}",
            )
        flagged = [
            (m, probs["update"])
            for m, probs in candidates
            if probs["update"] >= limits.conflict
            and judge.features.get((fact.text, m.id), {}).get("cosine", 1.0) >= limits.conflict_cosine
        ]
        if flagged:
            flagged.sort(key=lambda pair: -pair[1])
            return _with(
                Decision(ADD, text=fact.text, why="new; the model sees a possible change", conflicts=flagged[:3]),
                trace,
                threshold=f"P(update) >= {limits.conflict}",
            )
    return _with(proposed, trace)


def _kept_both(
    fact: Fact, target: Existing, p_update: float, why: str, trace: dict[str, object], threshold: str
) -> Decision:
    """The fact added beside `target`, which is named as a possible conflict (precision first)."""
    return _with(Decision(ADD, text=fact.text, why=why, conflicts=[(target, p_update)]), trace, threshold=threshold)


def _with(decision: Decision, trace: dict[str, object], **more: object) -> Decision:
    decision.trace = {**trace, **more}
    return decision


def _changes_earlier(fact: Fact, decisions: list[Decision]) -> bool:
    """A fact that changes one just added from the same message replaces its text (no
    supersede: it was never stored). True when it did."""
    if not CHANGE.search(fact.text) or ALSO.search(fact.text):
        return False
    for decision in reversed(decisions):
        if decision.event == ADD and decision.text and not decision.target:
            earlier = Existing("(this message)", decision.text)
            result = compare(fact, earlier, None)
            if result.same_slot and result.new_value:
                decision.text, decision.why = fact.text, "changed within the message"
                return True
    return False


# "wipe my medical details": the words a kind of detail goes by (a sweeping retraction only)
KINDS_OF_DETAIL = lexicon.mapping("kinds_of_detail")
KIND_WORDS = {kind: content_words(words) for kind, words in KINDS_OF_DETAIL.items()}
RELATION_WORD = re.compile(rf"\b(?:{RELATIONS}|ex|ex-\w+)\b", re.IGNORECASE)
_PARTS = re.compile(r"\s*(?:;|,?\s+and\s+(?=(?:she|he|they|i|we|it)\b)|,\s+but\s+)\s*", re.IGNORECASE)


def _without(text: str, target: str, keep: str) -> str | None:
    """The memory minus the clause a retraction names, when the user asked to keep another
    clause of it ("forget the birthday, but keep the orchids"); else None (it all goes)."""
    parts = [p for p in _PARTS.split(text) if p.strip()]
    if len(parts) < 2:
        return None
    words, wanted = content_words(target), content_words(keep)
    kept = [p for p in parts if not (content_words(p) & words) and content_words(p) & wanted]
    if not kept or len(kept) == len(parts):
        return None
    return "; ".join(p.strip().rstrip(".") for p in kept)


def _retracted(target: str, sweeping: bool, live: list[Existing], similarity: Similarity) -> list[Existing]:
    """The memories a retraction names: the best match (and ties); every match when sweeping —
    and then also what names the same someone ("my ex, Corentin" -> "Corentin and I…")."""
    named = values(target)  # "forget that I use Windows": a memory without Windows is not it
    words = (content_words(target) | named) - _VERB_STEMS
    if sweeping:
        for kind, kind_words in KIND_WORDS.items():
            if kind in fold(target) or (kind == "medical" and "health" in fold(target)):
                words |= kind_words
    if sweeping and (named or RELATION_WORD.search(target)):  # about someone: what names them too
        for memory in live:
            if words & content_words(memory.text):
                words |= {w for name in proper_nouns(memory.text, initial=True) for w in content_words(name)}
    scored = []
    for memory in live:
        memory_words = content_words(memory.text) | values(memory.text)
        if named and not any(content_words(v) <= memory_words or v in memory_words for v in named):
            continue
        overlap = len(words & memory_words)
        cosine = similarity(target, memory.id) or 0.0
        if overlap or (cosine >= 0.6 and not named):
            scored.append((overlap + cosine, memory))
    if not scored:
        return []
    if not sweeping:  # "forget that…" names one memory: the best match (the newest among equals)
        best = max(score for score, _ in scored)
        return [[memory for score, memory in scored if score == best][-1]]
    best = max(score for score, _ in scored)
    return [memory for score, memory in scored if score >= best * 0.5]


PAIR_FEATURES = (
    "cosine",
    "rules_same_slot",
    "rules_new_value",
    "rules_restates",
    "rules_score",
    "same_someone",
    "shared_kinds",
    "fact_has_kind",
    "memory_has_kind",
    "answers_clash",
    "values_clash",
    "fact_values",
    "memory_values",
    "shared_values",
    "change_cue",
    "also_cue",
    "coverage",
    "covered",
    "shared_topic_words",
    "retraction_cue",
    "fact_about_user",
    "fact_about_other",
    "memory_about_other",
)


def pair_features(
    fact: Fact,
    memory_text: str,
    cosine: float | None,
    memory_subject: frozenset[str] | None = None,
    comparison: Comparison | None = None,
) -> list[float]:
    """The rules' view of (a new fact, a stored memory), in PAIR_FEATURES order: what the
    relation head reads beside the two vectors. `cosine` None means no model (0 here);
    `comparison`, when the caller already compared the pair (with the same cosine)."""
    subject = memory_subject if memory_subject is not None else subject_of(memory_text)
    comparison = comparison or compare(fact, Existing("", memory_text, subject), cosine)
    fact_values, memory_values = _values(fact.text, fact.subject), _values(memory_text, subject)
    kinds = attributes(fact.text) & attributes(memory_text)
    answers_clash = any(
        answers(fact.text, k) and answers(memory_text, k) and not answers(fact.text, k) & answers(memory_text, k)
        for k in kinds
    )
    all_fact = content_words(fact.text)
    words_memory = content_words(memory_text)
    shared = (all_fact & words_memory) - _name_stems(fact.text) - _name_stems(memory_text) - _VERB_STEMS - _CHANGE_STEMS
    return [
        cosine if cosine is not None else 0.0,
        float(comparison.same_slot),
        float(comparison.new_value),
        float(comparison.restates),
        comparison.score,
        float(compatible(fact.subject, subject)),
        float(len(kinds)),
        float(bool(attributes(fact.text))),
        float(bool(attributes(memory_text))),
        float(answers_clash),
        float(bool(fact_values - memory_values) and bool(memory_values - fact_values)),
        float(len(fact_values)),
        float(len(memory_values)),
        float(len(fact_values & memory_values)),
        float(bool(CHANGE.search(fact.sentence) or CHANGE.search(fact.text))),
        float(bool(ALSO.search(fact.sentence))),
        len(all_fact & words_memory) / max(len(all_fact), 1),
        float(all(content_words(v) <= words_memory for v in fact_values - memory_values)),
        float(len(shared)),
        float(retraction_of(fact.sentence) is not None),
        float("@user" in fact.subject or not fact.subject),
        float(bool(fact.subject - {"@user"})),
        float(bool(subject - {"@user"})),
    ]
