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
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from .index.tokenize import STOPWORDS, fold, stem

# -- data --------------------------------------------------------------------------------------


@dataclass
class Fact:
    """One statement to remember, normalised to read well in a list ("Prefers pnpm over npm")."""

    text: str
    sentence: str  # the user's words it came from
    subject: frozenset[str] = frozenset()  # who or what it is about (see `subject_of`)


@dataclass
class Retraction:
    """The user asked to forget something: `target` says what (words to match)."""

    target: str
    sentence: str
    sweeping: bool = False  # "anything about…": every match, not only the best
    fallback: str | None = None  # "No longer plays in a band": kept when nothing matched
    keep: str | None = None  # "…but keep the note about the orchids": that part stays


@dataclass
class Correction:
    """ "It's the 21st, not the 12th": replace `old` with `new` in what was just said (or stored)."""

    old: str
    new: str
    sentence: str


@dataclass
class Extraction:
    facts: list[Fact] = field(default_factory=list)
    retractions: list[Retraction] = field(default_factory=list)
    corrections: list[Correction] = field(default_factory=list)  # left for stored memories
    dropped: list[tuple[str, str]] = field(default_factory=list)  # (sentence, why) for --explain


# -- word lists (skills, not sentences: each list names a kind of thing people say) ------------

_GREETING = re.compile(
    r"^(hi|hey|hello|hiya|yo|good (morning|afternoon|evening|night)|morning|evening|thanks?( you)?( so much)?|"
    r"thx|ty|cheers|cool|nice|great|awesome|perfect|ok(ay)?|k|sure|yes|yeah|yep|yup|no|nope|nah|got it|"
    r"sounds good|fair|haha|lol|lmao|hmm+|oh|ooh|wow|bye|see you|talk (to you )?later|will do|done|"
    r"i'?ll take a look|maybe|idk|i don'?t know|never ?mind|no worries|no problem|noted|right|true|exactly|"
    r"hope (you|your|all|everything)\b.*|how are you.*|how'?s it going.*|have a (good|nice|great|lovely) \w+|"
    r"(?:thanks?|thank you|thx|ty|cheers)\b[^.!?]{0,40}|(?:that|this|it) (?:was|is|'s) (?:so |super |really |very )?"
    r"(?:helpful|great|useful|perfect|amazing|brilliant|lovely))"
    r"([ ,!.]+(thanks|there|again|then|so much|lol|haha|fair|idk|maybe|please|pls))*[ !.,:)(]*$",
    re.IGNORECASE,
)
_DISCOURSE = re.compile(
    r"^(?:(?:hi|hey|hello|ok(?:ay)?|oh|ooh|wow|well|so|also|and|but|anyway|anyhow|btw|by the way|actually|"
    r"yep|yeah|yes|yup|right|sure|fyi|psst|guess what|just so you know|for the record|for context|"
    r"as you know|just fyi|one more thing|oh and|and also|plus|heads[- ]up|for real(?: though)?|honestly|"
    r"meh|hmm+|lol|haha)\b[,:!.\s-]*)+",
    re.IGNORECASE,
)
# "Big news:", "quick update for meal planning:", "Meeting notes, 3 Oct:" — a short label before a colon
_LABEL_WORDS = re.compile(
    r"\b(news|update|reminder|note|notes|heads[- ]up|context|fyi|psa|tip|thought|check-?in|orders|"
    r"conventions?|rules?|ps|p\.s|edit|correction|info|background|fact|profile|summary|recap|policy|beat|"
    r"status|news flash|bio)\b",
    re.IGNORECASE,
)
_QUESTION_START = re.compile(
    r"^(what|what's|whats|which|who|whom|whose|where|when|why|how|is|are|am|was|were|do|does|did|can|could|"
    r"would|will|should|shall|may|might|have|has|any|anything|got any|know any|remember)\b",
    re.IGNORECASE,
)
_REQUEST = re.compile(
    r"\b(can you|could you|would you|will you|please (look|check|help|find|give|send|tell|show|suggest|recommend)|"
    r"pls|plz|ideas?\b|suggestions?\b|recommend(ations?)?\b|help me|(?:i )?need (?:a|an|some) \w+ (?:for|to)|"
    r"looking for (?:a|an|some))\b",
    re.IGNORECASE,
)
_STANDING = re.compile(
    r"\b(always|never|every|everywhere|everything|anywhere|all\b|any\b|no\b|don'?t|do not|only|must|"
    r"from now on|going forward|in this (repo|repository|codebase|project)|here|nothing (?:with|that|containing)|without)\b",
    re.IGNORECASE,
)
_HYPOTHETICAL = re.compile(
    r"\b(what if|someday|some day|one day|if i (ever|were|was|had)|i wonder|wondering|would be (nice|cool|fun)|"
    r"probably never|maybe one day|in another life|imagine if|i wish)\b",
    re.IGNORECASE,
)
_OPINION_VERBS = r"(think|thinks|says|said|insist|insists|insisting|believe|believes|reckon|reckons|claim|claims|argue|argues|swear|swears|feel|feels)"
_OTHERS_OPINION = re.compile(
    rf"^(?:(?:my|our|the|a|his|her|their)\s+)?(?:\w+\s+){{0,2}}?(?:\w+)\s+(?:keeps?\s+|always\s+|still\s+)?"
    rf"(?:{_OPINION_VERBS}|telling me|tells me|told me|wants me|suggests|suggested|recommends|recommended)\b",
    re.IGNORECASE,
)
_SARCASM = re.compile(r"🙃|/s\b|\b(?:oh sure|yeah right|oh great|as if)\b|\bbest \w+ ever\b.*(?:🙃|!)", re.IGNORECASE)
_EPHEMERAL = re.compile(
    r"\b(today|tonight|this morning|this afternoon|this evening|just now|again|"
    r"yesterday|last (?:week|night)|the other day|weather|gloomy|rainy|sunny|so tired|exhausted|overwhelmed|stressed|bored|hungry|sleepy|"
    r"chaotic|ugh|kill me|just (?:emailed|called|texted|messaged|heard|rang))\b",
    re.IGNORECASE,
)
# Words that make a one-off event a lasting fact anyway ("started", "moved", "new").
_DURABLE = re.compile(
    r"\b(started|start|joined|moved|moving|relocat\w*|switched|migrated|rewrote|rewritten|new|now|since|"
    r"from now on|as of|anymore|no longer|allergic|can'?t|always|never|every|rescheduled|push(ed)? it|"
    r"moved it|changed|promoted|hired|married|engaged|born|adopted|diagnosed|bought|sold|picked up|got an?|"
    r"retired|quit|stopped|replaced|upgraded|currently)\b",
    re.IGNORECASE,
)
_CONFIRM = re.compile(
    r"\b(still (right|true|correct|valid|accurate|the case|stands|good)|that'?s (right|correct)|is correct|"
    r"is right|'s (right|correct|fine) (though|still)|hasn'?t changed|unchanged|still at it|still going|still on it|"
    r"still doing (?:it|that)|same as before|haven'?t changed|still (?:living|based|working) (?:in|at) the same)\b|^(?:and\s+)?the \w+(?: \w+)? (?:is|are|was) (?:fine|right|correct|ok|okay|still right)\b",
    re.IGNORECASE,
)
_SELF_TALK = re.compile(
    r"\b(misread|mistyped|typo|my bad|my mistake|i was wrong|i meant to say|ignore that|scratch that|"
    r"never mind|i'?m not sure|no idea)\b",
    re.IGNORECASE,
)
_META_TAIL = re.compile(
    r"[,;]?\s*(?:so\s+)?(?:please\s+)?(?:keep (?:that|this|it) in mind|bear (?:that|this) in mind|in case (?:that|it) "
    r"matters|just so you know|for (?:future )?reference|fyi|btw|by the way|if that helps|for what it'?s worth)\b[^.!?]*[.!?]*$",
    re.IGNORECASE,
)

