"""The English the extractor reads: sentences, content words, names, values, verbs, and the
phrases people use to greet, ask, retract, correct or label (pure: text in, data out).

Word lists name kinds of things people say (a greeting, a retraction, a change), never
particular sentences; extract.py decides what a sentence is with them.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from functools import lru_cache

from memcli.text import lexicon
from memcli.text.normalize import STOPWORDS, fold, stem

GREETING = re.compile(
    r"^(hi|hey|hello|hiya|yo|good (morning|afternoon|evening|night)|morning|evening|thanks?( you)?( so much)?|"
    r"thx|ty|cheers|cool|nice|great|awesome|perfect|ok(ay)?|k|sure|yes|yeah|yep|yup|no|nope|nah|got it|"
    r"sounds good|fair|haha|lol|lmao|hmm+|oh|ooh|wow|bye|see you|talk (to you )?later|will do|done|"
    r"i'?ll take a look|maybe|idk|i don'?t know|never ?mind|no worries|no problem|noted|right|true|exactly|"
    r"hope (you|your|all|everything|the (?:week|day|weekend))\b.*|how are you.*|how'?s it going.*|have a (good|nice|great|lovely) \w+|"
    r"happy (?:\w+day|holidays|new year|weekend|birthday)\b.*|talk soon|speak soon|catch you later|"
    r"(?:thanks?|thank you|thx|ty|cheers)\b(?!\s+to\b)[^.!?]{0,40}|(?:that|this|it) (?:was|is|'s) (?:so |super |really |very )?"
    r"(?:helpful|great|useful|perfect|amazing|brilliant|lovely))"
    r"([ ,!.]+(thanks|there|again|then|so much|lol|haha|fair|idk|maybe|please|pls))*[ !.,:)(]*$",
    re.IGNORECASE,
)

DISCOURSE = re.compile(
    r"^(?:(?:hi|hey|hello|ok(?:ay)?|oh|ooh|wow|well|so|also|and|but|anyway|anyhow|btw|by the way|actually|"
    r"yep|yeah|yes|yup|right|sure|fyi|psst|guess what|just so you know|for the record|for context|"
    r"as you know|just fyi|one more thing|oh and|and also|plus|heads[- ]up|for real(?: though)?|honestly|"
    r"meh|hmm+|lol|haha|before i forget|hang on|hold on|unrelated(?:,? but)?|side note|on another note|(?:just )?(?:a )?(?:quick |friendly )?reminder(?: that)?)\b[,:!.\s-]*)+",
    re.IGNORECASE,
)

# "Big news:", "quick update for meal planning:", "Meeting notes, 3 Oct:" — a short label before a colon
LABEL_WORDS = re.compile(
    r"\b(news|update|reminder|note|notes|heads[- ]up|context|fyi|psa|tip|thought|check-?in|orders|"
    r"conventions?|rules?|ps|p\.s|edit|correction|info|background|fact|profile|summary|recap|policy|beat|"
    r"status|news flash|bio)\b",
    re.IGNORECASE,
)

QUESTION_START = re.compile(
    r"^(what|what's|whats|which|who|whom|whose|where|when|why|how|is|are|am|was|were|do|does|did|can|could|"
    r"would|will|should|shall|may|might|have|has|any|anything|got any|know any|remember)\b",
    re.IGNORECASE,
)

REQUEST = re.compile(
    r"\b(can you|could you|would you|will you|please (look|check|help|find|give|send|tell|show|suggest|recommend)|"
    r"pls|plz|ideas?\b|suggestions?\b|recommend(ations?)?\b|help me|(?:i )?need (?:a|an|some) \w+ (?:for|to)|"
    r"looking for (?:a|an|some))\b",
    re.IGNORECASE,
)

STANDING = re.compile(
    r"\b(always|never|every|everywhere|everything|anywhere|all\b|any\b|no\b|don'?t|do not|only|must|"
    r"from now on|going forward|in this (repo|repository|codebase|project)|here|nothing (?:with|that|containing)|without)\b",
    re.IGNORECASE,
)

HYPOTHETICAL = re.compile(
    r"\b(what if|someday|some day|one day|if i (ever|were|was|had)|i wonder|wondering|would be (nice|cool|fun)|"
    r"probably never|maybe one day|in another life|imagine if|i wish)\b",
    re.IGNORECASE,
)

OPINION_VERBS = r"(think|thinks|says|said|insist|insists|insisting|believe|believes|reckon|reckons|claim|claims|argue|argues|swear|swears|feel|feels)"

OTHERS_OPINION = re.compile(
    rf"^(?:(?:my|our|the|a|his|her|their)\s+)?(?:\w+\s+){{0,2}}?(?:\w+)\s+(?:keeps?\s+|always\s+|still\s+)?"
    rf"(?:{OPINION_VERBS}|telling me|tells me|told me|wants me|suggests|suggested|recommends|recommended)\b",
    re.IGNORECASE,
)

SARCASM = re.compile(r"🙃|/s\b|^\W*(?:oh sure|yeah right|oh great|as if)\b|\bbest \w+ ever\b", re.IGNORECASE)

EPHEMERAL = re.compile(
    r"\b(today|tonight|this morning|this afternoon|this evening|just now|again|"
    r"yesterday|last (?:week|night)|the other day|weather|gloomy|rain(?:y|ing|ed)?|snow(?:y|ing|ed)?|sunny|heatwave|freezing|windy|so tired|exhausted|overwhelmed|stressed|bored|hungry|sleepy|"
    r"chaotic|ugh|kill me|just (?:emailed|called|texted|messaged|heard|rang))\b",
    re.IGNORECASE,
)

# When a past event happened, not how the moment feels: with an event the speaker took part in,
# a memory worth keeping ("I went to a support group yesterday"), dated by the message.
PAST_TIME = re.compile(r"^(?:yesterday|last (?:week|night)|the other day)$", re.IGNORECASE)
EPISODE = re.compile(
    r"\b(?:i|we)(?: \w+)? (?:went|visited|attended|saw|met|watched|finished|ran|painted|took|tried|made|"
    r"celebrated|gave|hosted|organi[sz]ed|volunteered|travell?ed|flew|drove|hiked|camped|cooked|baked|won|"
    r"performed|presented|completed|launched|published|shipped|built|planted|climbed|swam|played|wrote|read)\b"
    r"(?: \w+){2,}",
    re.IGNORECASE,
)


_TIME_WORDS = frozenset(stem(w) for w in ("yesterday", "last", "week", "night", "other", "day"))


def of_the_moment(text: str) -> bool:
    """Does the text speak of the moment (weather, mood, today) rather than of something lasting?
    A past event the speaker took part in, with a past time as its only cue, is not of the moment."""
    cues = [m.group(0) for m in EPHEMERAL.finditer(text)]
    if not cues:
        return False
    if not (all(PAST_TIME.match(cue) for cue in cues) and EPISODE.search(text)):
        return True
    return len(content_words(text) - _TIME_WORDS) < 3  # "I saw it yesterday": an event, but of what?


# Words that make a one-off event a lasting fact anyway ("started", "moved", "new").
DURABLE = re.compile(
    r"\b(started|start|joined|moved|moving|relocat\w*|switched|migrated|rewrote|rewritten|new|now|since|"
    r"from now on|as of|anymore|no longer|allergic|can'?t|always|never|every|rescheduled|push(ed)? it|"
    r"moved it|changed|promoted|hired|married|engaged|born|adopted|diagnosed|bought|sold|picked up|got an?|"
    r"retired|quit|stopped|replaced|upgraded|currently|elected|appointed|voted|signed|decommissioned)\b",
    re.IGNORECASE,
)

CONFIRM = re.compile(
    r"\b(still (right|true|correct|valid|accurate|the case|stands|good)|that'?s (right|correct)|is correct|"
    r"is right|'s (right|correct|fine) (though|still)|hasn'?t changed|unchanged|still at it|still going|still on it|"
    r"still doing (?:it|that)|same as before|haven'?t changed|(?:can|may|should) stay|everything else is (?:right|fine|correct)|still (?:living|based|working) (?:in|at) the same)\b|^(?:and\s+)?the \w+(?: \w+)? (?:is|are|was) (?:fine|right|correct|ok|okay|still right)\b",
    re.IGNORECASE,
)

SELF_TALK = re.compile(
    r"\b(misread|mistyped|typo|my bad|my mistake|i was wrong|i meant to say|ignore that|scratch that|"
    r"never mind|i'?m not sure|no idea|swapped the|read (?:it|them|the \w+) (?:backwards|wrong)|got it wrong|i mixed up)\b",
    re.IGNORECASE,
)

META_TAIL = re.compile(
    r"[,;]?\s*(?:so\s+)?(?:please\s+)?(?:(?:keep (?:that|this|it) in mind|bear (?:that|this) in mind|in case (?:that|it) "
    r"matters|just so you know|for (?:future )?reference|if that helps|for what it'?s worth)\b[^.!?]*|(?:fyi|btw|by the way))[.!?]*$",
    re.IGNORECASE,
)

FORGET_VERB = r"(?:forget|scratch|remove|delete|erase|drop|wipe|discard|clear|purge|unlearn)"

RETRACT_COMMAND = re.compile(
    rf"^(?:(?:please|pls|just|also|and|no|nope|ok|okay|actually|can you|could you|would you|kindly)[,\s]+)*{FORGET_VERB}\b[,\s]*(?P<target>.*)$",
    re.IGNORECASE,
)

NO_LONGER = re.compile(r"\b(?:i|we)\s+(?:am |are |'m |'re )?no longer\s+(?P<target>.+)$", re.IGNORECASE)

NOT_ANYMORE = re.compile(
    r"\b(?:i|we)(?:'m|'re| am| are)?\s+(?:not|n't|do not|don't|does not|doesn't)\s+(?P<target>.+?)\s+any ?more\b",
    re.IGNORECASE,
)

STOPPED = re.compile(
    r"(?:^|\b(?:i|we)\s*)(?:have |'ve |had to |have to |decided to |'ve decided to )?(?:stopped|stop|quit|gave up|give up|"
    r"stepped down from|stepped back from|dropped out of|withdrew from|pulled out of)\s+(?P<target>\w.+)$",
    re.IGNORECASE,
)

IS_OVER = re.compile(
    r"^(?:the |my |our )?(?P<target>[\w\s-]{2,40}?)\s+(?:is|are|'s)\s+(?:over|cancell?ed|off|finished|done for good)\b",
    re.IGNORECASE,
)

TARGET_PREFIX = re.compile(
    r"^(?:(?:about|that|the fact that|the (?:rule|note|bit|part|thing|memory|stuff) about|what i said about|"
    r"(?:anything|everything|all) (?:you (?:know|have|remember|'ve got) )?(?:about|on|regarding)|all of|any|"
    r"my note about|the|my|our|i'?m|i am|i was|i)\s+)+",
    re.IGNORECASE,
)

TARGET_TAIL = re.compile(
    r"\s*(?:from (?:your|my|the) (?:notes|memory|memories|records|files)|for (?:good|now)|please|entirely|"
    r"completely|altogether)\b.*$",
    re.IGNORECASE,
)

ANAPHORIC_TARGET = re.compile(
    r"^(?:it|that|this|them|those|all (?:of )?(?:that|this|it)|the whole thing|whole thing|everything|all that|"
    r"the (?:whole )?(?:plan|idea|thing|event|stuff))\W*$",
    re.IGNORECASE,
)

CORRECTION = [
    re.compile(
        r"^(?:(?:no|sorry|wait|oops|actually|correction)[,:!\s]+)*(?:it'?s|it is|that'?s|that is|it was|i meant|make that|"
        r"should be|actually)\s+(?P<new>[^,]+?),?\s+not\s+(?P<old>[^,.!?]+?)[.!?]*$",
        re.IGNORECASE,
    ),
    re.compile(
        r"^(?:(?:no|sorry|wait|actually)[,\s]+)*not\s+(?P<old>[^,]+?),?\s+but\s+(?P<new>[^,.!?]+?)[.!?]*$",
        re.IGNORECASE,
    ),
]

RELATIONS = (
    "sister|brother|mother|mom|mum|father|dad|wife|husband|partner|girlfriend|boyfriend|fiancee?|son|daughter|"
    "kid|child|baby|friend|best friend|cousin|aunt|uncle|niece|nephew|grandmother|grandma|grandfather|grandpa|"
    "colleague|coworker|co-worker|boss|manager|mentor|mentee|roommate|flatmate|neighbou?r|teacher|doctor|"
    "dentist|therapist|cat|dog|puppy|kitten|pet|horse|parrot|rabbit|hamster"
)

PRONOUN_SUBJECT = re.compile(r"^(i|i'm|i've|i'd|i'll|we|we're|we've|we'll|we'd|me)\b", re.IGNORECASE)

AUX = lexicon.words("aux")

COMMON_VERBS = lexicon.words("common_verbs")

MONTHS = r"jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"

DAYS = r"mon(?:day)?s?|tue(?:s(?:day)?)?s?|wed(?:nesday)?s?|thu(?:rs(?:day)?)?s?|fri(?:day)?s?|sat(?:urday)?s?|sun(?:day)?s?"

VALUE = re.compile(
    rf"\[\[[^\]]+\]\]|`[^`]+`|\b\d+(?:[.,:]\d+)*(?:\s?(?:am|pm|st|nd|rd|th|kg|km|mi|lb|lbs|h|k|%))?\b|"
    rf"\b(?:{MONTHS}|{DAYS})\b|\b(?:twice|once|thrice|two|three|four|five|six|seven|eight|nine|ten)\b|"
    rf"(?<!\w)['\"‘“][^'\"’”]{{2,60}}['\"’”](?!\w)",
    re.IGNORECASE,
)

NUMBER_WORDS = lexicon.mapping("number_words")

GENERIC = frozenset(stem(w) for w in lexicon.word_list("generic"))

ABBREVIATIONS = re.compile(r"\b(e\.g|i\.e|etc|vs|mr|mrs|ms|dr|st|approx|no|incl)\.\s", re.IGNORECASE)

SENTENCE_END = re.compile(r"(?<=[.!?…])[\"')\]]*\s+|\n+|(?<=[🙄😅😂🙂😊])\s+")


def asks_for_everything(query: str) -> bool:
    """A query of function words and recall words only ("What do you know about me?") names
    no topic: it asks for all that is remembered."""
    words = re.findall(r"[a-z']+", fold(query))
    recall = lexicon.words("recall_words")
    return bool(words) and all(w in STOPWORDS or w in recall for w in words) and any(w in recall for w in words)


CASUAL_SPELLINGS = lexicon.mapping("casual_spellings")
_CASUAL = re.compile(rf"\b(?:{'|'.join(CASUAL_SPELLINGS)})\b", re.IGNORECASE)


def spelled_out(text: str) -> str:
    """Contractions typed without their apostrophe, spelled out: "im allergic to kiwi, dont ask"
    -> "i'm allergic to kiwi, don't ask". Only lowercase or capitalised words ("IM" is a word)."""

    def fix(match: re.Match[str]) -> str:
        word = match.group(0)
        if not (word.islower() or word[1:].islower()):
            return word
        out = CASUAL_SPELLINGS[word.lower()]
        return out[:1].upper() + out[1:] if word[:1].isupper() else out

    return _CASUAL.sub(fix, text)


def sentences(text: str) -> list[str]:
    """Split on sentence ends and line breaks; '142.5 kg', 'Fly.io', 'e.g. this' stay whole."""
    guarded = ABBREVIATIONS.sub(lambda m: m.group(0).replace(". ", "\x00 "), text)
    parts = SENTENCE_END.split(guarded)
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
        word = NUMBER_WORDS.get(word, word)
        if word in STOPWORDS:
            continue
        stemmed = ALIASES.get(word) or stem(word)
        if stemmed not in GENERIC:
            out.add(stemmed)
    return frozenset(out)


# Short and long names of one thing, so "the docs" and "the documentation" share a word.
ALIASES = lexicon.mapping("aliases")


@lru_cache(maxsize=65536)
def values(text: str) -> frozenset[str]:
    """What can conflict between two statements of one attribute: names, numbers, dates, times,
    [[links]], `code`. Folded so 'Ghent' == 'ghent'; number words become digits."""
    found = {fold(m.group(0)).strip("[]`") for m in VALUE.finditer(text)}
    found = {NUMBER_WORDS.get(v, v) for v in found}
    found |= {fold(w) for w in proper_nouns(text)}
    return frozenset(v for v in found if v)


CAPITAL = re.compile(
    r"(?<![\w\[])(?:[A-Z][\w'’.-]*[\w]|[A-Z])(?:\s+(?:[A-Z][\w'’.-]*[\w]|de\b|da\b|van\b|von\b|of\b))*"
)

NOT_NAMES = lexicon.words("not_names")


def proper_nouns(text: str, initial: bool = False) -> list[str]:
    """Capitalised words, a cheap NER. A lone capitalised word opening a sentence counts only
    with `initial=True` ('Montreal on the 12th', but also 'Different squad entirely')."""
    names = []
    for match in CAPITAL.finditer(text):
        words = match.group(0).split()
        before = text[: match.start()].rstrip()
        sentence_start = not before or before[-1] in ".!?:;\n"
        while words and (
            fold(words[0]) in NOT_NAMES
            or re.fullmatch(RELATIONS, fold(words[0]))
            or (
                sentence_start
                and (fold(words[0]) in COMMON_VERBS or fold(words[0]) in AUX or fold(words[0]).endswith("ed"))
            )
        ):
            words, sentence_start = words[1:], False
        if not words:
            continue
        if sentence_start and len(words) == 1 and (not initial or fold(words[0]) in STOPWORDS | COMMON_VERBS):
            continue
        names.append(" ".join(words))
    return names


def has_verb(text: str) -> bool:
    words = [fold(w) for w in re.findall(r"[\w']+", text) if w != "May"]  # the month is no verb
    if any(w in AUX or w in COMMON_VERBS for w in words):
        return True
    if len(words) >= 2 and (PRONOUN_SUBJECT.match(words[0]) or words[0] in ("he", "she", "they", "it")):
        return True
    return any(len(w) > 4 and (w.endswith("ed") or w.endswith("ing")) for w in words)


IRREGULAR_PAST = lexicon.words("irregular_past")

THIRD = lexicon.mapping("third")

KEEP_FORM = lexicon.words("keep_form")

ADVERBS = lexicon.words("adverbs")


def third_person(verb: str) -> str:
    low = verb.lower()
    if low in THIRD:
        return THIRD[low]
    if low in KEEP_FORM or low.endswith("ed") or low.endswith("n't") or low in IRREGULAR_PAST:
        return verb
    if re.search(r"(s|sh|ch|x|z|o)$", low):
        return verb + "es"
    if re.search(r"[^aeiou]y$", low):
        return verb[:-1] + "ies"
    return verb + "s"


# -- statements: who they are about, and their normal form ------------------------------------


def subject_span(clause: str) -> str:
    """The words before the first verb ('My sister Gabriela' in 'My sister Gabriela lives…')."""
    words = clause.split()
    for position, word in enumerate(words):
        token = fold(word.strip(",;:"))
        if position and (
            token in AUX
            or token in COMMON_VERBS
            or token in IRREGULAR_PAST
            or (len(token) > 4 and token.endswith("ed"))
        ):
            return " ".join(words[:position])
        previous = words[position - 1] if position else ""
        if (
            0 < position <= 3
            and len(token) > 3
            and token.endswith("s")
            and previous[:1].isupper()
            and not previous.isupper()
        ):
            return " ".join(words[:position])  # "my daughter Lea starts…": a name, then its verb
    return ""


def normalise(clause: str, person: str | None = None) -> str:
    """A statement that reads well in a list: 'I prefer pnpm' -> 'Prefers pnpm', 'My dog is
    called Rex' -> 'Dog is called Rex'. Names, numbers and dates are kept exactly."""
    return normalised(clause, person)[0]


