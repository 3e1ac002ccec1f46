"""Kinds of attribute a statement can be about (home, job, diet, editor…), with the words that
cue each and, where the answers form a closed set, the answers: the one shared notion of "the same
slot" for reconcile and for candidate search."""

from __future__ import annotations

import re
from functools import lru_cache

from memcli.text.normalize import fold

# Kinds of attribute people state about themselves, with the words that say which one. Where a
# kind has a closed set of answers (diets, editors…), the second pattern names them, so
# "vegan" vs "pescatarian" is a new value even without names or numbers.
ATTRIBUTES: dict[str, tuple[re.Pattern[str], re.Pattern[str] | None]] = {
    name: (re.compile(cue, re.IGNORECASE), re.compile(answers, re.IGNORECASE) if answers else None)
    for name, cue, answers in [
        (
            "home",
            r"\b(live[sd]?|living|moved (?:to|back|into|there|here|away|abroad|out)|moving to|relocat\w*|based in|home (?:city|town)|resid\w+|"
            r"rents?|renting|lease|mortgage|apartment|flat in|studio in|(?:one|two|three|four)-bed\w*|house in)\b(?!\s+\d)",
            None,
        ),
        (
            "role",
            r"\b(treasurer|captain|chair(?:person|man|woman)?|president|secretary|vice[- ]\w+|coach|director|head|lead|organi[sz]er|"
            r"elected|appointed)\b",
            r"\b(treasurer|captain|chair(?:person|man|woman)?|president|secretary|coach|director|organi[sz]er)\b",
        ),
        (
            "ci",
            r"\b(ci|cd|pipelines?|build server|builds?|jenkins|github actions|gitlab ci|circleci|travis|buildkite|teamcity|drone)\b",
            r"\b(jenkins|github actions|gitlab ci|circleci|travis|buildkite|teamcity|drone)\b",
        ),
        (
            "shift",
            r"\b(shifts?|rota|nights|lates|earlies|night shift|day shift|working hours)\b",
            r"\b(early|late|night|day|evening|morning)s?\b(?= shift| rota|s\b)",
        ),
        (
            "cloud",
            r"\b(aws|amazon web services|gcp|google cloud|azure|hetzner|digitalocean|linode|ovh|hosted on|cloud provider|on-prem\w*)\b",
            r"\b(aws|amazon web services|gcp|google cloud|azure|hetzner|digitalocean|linode|ovh|on-prem\w*)\b",
        ),
        ("airline", r"\b(airline|fly with|flies with|flying with|flew with|air ?miles|frequent flyer)\b", None),
        # each kind of provider is its own slot: a new physio does not replace the family doctor
        ("doctor", r"\b(gp|doctor|physician|surgery|health cent(?:re|er)|clinic)\b", None),
        ("dentist", r"\b(dentists?|orthodontist|dental)\b", None),
        ("physio", r"\b(physio\w*|chiropractor|osteopath)\b", None),
        ("vet", r"\b(vets?|veterinar\w+)\b", None),
        ("therapist", r"\b(therapist|counsell?or|psycholog\w+|psychiatrist)\b", None),
        ("hairdresser", r"\b(hairdresser|barber)\b", None),
        ("mechanic", r"\b(mechanic)\b", None),
        ("accountant", r"\b(accountant|bookkeeper)\b", None),
        ("landlord", r"\b(landlord|landlady|letting agent)\b", None),
        (
            "project",
            r"\b(working on|works on|on the [\w -]{1,30}? (?:project|redesign|migration|rewrite)|projects?)\b",
            None,
        ),
        (
            "job",
            r"\b(works? (?:as|at|for)|working (?:as|at|for)|worked (?:as|at|for)|job|employ\w*|hired|joined (?:\w+ ){0,3}as|"
            r"started (?:\w+ ){0,3}as|started (?:(?:work|working|a (?:new )?job|a (?:new )?role) )?at|"
            r"new role|position as|careers?|profession|retrain\w*|(?:training|studying) to be|training as|studying|student|graduated|enrolled|becoming an?|(?:is|am|'m) an? [\w -]{2,30}? (?:at|for) (?=\w)|"
            r"(?:is|am|'m|as) an? (?:qualified |trainee |junior |senior |freelance |certified )?(?:\w+(?:ician|ist|ant|eer|ner|ter|ker|per|ger|yer|or)|"
            r"nurse|chef|doctor|lawyer|surgeon|barista|paramedic|firefighter|pilot|vet|midwife|carpenter|plumber|teacher|developer|designer))\b",
            r"\b(?:as|is|am|'m) an? (?:qualified |trainee |junior |senior |freelance |certified )?[a-z]+(?:ician|ist|ant|eer|ner|ter|ker|per|ger|yer|or|nurse|chef|doctor|lawyer|surgeon|barista|paramedic|firefighter|pilot|midwife)\b",
        ),
        (
            "diet",
            r"\b(vegan|vegetarian|pescatarian|carnivore|keto|paleo|omnivore|eats? (?:meat|fish)|plant-based|gluten-free|halal|kosher|diet)\b",
            r"\b(vegan|vegetarian|pescatarian|carnivore|keto|paleo|omnivore|plant-based|gluten-free|halal|kosher)\b",
        ),
        (
            "editor",
            r"\b(editor|ide|vs ?code|vim|neovim|emacs|helix|sublime|intellij|pycharm|zed|cursor|cod(?:e|ing) in)\b",
            r"\b(vs ?code|vim|neovim|emacs|helix|sublime(?: text)?|intellij|pycharm|zed|cursor|nano|atom|webstorm)\b",
        ),
        (
            "packages",
            r"\b(package manager|npm|yarn|pnpm|bun|pip|poetry|uv|conda|pipenv|packages)\b",
            r"\b(npm|yarn|pnpm|bun|pip|poetry|uv|conda|pipenv)\b",
        ),
        (
            "caffeine",
            r"\b(coffee|espressos?|caffeine|latte|cappuccino|decaf|flat white|americano)\b",
            r"\b(coffee|espressos?|caffeine|latte|cappuccino|decaf|tea)\b",
        ),
        ("alcohol", r"\b(alcohol|beer|wine|sober|teetotal|booze)\b", None),
        ("leads", r"\b(leads?|leading|led|heading|head of|in charge of|runs? the)\b", None),
        ("manager", r"\b(manager|boss|reports? to|supervisor|line manager|team lead|advisor|adviser)\b", None),
        (
            "stack",
            r"\b(backend|frontend|stack|built (?:with|in|on)|written in|rewritten in|rewrote|framework|runs on)\b",
            None,
        ),
        (
            "database",
            r"\b(database|datastore|data store|db|postgres\w*|mysql|mariadb|mongo\w*|sqlite|dynamodb|cockroach\w*|cassandra|oracle db)\b",
            r"\b(postgres\w*|mysql|mariadb|mongo\w*|sqlite|dynamodb|cockroach\w*|cassandra|redis|oracle)\b",
        ),
        (
            "phone",
            r"\b(phone|iphone|pixel|android|galaxy|smartphone|fairphone)\b",
            r"\b(?:iphone|pixel|galaxy|fairphone)(?: [a-z]?\d+\w*)?\b",
        ),
        (
            "car",
            r"\b(car|cars|drives? an?|driving an?|vehicle|motorbike|scooter|tesla|honda|toyota|skoda|volvo|bmw|audi|ford)\b",
            None,
        ),
        ("bank", r"\b(bank|banks|banking|bank account|accounts? (?:with|at|over to))\b", None),
        ("reading", r"\b(reading|re-reading|book|novel|audiobook)\b", None),
    ]
}


@lru_cache(maxsize=65536)
def attributes(text: str) -> frozenset[str]:
    return frozenset(name for name, (cue, _) in ATTRIBUTES.items() if cue.search(text))


@lru_cache(maxsize=65536)
def answers(text: str, attribute: str) -> frozenset[str]:
    pattern = ATTRIBUTES[attribute][1]
    return frozenset(fold(m.group(0)).rstrip("s") for m in pattern.finditer(text)) if pattern else frozenset()