_FORGET_VERB = r"(?:forget|scratch|remove|delete|erase|drop|wipe|discard|clear|purge|unlearn)"
_RETRACT_COMMAND = re.compile(
    rf"^(?:(?:please|pls|just|also|and|can you|could you|would you|kindly)[,\s]+)*{_FORGET_VERB}\b[,\s]*(?P<target>.*)$",
    re.IGNORECASE,
)
_NO_LONGER = re.compile(r"\b(?:i|we)\s+(?:am |are |'m |'re )?no longer\s+(?P<target>.+)$", re.IGNORECASE)
_NOT_ANYMORE = re.compile(
    r"\b(?:i|we)(?:'m|'re| am| are)?\s+(?:not|n't|do not|don't|does not|doesn't)\s+(?P<target>.+?)\s+any ?more\b",
    re.IGNORECASE,
)
_STOPPED = re.compile(
    r"\b(?:i|we)\s*(?:have |'ve )?(?:stopped|quit|gave up|give up|stepped down from|stepped back from|dropped out of)\s+(?P<target>\w.+)$",
    re.IGNORECASE,
)
_IS_OVER = re.compile(
    r"^(?:the |my |our )?(?P<target>[\w\s-]{2,40}?)\s+(?:is|are|'s)\s+(?:over|cancell?ed|off|finished|done for good)\b",
    re.IGNORECASE,
)
_TARGET_PREFIX = re.compile(
    r"^(?:(?:about|that|the fact that|the (?:rule|note|bit|part|thing|memory|stuff) about|what i said about|"
    r"(?:anything|everything|all) (?:you (?:know|have|remember|'ve got) )?(?:about|on|regarding)|all of|any|"
    r"my note about|the|my|our|i'?m|i am|i was|i)\s+)+",
    re.IGNORECASE,
)
_TARGET_TAIL = re.compile(
    r"\s*(?:from (?:your|my|the) (?:notes|memory|memories|records|files)|for (?:good|now)|please|entirely|"
    r"completely|altogether)\b.*$",
    re.IGNORECASE,
)
_ANAPHORIC_TARGET = re.compile(
    r"^(?:it|that|this|them|those|all (?:of )?(?:that|this|it)|the whole thing|whole thing|everything|all that|"
    r"the (?:whole )?(?:plan|idea|thing|event|stuff))\W*$",
    re.IGNORECASE,
)
_CORRECTION = [
    re.compile(
        r"^(?:(?:no|sorry|wait|oops|actually|correction)[,:!\s]+)*(?:it'?s|it is|that'?s|that is|it was|i meant|make that|"
        r"should be|actually)\s+(?P<new>[^,]+?),?\s+not\s+(?P<old>[^,.!?]+?)[.!?]*$",
        re.IGNORECASE,
    ),
    re.compile(r"^(?:(?:no|sorry|wait|actually)[,\s]+)*not\s+(?P<old>[^,]+?),?\s+but\s+(?P<new>[^,.!?]+?)[.!?]*$", re.IGNORECASE),
]