def normalised(clause: str, person: str | None = None) -> tuple[str, str]:
    """normalise(), and the name of the rewrite rule that shaped it (REWRITES has their examples)."""
    original = clause.strip().rstrip(".,;:!? ")
    text = META_TAIL.sub("", clause.strip())
    text = re.sub(r",?\s*\b(?:lol|haha|lmao|rofl)\b[.!]*", "", text, flags=re.IGNORECASE)
    text = "".join(
        ch for ch in text if unicodedata.category(ch) not in ("So", "Cs") and ch not in "\ufe0f\u200d"
    ).strip()
    text = DISCOURSE.sub("", text).strip()
    text = re.sub(
        r"\s*(?:\b(?:lol|haha|lmao|ugh)\b|[!]+|:\)|:D|,?\s*\b(?:please|pls|plz|thanks)\b)+[.!]*\s*$",
        "",
        text,
        flags=re.IGNORECASE,
    )
    text = text.strip().rstrip(".,;: ").strip()
    named = ""
    if person and re.match(r"^(?:he|she)\b", text, re.IGNORECASE):
        text = re.sub(r"^(?:he|she)(?:'s|\s+is)\b", f"{person} is", text, flags=re.IGNORECASE)
        text = re.sub(r"^(?:he|she)\b", person, text, flags=re.IGNORECASE)
        named = "he or she: the person named before"
    match = re.match(r"^(?i:i)(?:'m| am)\s+([A-Z][a-z]+(?:[- ][A-Z][a-z]+)?)(?:,\s*(an?\s.*|the\s.*))?$", text)
    if match and not match.group(2) and re.search(r"(?:ish|ese|ian|an|ic|ist|ive|al)$", match.group(1)):
        match = None  # "I'm British", "I'm Catholic": not a name
    if match and fold(match.group(1)) not in NOT_NAMES:  # "I'm Mirela, a backend engineer…"
        rest = f"; {match.group(2)}" if match.group(2) else ""
        return f"Name is {match.group(1)}{rest}", "an introduction"
    text, rule = _third_person_opening(text)
    text = re.sub(r"\s+", " ", text).strip()
    if text and text[1:] != original[1:]:  # words were dropped or rewritten: start the new sentence
        text = text[:1].upper() + text[1:]
    return text, named or rule


