"""Facts out of text or a conversation, with no model: sentence rules, not statistics.

`extract()` splits what the user said into short statements worth keeping (preferences, plans,
people, work, tools, constraints, conventions) and drops the rest: greetings, questions, small
talk, moods, hypotheticals, other people's opinions, one-off requests to the assistant, and
everything the assistant said (assistant turns are context only: they help resolve "forget the
whole thing"). It also recognises retractions ("forget that…", "I no longer…", "the band is
over") and corrections ("it's the 21st, not the 12th"), which reconcile.py acts on.

Pure text in, data out; reconcile.py decides what each fact does to the vault.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from memcli.infer.types import Correction, Extraction, Fact, Retraction
from memcli.text import lexicon
from memcli.text.english import (
    ANAPHORIC_TARGET,
    CONFIRM,
    CORRECTION,
    DISCOURSE,
    DURABLE,
    GREETING,
    HYPOTHETICAL,
    IS_OVER,
    LABEL_WORDS,
    META_TAIL,
    NO_LONGER,
    NOT_ANYMORE,
    NOT_NAMES,
    OTHERS_OPINION,
    PRONOUN_SUBJECT,
    QUESTION_START,
    REQUEST,
    RETRACT_COMMAND,
    SARCASM,
    SELF_TALK,
    STANDING,
    STOPPED,
    TARGET_PREFIX,
    TARGET_TAIL,
    content_words,
    front_phrase_last,
    has_verb,
    normalise,
    of_the_moment,
    proper_nouns,
    relations_named,
    sentences,
    spelled_out,
    subject_of,
    subject_span,
    values,
)
from memcli.text.normalize import fold

# -- data --------------------------------------------------------------------------------------


# -- word lists (skills, not sentences: each list names a kind of thing people say) ------------

# -- sentences ----------------------------------------------------------------------------------

# -- what one sentence is -----------------------------------------------------------------------


_REMEMBER_THIS = re.compile(
    r"^(?:(?:please|pls|can you|could you|would you|just)\s+)*(?:note|remember|save|record|write down|jot down)"
    r"(?:\s+(?:that|this|down)\b|(?=\s+(?:my|our|i|i'm|we|we're)\b)|:)\s*(?:(?:my|our)\s+)?(?=\w)",
    re.IGNORECASE,
)


_PURE_LABEL = re.compile(
    r"^(?:(?:big|quick|small|little|short|some|important|random|new|latest)\s+)*(?:news|update|reminder|note|note to self|"
    r"notes|heads[- ]up|fyi|psa|ps|p\.s\.?|todo|to-do|context|background|for context|info|edit|correction|thought)"
    r"(?:\s+(?:for|about|on)\s+[\w\s-]{1,30})?$",
    re.IGNORECASE,
)


def strip_label(sentence: str) -> str:
    """Drop discourse openers and short labels: "Big news: we moved" -> "we moved";
    "please note my train: Vienna on the 5th" -> "train: Vienna on the 5th"."""
    text = DISCOURSE.sub("", sentence).strip()
    if not is_question(text):
        text = _REMEMBER_THIS.sub("", text)
    head, colon, rest = text.partition(": ")  # "1:1 notes" and "9:30" are not labels
    if colon and rest.strip() and len(head.split()) <= 9 and "[[" not in head:
        # "ray's birthday: 12 May" and "New running shoes: I'm all in on Hokas" keep their head
        # (it says what the value is about); "Big news: we moved" and "Reminder: dark theme
        # everywhere" lose theirs
        pure = bool(_PURE_LABEL.match(head.strip())) or bool(
            re.match(r"^(?:for|re|about|regarding)\b", head.strip(), re.IGNORECASE)
        )
        if pure or (bool(LABEL_WORDS.search(head)) and has_verb(rest)):
            text = DISCOURSE.sub("", rest.strip()).strip()
            # "recital news: it's now on the 29th" keeps what the news is about
            topic = [
                w for w in re.findall(r"[\w'-]+", head) if not LABEL_WORDS.fullmatch(w) and fold(w) not in _NOT_TOPICS
            ]
            if 0 < len(topic) <= 2 and not any(ch.isdigit() for w in topic for ch in w) and not pure:
                text = f"{' '.join(topic)}: {text}"
    return text


_NOT_TOPICS = lexicon.words("not_topics")


def is_question(sentence: str) -> bool:
    stripped = sentence.strip()
    return stripped.endswith("?") or bool(QUESTION_START.match(DISCOURSE.sub("", stripped)) and "?" in stripped)


_QUESTION_TAIL = re.compile(
    r",\s*(?:so\s+|and\s+|but\s+)?(?:any|what|which|how|can you|could you|would you|do you|should i|is there|are there)\b[^.!]*\?\s*$",
    re.IGNORECASE,
)


def _statement_before_question(text: str) -> str | None:
    """ "I'm doing a 200km ride in April, any tips?": the statement before the question."""
    match = _QUESTION_TAIL.search(text)
    if not match:
        return None
    head = text[: match.start()].strip()
    return head if has_verb(head) and not QUESTION_START.match(head) else None


_SALUTATION = re.compile(r"^(?:hi|hey|hello|hiya|yo|morning|evening)\b[\s,!.]*", re.IGNORECASE)


def _small_talk(text: str) -> bool:
    """A greeting, thanks or reaction, also stretched ("hiii", "heyyy") or after a salutation
    ("hi, good morning!")."""
    # a letter typed three times or more: once ("hiii") or twice ("goood night")
    plain = [text, re.sub(r"(\w)\1{2,}", r"\1", text), re.sub(r"(\w)\1{2,}", r"\1\1", text)]
    return any(bool(GREETING.match(t) or GREETING.match(_SALUTATION.sub("", t, count=1))) for t in plain)


@dataclass(frozen=True)
class DropRule:
    """One reason a sentence (or clause) holds no fact worth keeping: its name (what --explain
    shows), its test, and its examples beside it: what it must drop, and near misses it must leave
    alone (tests/test_extract.py runs every rule's examples, one pytest id per rule)."""

    name: str
    applies: Callable[[str, bool], bool]  # (text, note: typed on its own) -> drop?
    drops: tuple[str, ...]
    keeps: tuple[str, ...]


def _fragment(text: str, note: bool) -> bool:
    # "three, and a menace" is an answer, not a fact: number words are not values here
    hard_values = {v for v in values(text) if not v.isdigit() or re.search(rf"(?<!\w){v}(?!\w)", text)}
    words = content_words(text)
    return not note and not has_verb(text) and not (hard_values and len(words) >= 2) and not STANDING.search(text)


# Whole sentences, checked before they are cut into clauses.
SENTENCE_RULES = (
    DropRule("empty", lambda t, n: not t or not re.search(r"\w", t), ("", "🙏 !!"), ("ok, I use vim",)),
    DropRule(
        "small talk",
        lambda t, n: _small_talk(t),
        ("hiii good morning!!", "thanks so much", "hi, good morning!"),
        ("thanks to the new job I moved to Oslo", "I use vim"),
    ),
    DropRule(
        "a question",
        lambda t, n: is_question(t) and not _statement_before_question(t),
        ("what time is it?", "do you remember my cat's name?"),
        ("I moved to Oslo, any tips?", "I live in Porto"),
    ),
    DropRule(
        "hypothetical",
        lambda t, n: bool(HYPOTHETICAL.search(t)),
        ("if I ever move to Tokyo I'd learn Japanese",),
        ("I moved to Tokyo",),
    ),
    DropRule("sarcasm", lambda t, n: bool(SARCASM.search(t)), ("oh great, another meeting 🙃",), ("I have a meeting",)),
)

# Clauses, after a sentence is cut up (a sentence's rules run on them too).
CLAUSE_RULES = (
    DropRule(
        "someone else's opinion",
        lambda t, n: bool(OTHERS_OPINION.search(t)) and not re.match(r"^(i|we|i'm|we're)\b", t, re.IGNORECASE),
        ("my mum thinks I should learn the piano",),
        ("I think I should learn the piano",),
    ),
    DropRule(
        "confirms what is known",
        lambda t, n: bool(CONFIRM.search(t)),
        ("that's still right",),
        ("I still live in Porto",),
    ),
    DropRule(
        "an aside", lambda t, n: bool(SELF_TALK.search(t)) and not values(t), ("my bad, ignore that",), ("I use Vim",)
    ),
    DropRule(
        "a request, not a fact",
        lambda t, n: bool(REQUEST.search(t)) and not STANDING.search(t),
        ("can you write me a haiku",),
        ("always answer in British English",),
    ),
    DropRule(
        "of the moment",
        lambda t, n: of_the_moment(t) and not (DURABLE.search(t) and (values(t) or len(content_words(t)) >= 3)),
        ("ugh so tired today", "it rained all day yesterday"),
        ("I went to a support group yesterday", "I started a new job today at Acme"),
    ),
    DropRule(
        "nothing specific", lambda t, n: not content_words(t), ("and then it was",), ("and then I moved to Oslo",)
    ),
    DropRule("a fragment", _fragment, ("the blue one",), ("Lives in Porto", "Allergic to penicillin, Ana")),
    DropRule(
        "a one-off instruction",
        lambda t, n: _is_one_off_order(t),
        ("yes please do it", "switch them"),
        ("I switched to Helix",),
    ),
    DropRule(
        "about the assistant",
        lambda t, n: bool(re.match(r"^(?:you|you're|you've|you'd|u)\b", t, re.IGNORECASE)) and not STANDING.search(t),
        ("you're so helpful",),
        ("you should always answer in Dutch",),
    ),
)


# Rules that judge by a word or two ("today", "yesterday") and so also drop lasting facts ("just
# turned 35 today"): a clause one of them drops is kept when the keep head is sure it is a fact.
SOFT_RULES = frozenset({"of the moment"})


def sentence_dropped(sentence: str) -> str | None:
    """Why a whole sentence holds no fact (checked before it is split into clauses)."""
    text = re.sub(r"^[^\w\[`'\"]+", "", sentence.strip())  # "🙏 have a good one"
    return next((rule.name for rule in SENTENCE_RULES if rule.applies(text, False)), None)


def why_dropped(sentence: str, note: bool = False) -> str | None:
    """Why a (labelled-stripped) sentence or clause is not a fact worth keeping, or None to keep it.
    A `note` (a short text given on its own, as `mem add "Allergic to penicillin"`) may be verbless."""
    text = META_TAIL.sub("", sentence.strip()).strip()
    reason = sentence_dropped(text)
    if reason:
        return reason
    return next((rule.name for rule in CLAUSE_RULES if rule.applies(text, note)), None)


def _is_one_off_order(text: str) -> bool:
    """'switch them', 'yes please do it': an instruction about the task at hand, not a standing rule."""
    words = re.findall(r"[\w']+", fold(text))
    if not words or PRONOUN_SUBJECT.match(words[0]) or STANDING.search(text):
        return False
    objects = {"it", "them", "this", "that", "these", "those"}
    return len(words) <= 4 and bool(objects & set(words))


def retraction(sentence: str) -> Retraction | None:
    if HYPOTHETICAL.search(sentence) or SARCASM.search(sentence):
        return None  # "imagine if I quit everything…" retracts nothing
    text = DISCOURSE.sub("", sentence.strip()).strip().rstrip(".!")
    match = RETRACT_COMMAND.match(text)
    if match and not re.match(r"^(before|don'?t|do not|never|not)\b", text, re.IGNORECASE):
        raw = match.group("target").strip()
        kept = re.search(
            r",?\s*\b(?:but|and)\s+(?:please\s+)?(?:keep|leave|not)\s+(?:the\s+)?(?:note|bit|part|one)?\s*(?:about\s+)?(?P<keep>.+)$|"
            r",?\s*\bexcept\s+(?:for\s+)?(?P<keep2>.+)$",
            raw,
            re.IGNORECASE,
        )
        keep = None
        if kept:
            keep = (kept.group("keep") or kept.group("keep2") or "").strip(" .") or None
            raw = raw[: kept.start()]
        sweeping = bool(re.match(r"^(anything|everything|all)\b", raw, re.IGNORECASE))
        target = TARGET_TAIL.sub("", TARGET_PREFIX.sub("", raw)).strip(" ,.;")
        target = re.split(r",\s*(?:i|we)\b", target, maxsplit=1, flags=re.IGNORECASE)[0]
        return Retraction(target=target, sentence=sentence, sweeping=sweeping, keep=keep)
    for pattern in (NO_LONGER, NOT_ANYMORE, STOPPED):
        match = pattern.search(text)
        if match:
            target = match.group("target").strip(" ,.;")
            target = re.sub(r"\s+any ?more$", "", target, flags=re.IGNORECASE)
            if pattern is NO_LONGER:
                fallback: str | None = normalise(f"I no longer {target}")
            elif pattern in (STOPPED, NOT_ANYMORE):  # "I quit alcohol", "i dont drink coffee anymore": a
                # change worth keeping, in the user's words, when nothing stored names it
                fallback = normalise(re.split(r",\s*(?:i|we)\b", text, maxsplit=1, flags=re.IGNORECASE)[0])
            else:
                fallback = None
            target = re.split(r",\s*(?:i|we)\b|;", target, maxsplit=1, flags=re.IGNORECASE)[0]
            # "not … anymore" repeats the detail it retracts ("dont do the saturday market anymore"):
            # a memory it names is deleted, and the sentence is kept only when none is
            replaces = pattern is not NOT_ANYMORE
            return Retraction(target=target, sentence=sentence, fallback=fallback, replaces=replaces)
    match = IS_OVER.match(text)
    if match:
        return Retraction(target=match.group("target").strip(), sentence=sentence)
    match = re.match(
        r"^never ?mind (?:about )?(?:the |that |my |our )?(?P<target>[^,.;]+?)(?:,|\.|;|$)", text, re.IGNORECASE
    )
    if match and content_words(match.group("target")):  # "never mind the sign-off rule, you can forget it"
        return Retraction(target=TARGET_TAIL.sub("", match.group("target")).strip(), sentence=sentence)
    return None


def correction(sentence: str) -> Correction | None:
    text = DISCOURSE.sub("", sentence.strip()).strip()
    for pattern in CORRECTION:
        match = pattern.match(text)
        if match:
            return Correction(old=match.group("old").strip(), new=match.group("new").strip(), sentence=sentence)
    return None


# -- clauses and normal form ---------------------------------------------------------------------

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


# -- the whole message ----------------------------------------------------------------------------


def turns_of(messages: Any) -> list[tuple[str, str]]:
    """(role, text) pairs from a string, Mem0-style messages or (role, text) pairs."""
    if isinstance(messages, str):
        return [("user", messages)]
    return [
        (str(m.get("role", "user")), str(m.get("content", ""))) if isinstance(m, dict) else (str(m[0]), str(m[1]))
        for m in messages
    ]


def extract(messages: Any) -> Extraction:  # noqa: C901 -- one loop over shared state; issue 14 rebuilds it as named stages
    """Facts, retractions and corrections in what the user said."""
    result = Extraction()
    context: list[str] = []  # what the user said so far: resolves "forget the whole thing"
    person: str | None = None  # who "he"/"she" is: the last person named as a subject
    turns = turns_of(messages)
    last_assistant = ""
    asked_to_recall = False  # "remember that application I told you about?": the answer names it
    for role, content in turns:
        if role != "user":  # the assistant's words say what to forget only when asked to recall it
            last_assistant = content
            if asked_to_recall:
                context.append(content)
            asked_to_recall = False
            continue
        parts = _split_retractions(_merge_anaphora(sentences(spelled_out(content))))
        note = len(turns) == 1 and len(parts) == 1  # a note typed on its own: its words are what to keep
        correcting = False
        for raw in parts:
            sentence = strip_label(raw)
            if attribute_correction(sentence, result.facts, correcting):
                continue
            correcting = bool(
                SELF_TALK.search(sentence)
                or re.match(r"^\W*(?:oops|sorry|wait|hang on|hold on|correction)\b", sentence, re.IGNORECASE)
            )
            fix = correction(sentence)
            if fix:
                if not _apply_correction(fix, result.facts):
                    result.corrections.append(fix)  # about something stored earlier
                continue
            retract = retraction(sentence)
            if retract:
                if ANAPHORIC_TARGET.match(retract.target or "it") or not content_words(retract.target):
                    if not context:  # "forget that" with nothing the user said before: nothing to forget
                        result.dropped.append((raw, "a retraction of nothing the user said"))
                        continue
                    retract.target = " ".join(context[-3:] + [sentence])
                    retract.sweeping = False
                result.retractions.append(retract)
                context.append(raw)
                continue
            context.append(raw)
            if SARCASM.search(raw):
                result.dropped.append((raw, "sarcasm"))
                continue
            if is_question(sentence) and re.match(
                r"^(?:do you |you )?(?:remember|recall|know)\b", sentence, re.IGNORECASE
            ):
                asked_to_recall = True
            choice = _chosen(sentence, last_assistant, result.facts)
            if choice:  # "the Tatras sound perfect" after the assistant offered "the High Tatras"
                _keep(result, Fact(text=choice, sentence=raw, subject=frozenset({"@user"})))
                continue
            reason = sentence_dropped(sentence)
            kept = False
            if reason:
                result.dropped.append((raw, reason))
            else:
                sentence = _statement_before_question(sentence) or sentence
                for clause in clauses(META_TAIL.sub("", sentence).strip()):
                    clause = front_phrase_last(clause)
                    reason = why_dropped(clause, note)
                    if reason and reason not in SOFT_RULES:
                        result.dropped.append((clause, reason))
                        continue
                    person = _person_named(clause) or person
                    text = normalise(clause, person)
                    if text and text != content.strip().rstrip(".!"):  # not the user's words as typed: a list item
                        text = text[:1].upper() + text[1:]
                    if text and content_words(text):
                        about = text if re.match(r"^(he|she)\b", clause, re.IGNORECASE) else clause
                        fact = Fact(text=text, sentence=raw, subject=subject_of(about))
                        if reason:  # a soft rule's drop: the keep head may bring it back
                            result.doubted.append((fact, reason))
                            result.dropped.append((clause, reason))
                            continue
                        kept |= _keep(result, fact)
                    elif reason:
                        result.dropped.append((clause, reason))
            if not kept:  # "my cat Miso knocked a plant over again": the anecdote goes, Miso stays
                for rel, name in relations_named(sentence):
                    _keep(
                        result,
                        Fact(
                            text=f"{rel.capitalize()} is called {name}",
                            sentence=raw,
                            subject=frozenset({"@relation", fold(name.strip("[]"))}),
                        ),
                    )
    return result


_NOUN_VALUE = re.compile(r"\b([a-z]{3,})\s+(?:number\s+|no\.?\s*|#)?(\d[\w-]*)\b", re.IGNORECASE)
_NOW = re.compile(r"\b(now|instead|actually|upgraded|downgraded|changed|moved|switched)\b", re.IGNORECASE)


def _update_earlier(result: Extraction, fact: Fact) -> bool:
    """'…room 312.' then 'we got upgraded, so it's room 508 now': fix the earlier fact of this
    message instead of keeping both. True when the new fact was folded in."""
    if not _NOW.search(fact.text):
        return False
    changed = False
    for noun, value in _NOUN_VALUE.findall(fact.text):
        pattern = re.compile(rf"\b{re.escape(noun)}\s+(?:number\s+|no\.?\s*|#)?(?P<old>\d[\w-]*)\b", re.IGNORECASE)
        changed |= _swap_latest(result.facts, pattern, value, unless_same=True)
    return changed


def _swap_latest(facts: list[Fact], pattern: re.Pattern[str], new: str, unless_same: bool = False) -> bool:
    """Put `new` in place of the `old` group of `pattern` in the latest fact that has it (one
    that already says `new` does not count when `unless_same`). True when a fact changed."""
    for fact in reversed(facts):
        found = pattern.search(fact.text)
        if found and not (unless_same and found.group("old") == new):
            fact.text = fact.text[: found.start("old")] + new + fact.text[found.end("old") :]
            return True
    return False


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


def _keep(result: Extraction, fact: Fact) -> bool:
    if not re.search(r"[^\W\d_]{2}", fact.text):  # "1", "* *": no words, no fact
        return False
    if any(f.text.casefold() == fact.text.casefold() for f in result.facts) or _update_earlier(result, fact):
        return False
    result.facts.append(fact)
    return True


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


def _split_retractions(parts: list[str]) -> list[str]:
    """ "I'm not on nights any more: since May I work days" is a retraction and a new fact."""
    out: list[str] = []
    for part in parts:
        left, _, right = (re.split(r"(?<=\w)([:;])\s+", part, maxsplit=1) + ["", ""])[:3]
        if right and retraction(left) and has_verb(right) and not retraction(right):
            out += [left, right]
        else:
            out.append(part)
    return out


def _merge_anaphora(parts: list[str]) -> list[str]:
    """'the dentist called again. they need to push it to the 19th.' is one statement."""
    merged: list[str] = []
    for part in parts:
        leans = re.match(r"^(they|it|that|this|there|which)\b(?!'s (the|a)\b)", part, re.IGNORECASE) or re.match(
            r"^(?:[^,.]{0,25},\s*|(?:now|so|and|but|then)\s+)(they|it)(?:'re|'s| are| is)\b", part, re.IGNORECASE
        )
        if merged and leans and not retraction(part) and not correction(part) and not is_question(merged[-1]):
            merged[-1] = f"{merged[-1].rstrip('.!')}; {part}"
        else:
            merged.append(part)
    return merged


_FIXED_ATTRIBUTE = re.compile(
    r"^(?:(?:oops|sorry|wait|actually|correction|my bad|no|oh|hang on|hold on)[,!.:\s]+)+(?:the\s+|my\s+)?(?P<attr>[a-z][\w\s-]{1,30}?)\s+"
    r"(?:is|was|should be|'s)\s+(?:actually\s+)?(?P<new>[\w:./-]+)",
    re.IGNORECASE,
)


def attribute_correction(sentence: str, facts: list[Fact], correcting: bool = False) -> bool:
    """'oops, the room number is 215' after 'Hotel X, room 512': fix the value in place. With
    `correcting` (the sentence before was "I read it backwards") no "oops" is needed."""
    text = sentence.strip()
    match = _FIXED_ATTRIBUTE.match(text) or (correcting and _FIXED_ATTRIBUTE.match(f"actually, {text}"))
    if not match:
        return False
    new = match.group("new").rstrip(".,;:!?")
    for word in reversed(match.group("attr").split()):
        stem_ = re.escape(word[:3]) + r"\w*" if len(word) > 3 else re.escape(word)  # "reference" finds "ref"
        pattern = re.compile(rf"\b{stem_}\s+(?:number\s+|no\.?\s+|#)?(?P<old>[\w:./-]*\d[\w:./-]*)", re.IGNORECASE)
        if _swap_latest(facts, pattern, new):
            return True
    return False


def _apply_correction(fix: Correction, facts: list[Fact]) -> bool:
    """Replace the old value in the latest fact of this message that has it."""
    for old in (fix.old, re.sub(r"^the\s+", "", fix.old, flags=re.IGNORECASE)):
        for fact in reversed(facts):
            position = fact.text.casefold().find(old.casefold())
            if position >= 0 and old:
                new = fix.new if old == fix.old else re.sub(r"^the\s+", "", fix.new, flags=re.IGNORECASE)
                fact.text = fact.text[:position] + new + fact.text[position + len(old) :]
                return True
    return False