RELATIONS = (
    "sister|brother|mother|mom|mum|father|dad|wife|husband|partner|girlfriend|boyfriend|fiancee?|son|daughter|"
    "kid|child|baby|friend|best friend|cousin|aunt|uncle|niece|nephew|grandmother|grandma|grandfather|grandpa|"
    "colleague|coworker|co-worker|boss|manager|mentor|mentee|roommate|flatmate|neighbou?r|teacher|doctor|"
    "dentist|therapist|cat|dog|puppy|kitten|pet|horse|parrot|rabbit|hamster"
)
_PRONOUN_SUBJECT = re.compile(r"^(i|i'm|i've|i'd|i'll|we|we're|we've|we'll|we'd|me)\b", re.IGNORECASE)
_AUX = frozenset(
    """am is are was were be been being 's 're 've 'm 'd 'll have has had do does did will would can could
    should must may might shall can't don't doesn't won't isn't aren't wasn't weren't didn't haven't hasn't
    couldn't shouldn't i'm i've i'd i'll we're we've he's she's it's they're that's there's""".split()
)
_COMMON_VERBS = frozenset(
    """use uses used prefer prefers like likes love loves hate hates live lives work works play plays run runs
    write writes edit edits drink drinks eat eats go goes take takes keep keeps get gets got make makes need needs
    want wants lead leads own owns speak speaks study studies teach teaches drive drives
    follow follows allow allows handle handled store stores deploy deployed build built rehearse rehearses
    start started join joined move moved switch switched migrate migrated rewrite rewrote turned turn train
    plan call called pick book schedule add avoid put stand cycle cycles commute commutes
    sleep sleeps wake wakes lift lifts climb climbs collect collects grow grows cook cooks read reads visit
    visits stay stays indent indents format formats test tests commit commits merge merges review reviews
    capping cap caps leave leaves belong belongs report reports manage manages""".split()
)
_MONTHS = r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
_DAYS = r"mon(?:day)?s?|tue(?:s(?:day)?)?s?|wed(?:nesday)?s?|thu(?:rs(?:day)?)?s?|fri(?:day)?s?|sat(?:urday)?s?|sun(?:day)?s?"
_VALUE = re.compile(
    rf"\[\[[^\]]+\]\]|`[^`]+`|\b\d+(?:[.,:]\d+)*(?:\s?(?:am|pm|st|nd|rd|th|kg|km|mi|lb|lbs|h|k|%))?\b|"
    rf"\b(?:{_MONTHS}|{_DAYS})\b|\b(?:twice|once|thrice|two|three|four|five|six|seven|eight|nine|ten)\b|"
    rf"(?<!\w)['\"‘“][^'\"’”]{{2,60}}['\"’”](?!\w)",
    re.IGNORECASE,
)
_NUMBER_WORDS = {"one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6", "seven": "7",
                 "eight": "8", "nine": "9", "ten": "10", "once": "1", "twice": "2", "thrice": "3"}
_GENERIC = frozenset(
    stem(w)
    for w in """thing things stuff lot lots bit way time times really actually just pretty much many
    kind sort whole something anything everything nothing anyone everyone someone good great nice fine
    please pls plz still sure
    also still even ever get got make made take look want need know think say said tell let go going give gives""".split()
)

# -- sentences ----------------------------------------------------------------------------------

_ABBREVIATIONS = re.compile(r"\b(e\.g|i\.e|etc|vs|mr|mrs|ms|dr|st|approx|no|incl)\.\s", re.IGNORECASE)
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"')\]]*\s+|\n+|(?<=[🙄😅😂🙂😊])\s+")


def sentences(text: str) -> list[str]:
    """Split on sentence ends and line breaks; '142.5 kg', 'Fly.io', 'e.g. this' stay whole."""
    guarded = _ABBREVIATIONS.sub(lambda m: m.group(0).replace(". ", "\x00 "), text)
    parts = _SENTENCE_END.split(guarded)
    out = []
    for part in parts:
        part = re.sub(r"^\s*(?:[-*•]|\d+[.)])\s+", "", part.replace("\x00", ".")).strip()
        if part:
            out.append(part)
    return out


@lru_cache(maxsize=65536)
def content_words(text: str) -> frozenset[str]:
    """Stems that carry meaning: search terms minus generic words; numbers in words become digits."""
    words = re.findall(r"[^\W_]+", fold(text))
    out = set()
    for word in words:
        word = _NUMBER_WORDS.get(word, word)
        if word in STOPWORDS:
            continue
        stemmed = stem(word)
        if stemmed not in _GENERIC:
            out.add(stemmed)
    return frozenset(out)


@lru_cache(maxsize=65536)
def values(text: str) -> frozenset[str]:
    """What can conflict between two statements of one attribute: names, numbers, dates, times,
    [[links]], `code`. Folded so 'Ghent' == 'ghent'; number words become digits."""
    found = {fold(m.group(0)).strip("[]`") for m in _VALUE.finditer(text)}
    found = {_NUMBER_WORDS.get(v, v) for v in found}
    found |= {fold(w) for w in proper_nouns(text)}
    return frozenset(v for v in found if v)


_CAPITAL = re.compile(r"(?<![\w\[])(?:[A-Z][\w'’.-]*[\w]|[A-Z])(?:\s+(?:[A-Z][\w'’.-]*[\w]|de\b|da\b|van\b|von\b|of\b))*")
_NOT_NAMES = frozenset(
    """i i'm i've i'd i'll the a an my our we he she they it this that these those if when so and but or also
    please yes no not hi hey hello thanks ok okay oh ooh wow just btw always never every use don't do
    what which who where why how is are was were will can could would should any some wait sorry oops
    guess random quick big new reminder update heads context meeting before still yep yeah yup well
    anyway also plus then now today tomorrow yesterday unlike since after during""".split()
)