_OPENINGS = [  # "I'm …" -> "Is …"; the first that matches wins
    ("I am: is", re.compile(r"^i(?:'m| am)\s+", re.IGNORECASE), "Is "),
    ("I have: has", re.compile(r"^i(?:'ve| have)\s+(?:got\s+)?", re.IGNORECASE), "Has "),
    ("I will: will", re.compile(r"^i(?:'ll| will)\s+", re.IGNORECASE), "Will "),
]
_I_VERB = re.compile(r"^i\s+((?:no longer\s+|\w+\s+)?)([\w'-]+)(.*)$", re.IGNORECASE)

# The rewrite rules, each with what it must make of a clause (tests/test_extract.py runs them all).
# "as said" is every clause no rule rewrites: a statement already in the third person, a rule, or
# one whose verb is not certain ("i dont drink coffee": "Donts drink…" would be a non-word).
REWRITES: dict[str, tuple[tuple[str, str], ...]] = {
    "an introduction": (("I'm Tereza, a nurse in Brno", "Name is Tereza; a nurse in Brno"),),
    "I am: is": (("I'm lactose intolerant", "Is lactose intolerant"), ("I'm British", "Is British")),
    "I have: has": (("I've got two kids", "Has two kids"),),
    "I will: will": (("I'll be in Lisbon in May", "Will be in Lisbon in May"),),
    "I do: does": (("I mostly write Go", "Mostly writes Go"), ("I prefer pnpm", "Prefers pnpm")),
    "my: dropped": (("My dog is called Rex", "Dog is called Rex"),),
    "as said": (
        ("user prefers TypeScript over JavaScript", "user prefers TypeScript over JavaScript"),
        ("i dont drink coffee", "i dont drink coffee"),
        ("Always use uv for Python projects", "Always use uv for Python projects"),
    ),
}


