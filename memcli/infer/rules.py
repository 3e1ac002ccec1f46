"""The named rules of extraction, each with its examples beside it (as Duckling keeps its rules).

A rule has a name (what --explain and the trace show), a test or a reading, and two lists: the
sentences it must act on and the near misses it must leave alone. tests/test_extract.py runs every
rule's examples, one pytest id per example naming its rule, so knowledge grows as a row and a
sentence here, not as a branch in the pipeline (extract.py runs the rules, stage by stage).

- drop: why a sentence or clause holds no fact worth keeping (SENTENCE_RULES, CLAUSE_RULES);
- retract: how people ask to forget (RETRACT_RULES);
- correct: how people fix a value they just gave (CORRECT_RULES).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from memcli.infer.types import Correction, Retraction
from memcli.text import lexicon
from memcli.text.english import (
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
    has_verb,
    normalise,
    of_the_moment,
    values,
)
from memcli.text.normalize import fold

# -- segment: labels and openers ----------------------------------------------------------------

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


def statement_before_question(text: str) -> str | None:
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
        lambda t, n: is_question(t) and not statement_before_question(t),
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


# -- retract: how people ask to forget -----------------------------------------------------------


@dataclass(frozen=True)
class RetractRule:
    """One way people ask to forget something: its name, its reading of a sentence (the sentence,
    and its text without openers such as "ok so") and its examples: (sentence, the target it must
    find), and near misses it must leave alone."""

    name: str
    read: Callable[[str, str], Retraction | None]
    retracts: tuple[tuple[str, str], ...]
    leaves: tuple[str, ...]


def _forget_command(sentence: str, text: str) -> Retraction | None:
    match = RETRACT_COMMAND.match(text)
    if not match or re.match(r"^(before|don'?t|do not|never|not)\b", text, re.IGNORECASE):
        return None
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


def _stopped_doing(
    pattern: re.Pattern[str], fallback: Callable[[str, str], str | None], replaces: bool = True
) -> Callable[[str, str], Retraction | None]:
    """A change that ends something ("I no longer…", "I stopped…"): the target is what ended;
    `fallback(target, text)` is what is kept when nothing stored names it."""

    def read(sentence: str, text: str) -> Retraction | None:
        match = pattern.search(text)
        if not match:
            return None
        target = match.group("target").strip(" ,.;")
        target = re.sub(r"\s+any ?more$", "", target, flags=re.IGNORECASE)
        kept = fallback(target, text)
        target = re.split(r",\s*(?:i|we)\b|;", target, maxsplit=1, flags=re.IGNORECASE)[0]
        return Retraction(target=target, sentence=sentence, fallback=kept, replaces=replaces)

    return read


def _in_their_words(target: str, text: str) -> str | None:
    # "I quit alcohol", "i dont drink coffee anymore": a change worth keeping, in the user's words
    return normalise(re.split(r",\s*(?:i|we)\b", text, maxsplit=1, flags=re.IGNORECASE)[0])


def _is_over(sentence: str, text: str) -> Retraction | None:
    match = IS_OVER.match(text)
    return Retraction(target=match.group("target").strip(), sentence=sentence) if match else None


def _never_mind(sentence: str, text: str) -> Retraction | None:
    match = re.match(
        r"^never ?mind (?:about )?(?:the |that |my |our )?(?P<target>[^,.;]+?)(?:,|\.|;|$)", text, re.IGNORECASE
    )
    if not match or not content_words(match.group("target")):
        return None  # "never mind": nothing named
    return Retraction(target=TARGET_TAIL.sub("", match.group("target")).strip(), sentence=sentence)


RETRACT_RULES = (  # the first that reads a retraction wins
    RetractRule(
        "asked to forget",
        _forget_command,
        (
            ("Please forget that I'm learning the harp.", "learning the harp"),
            ("Scratch my phone number from your notes, it's outdated.", "phone number"),
            ("wipe anything about my old flat", "old flat"),
        ),
        ("Before I forget: I take the 8:10 bus to work.", "don't forget my keys"),
    ),
    RetractRule(
        "no longer",
        _stopped_doing(NO_LONGER, lambda target, text: normalise(f"I no longer {target}")),
        (("I no longer play chess.", "play chess"),),
        ("my sister no longer lives in Oslo",),
    ),
    # "not … anymore" repeats the detail it retracts ("dont do the saturday market anymore"): a
    # memory it names is deleted, and the sentence is kept only when none is
    RetractRule(
        "not anymore",
        _stopped_doing(NOT_ANYMORE, _in_their_words, replaces=False),
        (("I'm not vegetarian anymore.", "vegetarian"), ("i don't drink coffee anymore", "drink coffee")),
        ("I'm not vegetarian",),
    ),
    RetractRule(
        "stopped",
        _stopped_doing(STOPPED, _in_their_words),
        (("I quit alcohol", "alcohol"), ("we stepped down from the school board", "the school board")),
        ("I started running", "the bus stopped at Leeds"),
    ),
    RetractRule(
        "is over",
        _is_over,
        (("the book club is over.", "book club"), ("our Friday standup is cancelled", "Friday standup")),
        ("the book club meets on Fridays",),
    ),
    RetractRule(
        "never mind",
        _never_mind,
        (("never mind the sign-off rule, you can forget it", "sign-off rule"),),
        ("never mind",),
    ),
)


def retraction(sentence: str) -> Retraction | None:
    """What the sentence asks to forget, with the name of the rule that read it; None if nothing."""
    if HYPOTHETICAL.search(sentence) or SARCASM.search(sentence):
        return None  # "imagine if I quit everything…" retracts nothing
    text = DISCOURSE.sub("", sentence.strip()).strip().rstrip(".!")
    for rule in RETRACT_RULES:
        found = rule.read(sentence, text)
        if found:
            return replace(found, rule=rule.name)
    return None


# -- correct: a value fixed as soon as it is given -----------------------------------------------


@dataclass(frozen=True)
class CorrectRule:
    """One way people fix a value they gave: its pattern (groups `old` and `new`) and its examples:
    (sentence, old, new), and near misses it must leave alone."""

    name: str
    pattern: re.Pattern[str]
    corrects: tuple[tuple[str, str, str], ...]
    leaves: tuple[str, ...]


CORRECT_RULES = (
    CorrectRule(
        "X, not Y",
        CORRECTION[0],
        (
            ("Oops, it's the 5th, not the 3rd.", "the 3rd", "the 5th"),
            ("Actually it's Thursday, not Tuesday.", "Tuesday", "Thursday"),
        ),
        ("it's not Tuesday", "it's Thursday"),
    ),
    CorrectRule(
        "not X but Y",
        CORRECTION[1],
        (("no, not Lyon but Lille", "Lyon", "Lille"),),
        ("not now, but soon I will",),
    ),
)


def correction(sentence: str) -> Correction | None:
    """The value the sentence corrects, with the name of the rule that read it; None if none."""
    text = DISCOURSE.sub("", sentence.strip()).strip()
    for rule in CORRECT_RULES:
        match = rule.pattern.match(text)
        # a value comes back in place of a value: "not now, but soon I will" says when, it fixes nothing
        if match and not re.search(r"\b(?:i|we|you|he|she|they)\b", match.group("new"), re.IGNORECASE):
            old, new = match.group("old").strip(), match.group("new").strip()
            return Correction(old=old, new=new, sentence=sentence, rule=rule.name)
    return None