def proper_nouns(text: str, initial: bool = False) -> list[str]:
    """Capitalised words, a cheap NER. A lone capitalised word opening a sentence counts only
    with `initial=True` ('Montreal on the 12th', but also 'Different squad entirely')."""
    names = []
    for match in _CAPITAL.finditer(text):
        words = match.group(0).split()
        before = text[: match.start()].rstrip()
        sentence_start = not before or before[-1] in ".!?:;\n"
        while words and (
            fold(words[0]) in _NOT_NAMES
            or re.fullmatch(RELATIONS, fold(words[0]))
            or (sentence_start and (fold(words[0]) in _COMMON_VERBS or fold(words[0]) in _AUX or fold(words[0]).endswith("ed")))
        ):
            words, sentence_start = words[1:], False
        if not words:
            continue
        if sentence_start and len(words) == 1 and (not initial or fold(words[0]) in STOPWORDS | _COMMON_VERBS):
            continue
        names.append(" ".join(words))
    return names


def has_verb(text: str) -> bool:
    words = [fold(w) for w in re.findall(r"[\w']+", text) if w != "May"]  # the month is no verb
    if any(w in _AUX or w in _COMMON_VERBS for w in words):
        return True
    if len(words) >= 2 and (_PRONOUN_SUBJECT.match(words[0]) or words[0] in ("he", "she", "they", "it")):
        return True
    return any(len(w) > 4 and (w.endswith("ed") or w.endswith("ing")) for w in words)


def _has_finite_verb(text: str) -> bool:
    """Stricter than has_verb: an auxiliary or a known verb ('Meeting notes' has none)."""
    words = [fold(w) for w in re.findall(r"[\w']+", text) if w != "May"]  # the month is no verb
    return any(w in _AUX or w in _COMMON_VERBS for w in words) or bool(words and _PRONOUN_SUBJECT.match(words[0]))


# -- what one sentence is -----------------------------------------------------------------------