def _third_person_opening(text: str) -> tuple[str, str]:
    """'I'm vegan' -> 'Is vegan', 'I mostly write Go' -> 'Mostly writes Go', 'My dog…' -> 'dog…',
    with the name of the rule that did it."""
    for name, pattern, replacement in _OPENINGS:
        if pattern.match(text):
            return pattern.sub(replacement, text, count=1), name
    match = _I_VERB.match(text)
    if not match:
        dropped = re.sub(r"^my\s+", "", text, flags=re.IGNORECASE)
        return dropped, "my: dropped" if dropped != text else "as said"
    adverb, verb, rest = match.group(1), match.group(2), match.group(3)
    if adverb.strip().lower() not in ADVERBS | {"no longer"}:
        verb, rest, adverb = adverb.strip(), f" {verb}{rest}", ""
        if not verb:
            verb, rest = match.group(2), match.group(3)
    if not _known_verb(verb):  # "i dont drink coffee": not sure what the verb is, keep the user's words
        return text, "as said"
    return f"{adverb}{third_person(verb)}{rest}", "I do: does"


def _known_verb(word: str) -> bool:
    """A verb the first-person rewrite may inflect: one the lexicon knows, or a regular past."""
    low = fold(word)
    return (
        low in COMMON_VERBS
        or low in AUX
        or low in THIRD
        or low in KEEP_FORM
        or low in IRREGULAR_PAST
        or (len(low) > 4 and low.endswith("ed"))
    )


IMPERATIVE_START = re.compile(
    r"^(?:(?:always|never|please|just|only|don'?t|do not)\s+)*(?:use|prefer|avoid|keep|write|run|add|put|pick|book|"
    r"schedule|call|make|format|indent|test|commit|merge|review|follow|name|send|reply|answer|ask|check|"
    r"deploy|document|spell|tag|label|sign|include|store|save|open|close|install|prefix|mark|cc|ping)\b",
    re.IGNORECASE,
)


FRONT_PHRASE = re.compile(
    r"^(?P<phrase>(?:as of|since|from|starting(?: from| in)?|beginning|until|these days|nowadays|lately|recently|"
    r"this (?:week|month|year)|next (?:week|month|year)|in this (?:repo|repository|codebase|project)|here|"
    r"for this (?:repo|repository|codebase|project)|in (?:the )?(?:" + MONTHS + r"))\b[^,]*?),?\s+"
    r"(?=(?:i|i'm|i've|i'll|we|we're|we've|my|our|the)\b)",
    re.IGNORECASE,
)


def front_phrase_last(clause: str) -> str:
    """'Since May I've been leading X' -> "I've been leading X since May" (so the subject leads)."""
    match = FRONT_PHRASE.match(clause.strip())
    if not match:
        return clause
    rest = clause.strip()[match.end() :].rstrip(" .!")
    phrase = match.group("phrase")
    return f"{rest} {phrase[:1].lower()}{phrase[1:]}"