_REMEMBER_THIS = re.compile(
    r"^(?:(?:please|pls|can you|could you|would you|just)\s+)*(?:note|remember|save|record|write down|jot down)"
    r"(?:\s+(?:that|this|down)\b|(?=\s+(?:my|our)\b)|:)\s*(?:(?:my|our)\s+)?(?=\w)",
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
    text = _DISCOURSE.sub("", sentence).strip()
    if not is_question(text):
        text = _REMEMBER_THIS.sub("", text)
    head, colon, rest = text.partition(":")
    if colon and rest.strip() and len(head.split()) <= 9 and "[[" not in head:
        verbless = not _has_finite_verb(head)
        # "ray's birthday: 12 May" keeps its head (it says what the value is); "Big news: we
        # moved" and "Reminder: dark theme everywhere" lose theirs
        pure = bool(_PURE_LABEL.match(head.strip()))
        labelled = pure or (bool(_LABEL_WORDS.search(head)) and has_verb(rest))
        plain = "," not in head and not re.search(r"\b(them|it|me|you|but|with)\b", head, re.IGNORECASE)
        if labelled or (verbless and plain and has_verb(rest) and not values(head) - values(rest) and len(head.split()) <= 6):
            text = _DISCOURSE.sub("", rest.strip()).strip()
    return text


def is_question(sentence: str) -> bool:
    stripped = sentence.strip()
    return stripped.endswith("?") or bool(_QUESTION_START.match(_DISCOURSE.sub("", stripped)) and "?" in stripped)


def sentence_dropped(sentence: str) -> str | None:
    """Why a whole sentence holds no fact (checked before it is split into clauses)."""
    text = re.sub(r"^[^\w\[`'\"]+", "", sentence.strip())  # "🙏 have a good one"
    if not text or not re.search(r"\w", text):
        return "empty"
    if _GREETING.match(text):
        return "small talk"
    if is_question(text):
        return "a question"
    if _HYPOTHETICAL.search(text):
        return "hypothetical"
    if _SARCASM.search(text):
        return "sarcasm"
    return None


def why_dropped(sentence: str, note: bool = False) -> str | None:
    """Why a (labelled-stripped) sentence or clause is not a fact worth keeping, or None to keep it.
    A `note` (a short text given on its own, as `mem add "Allergic to penicillin"`) may be verbless."""
    text = _META_TAIL.sub("", sentence.strip()).strip()
    reason = sentence_dropped(text)
    if reason:
        return reason
    if _OTHERS_OPINION.search(text) and not re.match(r"^(i|we|i'm|we're)\b", text, re.IGNORECASE):
        return "someone else's opinion"
    if _CONFIRM.search(text):
        return "confirms what is known"
    if _SELF_TALK.search(text) and not values(text):
        return "an aside"
    if _REQUEST.search(text) and not _STANDING.search(text):
        return "a request, not a fact"
    if _EPHEMERAL.search(text) and not (_DURABLE.search(text) and (values(text) or len(content_words(text)) >= 3)):
        return "of the moment"
    words = content_words(text)
    if not words:
        return "nothing specific"
    # "three, and a menace" is an answer, not a fact: number words are not values here
    hard_values = {v for v in values(text) if not v.isdigit() or re.search(rf"(?<!\w){v}(?!\w)", text)}
    if not note and not has_verb(text) and not (hard_values and len(words) >= 2) and not _STANDING.search(text):
        return "a fragment"
    if _is_one_off_order(text):
        return "a one-off instruction"
    if re.match(r"^(?:you|you're|you've|you'd|u)\b", text, re.IGNORECASE) and not _STANDING.search(text):
        return "about the assistant"
    return None


def _is_one_off_order(text: str) -> bool:
    """'switch them', 'yes please do it': an instruction about the task at hand, not a standing rule."""
    words = re.findall(r"[\w']+", fold(text))
    if not words or _PRONOUN_SUBJECT.match(words[0]) or _STANDING.search(text):
        return False
    objects = {"it", "them", "this", "that", "these", "those"}
    return len(words) <= 4 and bool(objects & set(words))


def retraction(sentence: str) -> Retraction | None:
    text = _DISCOURSE.sub("", sentence.strip()).strip().rstrip(".!")
    match = _RETRACT_COMMAND.match(text)
    if match and not re.match(r"^(before|don'?t|do not|never|not)\b", text, re.IGNORECASE):
        raw = match.group("target").strip()
        kept = re.search(r",?\s*\b(?:but|and)\s+(?:please\s+)?(?:keep|leave|not)\s+(?:the\s+)?(?:note|bit|part|one)?\s*(?:about\s+)?(?P<keep>.+)$|"
                         r",?\s*\bexcept\s+(?:for\s+)?(?P<keep2>.+)$", raw, re.IGNORECASE)
        keep = None
        if kept:
            keep = (kept.group("keep") or kept.group("keep2") or "").strip(" .") or None
            raw = raw[: kept.start()]
        sweeping = bool(re.match(r"^(anything|everything|all)\b", raw, re.IGNORECASE))
        target = _TARGET_TAIL.sub("", _TARGET_PREFIX.sub("", raw)).strip(" ,.;")
        target = re.split(r",\s*(?:i|we)\b", target, maxsplit=1, flags=re.IGNORECASE)[0]
        return Retraction(target=target, sentence=sentence, sweeping=sweeping, keep=keep)
    for pattern in (_NO_LONGER, _NOT_ANYMORE, _STOPPED):
        match = pattern.search(text)
        if match:
            target = match.group("target").strip(" ,.;")
            target = re.sub(r"\s+any ?more$", "", target, flags=re.IGNORECASE)
            if pattern is _NO_LONGER:
                fallback: str | None = normalise(f"I no longer {target}")
            elif pattern is _STOPPED:  # "I quit alcohol": a change worth keeping if nothing stored names it
                fallback = normalise(re.split(r",\s*(?:i|we)\b", text, maxsplit=1, flags=re.IGNORECASE)[0])
            else:
                fallback = None
            target = re.split(r",\s*(?:i|we)\b|;", target, maxsplit=1, flags=re.IGNORECASE)[0]
            return Retraction(target=target, sentence=sentence, fallback=fallback)
    match = _IS_OVER.match(text)
    if match:
        return Retraction(target=match.group("target").strip(), sentence=sentence)
    return None


def correction(sentence: str) -> Correction | None:
    text = _DISCOURSE.sub("", sentence.strip()).strip()
    for pattern in _CORRECTION:
        match = pattern.match(text)
        if match:
            return Correction(old=match.group("old").strip(), new=match.group("new").strip(), sentence=sentence)
    return None


# -- clauses and normal form ---------------------------------------------------------------------

_CLAUSE_SPLIT = re.compile(
    r"(?:,\s*(?:and|but)?\s*|\s+and\s+)(?=(?:i|i'm|i've|i'd|we|we're|we've|my|our)\b)|,\s+(?:and\s+)?(?=(?!(?:he|she|they|it)\b)[a-z])",
    re.IGNORECASE,
)
_THIRD_PERSON_AND = re.compile(
    r"\s+and\s+(?=(?:is|has|was|lives|works|owns|teaches|studies|plays|runs|leads|uses|prefers|loves|likes|"
    r"hates|speaks|writes|drives|goes|does|turned|moved|started|got|became)\b|[a-z]+[^s\W]s\s+"
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
        if _independent(left) and _independent(right.split(",")[0]) and not right[:1].isupper() or (
            _independent(left) and _PRONOUN_SUBJECT.match(right.strip()) and _independent(right.split(",")[0])
        ):
            pieces.append(left.strip())
            start = match.end()
    pieces.append(sentence[start:].strip())
    out: list[str] = []
    for piece in pieces:
        out.extend(_split_shared_subject(piece))
    return [p for p in out if p]


def _independent(text: str) -> bool:
    if re.search(r"\b(otherwise|too|as well|though|anyway)\W*$", text, re.IGNORECASE):
        return False  # leans on the clause before it
    return has_verb(text) and len(content_words(text)) >= 2 and not re.match(
        r"^\s*(so|but|which|that|because|since|who|although|though|unless|until|while|when|if|as|then)\b", text, re.IGNORECASE
    )


def _split_shared_subject(clause: str) -> list[str]:
    """'My sister Gabriela lives in Valencia and works as a pharmacist' -> two statements about Gabriela."""
    match = _THIRD_PERSON_AND.search(clause)
    if not match:
        return [clause]
    head = clause[: match.start()]
    subject = _subject_span(head)
    if not subject or _PRONOUN_SUBJECT.match(subject):
        return [clause]
    return [head.strip(), f"{subject} {clause[match.end():].strip()}"]


def _subject_span(clause: str) -> str:
    """The words before the first verb ('My sister Gabriela' in 'My sister Gabriela lives…')."""
    words = clause.split()
    for position, word in enumerate(words):
        token = fold(word.strip(",;:"))
        if position and (token in _AUX or token in _COMMON_VERBS or (len(token) > 4 and token.endswith("ed"))):
            return " ".join(words[:position])
    return ""


_IRREGULAR_PAST = frozenset("""got took went wrote rewrote began became left found bought sold made met ran gave had
    did came saw knew thought told felt kept lost paid put said sent spent stood understood won grew drove ate drank
    swam broke chose fell forgot forgave froze hid rode rose shook spoke stole woke wore threw flew drew blew caught
    taught brought fought built lent meant read quit set shut split spread cut hit hurt let sat slept heard held
    led fed""".split())
_THIRD = {"am": "is", "'m": "is", "have": "has", "'ve": "has", "do": "does", "go": "goes", "be": "is",
          "was": "was", "don't": "doesn't", "do not": "does not", "can't": "can't", "haven't": "hasn't"}
_KEEP_FORM = frozenset("""can could will would should must may might shall used did was had""".split())
_ADVERBS = frozenset("""mostly usually always never often sometimes really just also still generally normally
    typically rarely only actually mainly primarily already seldom""".split())


def _third_person(verb: str) -> str:
    low = verb.lower()
    if low in _THIRD:
        return _THIRD[low]
    if low in _KEEP_FORM or low.endswith("ed") or low.endswith("n't") or low in _IRREGULAR_PAST:
        return verb
    if re.search(r"(s|sh|ch|x|z|o)$", low):
        return verb + "es"
    if re.search(r"[^aeiou]y$", low):
        return verb[:-1] + "ies"
    return verb + "s"


def normalise(clause: str, person: str | None = None) -> str:
    """A statement that reads well in a list: 'I prefer pnpm' -> 'Prefers pnpm', 'My dog is
    called Rex' -> 'Dog is called Rex'. Names, numbers and dates are kept exactly."""
    original = clause.strip().rstrip(".,;:!? ")
    text = _META_TAIL.sub("", clause.strip())
    text = re.sub(r",?\s*\b(?:lol|haha|lmao|rofl)\b[.!]*|\s*[🙄😅😂🙃😊🙂😭🚗🎉]+", "", text, flags=re.IGNORECASE).strip()
    text = _DISCOURSE.sub("", text).strip()
    text = re.sub(r"\s*(?:\b(?:lol|haha|lmao|ugh)\b|[!]+|:\)|:D|,?\s*\b(?:please|pls|plz|thanks)\b)+[.!]*\s*$", "", text, flags=re.IGNORECASE)
    text = text.strip().rstrip(".,;: ").strip()
    if person:
        text = re.sub(r"^(?:he|she)(?:'s|\s+is)\b", f"{person} is", text, flags=re.IGNORECASE)
        text = re.sub(r"^(?:he|she)\b", person, text, flags=re.IGNORECASE)
    match = re.match(r"^(?i:i)(?:'m| am)\s+([A-Z][a-z]+(?:[- ][A-Z][a-z]+)?),\s*(an?\s.*|the\s.*)$", text)
    if match and fold(match.group(1)) not in _NOT_NAMES:  # "I'm Mirela, a backend engineer…"
        rest = f"; {match.group(2)}" if match.group(2) else ""
        return f"Name is {match.group(1)}{rest}"
    match = re.match(r"^i(?:'m| am)\s+(.*)$", text, re.IGNORECASE)
    if match:
        text = f"Is {match.group(1)}"
    else:
        match = re.match(r"^i(?:'ve| have)\s+(got\s+)?(.*)$", text, re.IGNORECASE)
        if match:
            text = f"Has {match.group(2)}" if match.group(1) else f"Has {match.group(2)}"
        else:
            match = re.match(r"^i(?:'ll| will)\s+(.*)$", text, re.IGNORECASE)
            if match:
                text = f"Will {match.group(1)}"
            else:
                match = re.match(r"^i\s+((?:no longer\s+|\w+\s+)?)([\w'-]+)(.*)$", text, re.IGNORECASE)
                if match:
                    adverb, verb, rest = match.group(1), match.group(2), match.group(3)
                    if adverb.strip().lower() not in _ADVERBS | {"no longer"}:
                        verb, rest, adverb = adverb.strip(), f" {verb}{rest}", ""
                        if not verb:
                            verb, rest = match.group(2), match.group(3)
                    text = f"{adverb}{_third_person(verb)}{rest}"
                else:
                    text = re.sub(r"^my\s+", "", text, flags=re.IGNORECASE)
    text = re.sub(r"\s+", " ", text).strip()
    if text and text[1:] != original[1:]:  # words were dropped or rewritten: start the new sentence
        text = text[:1].upper() + text[1:]
    return text


_IMPERATIVE_START = re.compile(
    r"^(?:(?:always|never|please|just|only|don'?t|do not)\s+)*(?:use|prefer|avoid|keep|write|run|add|put|pick|book|"
    r"schedule|call|make|format|indent|test|commit|merge|review|follow|name|send|reply|answer|ask|check|"
    r"deploy|document|spell|tag|label|sign|include|store|save|open|close|install|prefix|mark|cc|ping)\b",
    re.IGNORECASE,
)
_FRONT_PHRASE = re.compile(
    r"^(?P<phrase>(?:as of|since|from|starting(?: from| in)?|beginning|until|these days|nowadays|lately|recently|"
    r"this (?:week|month|year)|next (?:week|month|year)|in this (?:repo|repository|codebase|project)|here|"
    r"for this (?:repo|repository|codebase|project)|in (?:the )?(?:" + _MONTHS + r"))\b[^,]*?),?\s+"
    r"(?=(?:i|i'm|i've|i'll|we|we're|we've|my|our|the)\b)",
    re.IGNORECASE,
)


def front_phrase_last(clause: str) -> str:
    """'Since May I've been leading X' -> "I've been leading X since May" (so the subject leads)."""
    match = _FRONT_PHRASE.match(clause.strip())
    if not match:
        return clause
    rest = clause.strip()[match.end() :].rstrip(" .!")
    phrase = match.group("phrase")
    return f"{rest} {phrase[:1].lower()}{phrase[1:]}"


@lru_cache(maxsize=65536)
def subject_of(clause: str) -> frozenset[str]:
    """Who a statement is about, for deciding whether two statements can clash:
    {'@user'} for the user ('I…', 'we…', 'my office days…', a rule in the imperative);
    names (folded) for a named someone or something, plus '@relation' when it is the user's
    sister, friend, dog… ('My sister Gabriela'); an empty set when unknown ('Standup …')."""
    text = _DISCOURSE.sub("", clause.strip()).strip()
    relation = re.match(rf"^(?:(?:my|our)\s+(?:\w+\s+)?)?({RELATIONS})\b", text, re.IGNORECASE)
    if _PRONOUN_SUBJECT.match(text) or (re.match(r"^(?:my|our)\b", text, re.IGNORECASE) and not relation):
        return frozenset({"@user"})
    if _IMPERATIVE_START.match(text) or re.match(r"^(?:this|the|our)\s+(?:repo|repository|codebase|project|team)\b", text, re.IGNORECASE):
        return frozenset({"@user"})
    first = fold(text.split()[0]) if text.split() else ""
    if first in _COMMON_VERBS or first in _AUX or (first.endswith("ed") and len(first) > 4):
        return frozenset({"@user"})  # a normal form: "Lives in Porto", "Started as …"
    span = text.split(":")[0] if ":" in text and not _subject_span(text) else _subject_span(text)
    # A lone capitalised first word may be a name ("Oskar is…") or not ("Deadlift PR is…"):
    # it does not count, so it never keeps two statements apart.
    if not span:  # no verb found: only a name that opens the statement says who it is about
        opening = re.match(r"^(?:\[\[[^\]]+\]\]|[A-Z][\w-]*(?:\s+[A-Z][\w-]*)+)", text)
        span = opening.group(0) if opening else ""
    names = {fold(n) for n in proper_nouns(span)}
    names |= {fold(n) for n in re.findall(r"\[\[([^\]|#]+)", span)}
    if relation:
        return frozenset(names | {"@relation"})
    return frozenset(names)


_RELATION_NAME = re.compile(
    rf"\b(?:my|our)\s+(?:\w+\s+)?(?P<rel>{RELATIONS}|[a-z]{{3,}})(?:'s name is|\s+is called|\s+is named|\s+is|,)?\s+(?P<name>\[\[[^\]]+\]\]|[A-Z][\w-]+(?:\s+[A-Z][\w-]+)?)"
    rf"|(?P<name2>\[\[[^\]]+\]\]|[A-Z][\w-]+),\s+(?:my|our)\s+(?P<rel2>{RELATIONS}|[a-z]{{3,}})\b",
)
_NOT_NAMED = frozenset("is was are has have had and or but so in on at to for of with".split())


def relations_named(text: str) -> list[tuple[str, str]]:
    """("cat", "Miso") for 'my cat Miso' or 'Miso, my cat'."""
    found = []
    for match in _RELATION_NAME.finditer(text):
        rel, name = (match.group("rel"), match.group("name")) if match.group("rel") else (match.group("rel2"), match.group("name2"))
        if fold(name.strip("[]")) not in _NOT_NAMES and rel.lower() not in _NOT_NAMED and rel.lower() not in STOPWORDS:
            found.append((rel.lower(), name))
    return found


# -- the whole message ----------------------------------------------------------------------------


def turns_of(messages: Any) -> list[tuple[str, str]]:
    """(role, text) pairs from a string, Mem0-style messages or (role, text) pairs."""
    if isinstance(messages, str):
        return [("user", messages)]
    return [(str(m.get("role", "user")), str(m.get("content", ""))) if isinstance(m, dict) else (str(m[0]), str(m[1])) for m in messages]


def extract(messages: Any) -> Extraction:
    """Facts, retractions and corrections in what the user said."""
    result = Extraction()
    context: list[str] = []  # everything said so far, both sides: resolves "forget the whole thing"
    person: str | None = None  # who "he"/"she" is: the last person named as a subject
    turns = turns_of(messages)
    last_assistant = ""
    for role, content in turns:
        if role != "user":
            context.append(content)
            last_assistant = content
            continue
        parts = _merge_anaphora(sentences(content))
        note = len(turns) == 1 and len(parts) == 1  # a note typed on its own: its words are what to keep
        for raw in parts:
            sentence = strip_label(raw)
            if attribute_correction(sentence, result.facts):
                continue
            fix = correction(sentence)
            if fix:
                if not _apply_correction(fix, result.facts):
                    result.corrections.append(fix)  # about something stored earlier
                continue
            retract = retraction(sentence)
            if retract:
                if _ANAPHORIC_TARGET.match(retract.target or "it") or not content_words(retract.target):
                    retract.target = " ".join(context[-3:] + [sentence])
                    retract.sweeping = False
                result.retractions.append(retract)
                context.append(raw)
                continue
            context.append(raw)
            choice = _chosen(sentence, last_assistant, result.facts)
            if choice:  # "the Tatras sound perfect" after the assistant offered "the High Tatras"
                _keep(result, Fact(text=choice, sentence=raw, subject=frozenset({"@user"})))
                continue
            reason = sentence_dropped(sentence)
            kept = False
            if reason:
                result.dropped.append((raw, reason))
            else:
                for clause in clauses(_META_TAIL.sub("", sentence).strip()):
                    clause = front_phrase_last(clause)
                    reason = why_dropped(clause, note)
                    if reason:
                        result.dropped.append((clause, reason))
                        continue
                    person = _person_named(clause) or person
                    text = normalise(clause, person)
                    if text and text != content.strip().rstrip(".!"):  # not the user's words as typed: a list item
                        text = text[:1].upper() + text[1:]
                    if text and content_words(text):
                        about = text if re.match(r"^(he|she)\b", clause, re.IGNORECASE) else clause
                        kept |= _keep(result, Fact(text=text, sentence=raw, subject=subject_of(about)))
            if not kept:  # "my cat Miso knocked a plant over again": the anecdote goes, Miso stays
                for rel, name in relations_named(sentence):
                    _keep(result, Fact(text=f"{rel.capitalize()} is called {name}", sentence=raw, subject=frozenset({"@relation", fold(name.strip("[]"))})))
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
        for earlier in reversed(result.facts):
            found = re.search(rf"\b{re.escape(noun)}\s+(?:number\s+|no\.?\s*|#)?(\d[\w-]*)\b", earlier.text, re.IGNORECASE)
            if found and found.group(1) != value:
                earlier.text = earlier.text[: found.start(1)] + value + earlier.text[found.end(1) :]
                changed = True
                break
    return changed


_REACTION = re.compile(
    r"^(?:(?:oh|ooh|ok|okay|yes|yeah|hmm|wow)[,!\s]+)*(?:the\s+)?(?P<x>[\w' -]{2,40}?)\s+(?:sounds?|looks?|seems?)\s+"
    r"(?:really\s+|so\s+)?(?:perfect|great|good|ideal|amazing|lovely|nice|best|right)\b"
    r"|^(?:let'?s|i'?ll|we'?ll)\s+(?:go with|take|do|book|pick|choose)\s+(?:the\s+)?(?P<y>[\w' -]{2,40}?)[.!]*$",
    re.IGNORECASE,
)
_PLAN = re.compile(r"\b(?:plan(?:ning)?|organi[sz]ing|looking for|booking)\s+(?P<obj>(?:a|an|the|my|our)\s+[^,.;]+)", re.IGNORECASE)


def _chosen(sentence: str, offered: str, facts: list[Fact]) -> str | None:
    """A reaction that picks one of the assistant's suggestions, as a fact: "Is considering the
    High Tatras for a long weekend away in October". Only what the assistant named counts."""
    match = _REACTION.match(sentence.strip())
    if not match or not offered:
        return None
    picked = (match.group("x") or match.group("y") or "").strip()
    if not picked or fold(picked) in _NOT_NAMES | {"that", "this", "it", "all", "everything"}:
        return None
    head = picked.split()[-1]
    named = re.search(rf"(?:\b[Tt]he\s+)?(?:[A-Z][\w'-]*\s+){{0,3}}(?i:{re.escape(head)})\b", offered)
    if not named or not any(w[:1].isupper() for w in named.group(0).split()):
        return None
    plan = next((m.group("obj").strip() for f in facts for m in [_PLAN.search(f.text)] if m), None)
    return f"Is considering {named.group(0).strip()}" + (f" for {plan}" if plan else "")


def _keep(result: Extraction, fact: Fact) -> bool:
    if any(f.text.casefold() == fact.text.casefold() for f in result.facts) or _update_earlier(result, fact):
        return False
    result.facts.append(fact)
    return True


def _person_named(clause: str) -> str | None:
    """The person a clause names as its subject or as the user's relation ('my mentor is X')."""
    for _, name in relations_named(clause):
        return name
    span = _subject_span(clause)
    links = re.findall(r"\[\[[^\]]+\]\]", span)
    if links:
        return links[0]
    names = proper_nouns(span, initial=True) if span and not _PRONOUN_SUBJECT.match(span) else []
    return names[0] if names else None


def _merge_anaphora(parts: list[str]) -> list[str]:
    """'the dentist called again. they need to push it to the 19th.' is one statement."""
    merged: list[str] = []
    for part in parts:
        leans = re.match(r"^(they|it|that|this|there|which)\b(?!'s (the|a)\b)", part, re.IGNORECASE) or re.match(
            r"^(?:[^,.]{0,25},\s*|(?:now|so|and|but|then)\s+)(they|it)(?:'re|'s| are| is)\b", part, re.IGNORECASE)
        if merged and leans and not retraction(part) and not correction(part) and not is_question(merged[-1]):
            merged[-1] = f"{merged[-1].rstrip('.!')}; {part}"
        else:
            merged.append(part)
    return merged


_FIXED_ATTRIBUTE = re.compile(
    r"^(?:(?:oops|sorry|wait|actually|correction|my bad|no)[,!.:\s]+)+(?:the\s+|my\s+)?(?P<attr>[a-z][\w\s-]{1,30}?)\s+"
    r"(?:is|was|should be|'s)\s+(?:actually\s+)?(?P<new>[\w:./-]+)",
    re.IGNORECASE,
)


def attribute_correction(sentence: str, facts: list[Fact]) -> bool:
    """'oops, the room number is 215' after 'Hotel X, room 512': fix the value in place."""
    match = _FIXED_ATTRIBUTE.match(sentence.strip())
    if not match:
        return False
    new = match.group("new")
    for word in reversed(match.group("attr").split()):
        for fact in reversed(facts):
            found = re.search(rf"\b{re.escape(word)}\s+(?:number\s+|no\.?\s+|#)?(?P<old>[\w:./-]*\d[\w:./-]*)", fact.text, re.IGNORECASE)
            if found:
                fact.text = fact.text[: found.start("old")] + new + fact.text[found.end("old") :]
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