@lru_cache(maxsize=65536)
@functools.lru_cache(maxsize=65536)  # pure, and read for every memory an add compares with
def subject_of(clause: str) -> frozenset[str]:
    """Who a statement is about, for deciding whether two statements can clash:
    {'@user'} for the user ('I…', 'we…', 'my office days…', a rule in the imperative);
    names (folded) for a named someone or something, plus '@relation' when it is the user's
    sister, friend, dog… ('My sister Gabriela'), and '@acts' for an unnamed one who does
    something ('Mum lives in Cardiff': not the user, though no name says so; 'Manager is
    Renata' is the user's manager, an attribute of theirs); an empty set when unknown ('Standup …')."""
    text = DISCOURSE.sub("", clause.strip()).strip()
    head, colon, rest = text.partition(":")
    if colon and has_verb(rest) and not has_verb(head):  # "big shake-up in the lab: my supervisor left…"
        text = rest.strip()
    relation = re.match(rf"^(?:(?:my|our)\s+(?:\w+\s+)?)?({RELATIONS})\b", text, re.IGNORECASE)
    if PRONOUN_SUBJECT.match(text) or (re.match(r"^(?:my|our)\b", text, re.IGNORECASE) and not relation):
        return frozenset({"@user"})
    if IMPERATIVE_START.match(text) or re.match(
        r"^(?:this|the|our)\s+(?:repo|repository|codebase|project|team)\b", text, re.IGNORECASE
    ):
        return frozenset({"@user"})
    first = fold(text.split()[0]) if text.split() else ""
    if first in COMMON_VERBS or first in AUX or (first.endswith(("ed", "ing")) and len(first) > 4):
        return frozenset({"@user"})  # a normal form: "Lives in Porto", "Started as …", "Living in Leeds now"
    span = text.split(":")[0] if ":" in text and not subject_span(text) else subject_span(text)
    # A lone capitalised first word may be a name ("Oskar is…") or not ("Deadlift PR is…"):
    # it does not count, so it never keeps two statements apart.
    if not span:  # no verb found: only a name that opens the statement says who it is about
        opening = re.match(r"^(?:\[\[[^\]]+\]\]|[A-Z][\w-]*(?:\s+[A-Z][\w-]*)+)", text)
        span = opening.group(0) if opening else ""
    names = {fold(n) for n in proper_nouns(span)}
    names |= {fold(n) for n in re.findall(r"\[\[([^\]|#]+)", span)}
    if relation:
        after = text[relation.end() :].split()
        if not names and after and fold(after[0]) not in _COPULA_WORDS:  # "Mum lives in Cardiff"
            return frozenset({"@relation", "@acts"})
        return frozenset(names | {"@relation"})
    return frozenset(names)


# "Manager is Renata" names an attribute of the user's; "Mum lives in Cardiff" is about Mum
_COPULA_WORDS = frozenset({"is", "was", "s", "are", "were", "called", "named"})


def known_names(texts: list[str]) -> frozenset[str]:
    """The names a vault already uses (folded): capitalised words inside its memories and
    [[link]] targets. A person typed in lowercase later ("femke started…") is still that person."""
    found: set[str] = set()
    for text in texts:
        found |= _names_in(text)
    return frozenset(found)


_CALENDAR = re.compile(rf"(?:{DAYS}|{MONTHS})")


@functools.lru_cache(maxsize=65536)
def _names_in(text: str) -> frozenset[str]:
    names = {fold(n) for n in proper_nouns(text)} | {fold(n) for n in re.findall(r"\[\[([^\]|#]+)", text)}
    return frozenset(n for n in names if n not in STOPWORDS and n not in COMMON_VERBS and not _CALENDAR.fullmatch(n))


def refine_subject(text: str, subject: frozenset[str], names: frozenset[str]) -> frozenset[str]:
    """The subject of a statement, with the vault's known names read in any case: a statement
    opening with one is about that person ("femke started playing padel"), and "priti's pharmacy"
    is about something of hers, neither the user nor Priti herself. Known people are someone in
    the user's life (@relation): they never replace the user's own facts."""
    if subject or not names:
        return subject
    words = re.findall(r"[\w'’-]+", text)
    if not words:
        return subject
    first = fold(words[0]).replace("’", "'")
    name = first[:-2] if first.endswith("'s") else first
    if name not in names:
        return subject
    after = fold(words[1]) if len(words) > 1 else ""
    if (
        first.endswith("'s")
        and after
        and not (after in COMMON_VERBS or after in IRREGULAR_PAST or after.endswith("ed"))
    ):
        return frozenset({f"{name}'s {after}", "@relation"})  # "priti's pharmacy…": something of hers
    return frozenset({name, "@relation"})  # "femke started…", "theo's joined…" (has joined)


RELATION_NAME = re.compile(
    rf"\b(?:my|our)\s+(?:(?:\w+\s+)?(?P<rel>{RELATIONS})|(?:[a-z]+\s+)?(?P<relx>[a-z]{{3,}}))(?:'s name is|\s+is called|\s+is named|\s+is|,)?\s+(?P<name>\[\[[^\]]+\]\]|[A-Z][\w-]+(?:\s+[A-Z][\w-]+)?)"
    rf"|(?P<name2>\[\[[^\]]+\]\]|[A-Z][\w-]+),\s+(?:my|our)\s+(?P<rel2>{RELATIONS}|[a-z]{{3,}})\b",
)


NOT_NAMED = lexicon.words("not_named")


def relations_named(text: str) -> list[tuple[str, str]]:
    """("cat", "Miso") for 'my cat Miso' or 'Miso, my cat'."""
    found = []
    for match in RELATION_NAME.finditer(text):
        if match.group("name"):
            rel, name = match.group("rel") or match.group("relx"), match.group("name")
        else:
            rel, name = match.group("rel2"), match.group("name2")
        if rel.lower() in COMMON_VERBS or (not match.group("rel") and rel.lower().endswith("s")):
            continue  # "my flatmate reckons Brighton…" names no flatmate
        if fold(name.strip("[]")) not in NOT_NAMES and rel.lower() not in NOT_NAMED and rel.lower() not in STOPWORDS:
            found.append((rel.lower(), name))
    return found
