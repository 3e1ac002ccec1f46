"""The rule-based extractor: tables of inputs -> facts, retractions, corrections."""

from __future__ import annotations

import pytest

from memcli.infer.extract import extract
from memcli.text.english import normalise, sentences


def facts(messages) -> list[str]:
    return [fact.text for fact in extract(messages).facts]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("I prefer pnpm over npm", ["Prefers pnpm over npm"]),
        (
            "user prefers TypeScript over JavaScript",
            ["user prefers TypeScript over JavaScript"],
        ),  # already a statement: kept as given
        ("My sister Maya lives in Oslo.", ["Sister Maya lives in Oslo"]),
        ("I'm Tereza, a nurse in Brno.", ["Name is Tereza; a nurse in Brno"]),
        ("I write Rust, I use Emacs, and I'm allergic to cats.", ["Writes Rust", "Uses Emacs", "Is allergic to cats"]),
        ("Always use uv for Python projects here.", ["Always use uv for Python projects here"]),
        (
            "Our office days are Monday, Tuesday and Friday.",
            ["Our office days are Monday, Tuesday and Friday"],
        ),  # a list is one fact
        ("Since March I've been running the data team.", ["Has been running the data team since March"]),
        (
            "My brother Ivo lives in Graz and works as a baker.",
            ["Brother Ivo lives in Graz", "Brother Ivo works as a baker"],
        ),
        (
            "Release notes, 2 May: Lea Novak owns the API. She prefers e-mail over calls.",
            ["Lea Novak owns the API", "Lea Novak prefers e-mail over calls"],
        ),  # a label dropped, "she" resolved
        ("I'm lactose intolerant, so please keep that in mind.", ["Is lactose intolerant"]),
        ("Our deploy target is Fly.io and the DB runs 15.4", ["Our deploy target is Fly.io and the DB runs 15.4"]),
        (
            "we just adopted a second cat, her name is Nori!!",
            ["we just adopted a second cat, her name is Nori"],
        ),  # "her" leans on the clause before it: cut off, "Her name is Nori" would name nobody
    ],
)
def test_statements_become_short_facts(text: str, expected: list[str]) -> None:
    assert facts(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Hello! Hope you're having a lovely day :)",
        "What's the capital of Peru?",
        "thanks, that helps!",
        "What if I moved to Japan one day? Probably never, haha.",
        "My neighbour insists that cold showers cure everything.",
        "ugh, so tired today lol",
        "can you check the failing test?",
        "ok, do it.",
    ],
)
def test_noise_leaves_nothing(text: str) -> None:
    assert facts(text) == []


def test_assistant_turns_are_context_not_facts() -> None:
    conversation = [
        {"role": "user", "content": "Any dinner ideas? I'm gluten-free, by the way."},
        {"role": "assistant", "content": "How about a risotto with porcini?"},
        {"role": "user", "content": "Hmm maybe."},
    ]
    assert facts(conversation) == ["Is gluten-free"]


def test_a_correction_inside_the_conversation_fixes_the_fact() -> None:
    conversation = [
        {"role": "user", "content": "Please note my train: Vienna on the 3rd, coach 7."},
        {"role": "assistant", "content": "Noted."},
        {"role": "user", "content": "Oops, it's the 5th, not the 3rd."},
    ]
    result = extract(conversation)
    assert [f.text for f in result.facts] == ["Train: Vienna on the 5th, coach 7"]
    assert result.corrections == []  # applied here, nothing left for stored memories


def test_a_correction_of_something_said_before_is_kept_for_the_reconciler() -> None:
    result = extract("Actually it's Thursday, not Tuesday.")
    assert [(c.old, c.new) for c in result.corrections] == [("Tuesday", "Thursday")]
    assert result.facts == []


@pytest.mark.parametrize(
    "text, target, sweeping",
    [
        ("Please forget that I'm learning the harp.", "learning the harp", False),
        ("Forget the rule about squash merges.", "squash merges", False),
        ("Scratch my phone number from your notes, it's outdated.", "phone number", False),
        ("wipe anything about my old flat", "old flat", True),
        ("I no longer play chess.", "play chess", False),
        ("I'm not vegetarian anymore.", "vegetarian", False),
        ("the book club is over.", "book club", False),
    ],
)
def test_retractions_name_what_to_forget(text: str, target: str, sweeping: bool) -> None:
    result = extract(text)
    assert [(r.target, r.sweeping) for r in result.retractions] == [(target, sweeping)]
    assert result.facts == []  # a retraction is not a fact


def test_before_i_forget_is_not_a_retraction() -> None:
    result = extract("Before I forget: I take the 8:10 bus to work.")
    assert result.retractions == []
    assert [f.text for f in result.facts] == ["Takes the 8:10 bus to work"]


def test_forget_the_whole_thing_takes_its_target_from_the_conversation() -> None:
    conversation = [
        {"role": "user", "content": "remember the camping trip to Lake Bled?"},
        {"role": "assistant", "content": "Yes, the one in August with Tom."},
        {"role": "user", "content": "It got cancelled. Please forget the whole thing."},
    ]
    (retraction,) = extract(conversation).retractions
    # the user asked "remember…?": the assistant's answer names what "the whole thing" is
    assert "Bled" in retraction.target and "August" in retraction.target


def test_forget_that_after_an_assistant_suggestion_names_nothing() -> None:
    conversation = [
        {"role": "user", "content": "any ideas for the weekend?"},
        {"role": "assistant", "content": "You could visit your sister Maya in Oslo!"},
        {"role": "user", "content": "no, forget that"},
    ]
    result = extract(conversation)
    assert [r.target for r in result.retractions] == ["any ideas for the weekend? no, forget that"]
    assert result.facts == []


def test_the_pet_survives_when_the_anecdote_goes() -> None:
    assert facts("my dog Biscuit stole a sandwich again today 🙄") == ["Dog is called Biscuit"]


def test_sentences_keep_decimals_domains_and_abbreviations() -> None:
    assert sentences("PR is 142.5 kg. Host is fly.io, e.g. the app. Done!") == [
        "PR is 142.5 kg.",
        "Host is fly.io, e.g. the app.",
        "Done!",
    ]


@pytest.mark.parametrize(
    "clause, expected",
    [
        ("I go climbing on Sundays", "Goes climbing on Sundays"),
        ("I have two cats", "Has two cats"),
        ("I've got a new bike", "Has a new bike"),
        ("I mostly study at night", "Mostly studies at night"),
        ("I used to smoke", "Used to smoke"),
        ("I can't eat peanuts", "Can't eat peanuts"),
        ("My favourite band is Low", "Favourite band is Low"),
    ],
)
def test_first_person_is_rewritten_for_a_list(clause: str, expected: str) -> None:
    assert normalise(clause) == expected


@pytest.mark.parametrize(
    "note, expected",
    [
        ("Allergic to penicillin", ["Allergic to penicillin"]),  # a note on its own may be verbless
        ("Favourite coffee: flat white with oat milk", ["Favourite coffee: flat white with oat milk"]),
        ("ray's birthday: 12 May", ["ray's birthday: 12 May"]),  # the head says what the value is
        ("Remember to water the plants on Sundays", ["Remember to water the plants on Sundays"]),
        ("Note to self: the garage code is 4471", ["The garage code is 4471"]),
        ("TODO: migrate the billing DB to Postgres 16", ["Migrate the billing DB to Postgres 16"]),
        ("dentist: Dr. Smith, 555-0134", ["dentist: Dr. Smith, 555-0134"]),
        ("Kids: Ilse (7) and Bo (4)", ["Kids: Ilse (7) and Bo (4)"]),
        ("The wifi password is in the kitchen drawer", ["The wifi password is in the kitchen drawer"]),
        ("Never push directly to main!", ["Never push directly to main"]),
        (
            "deploy with `fly deploy --remote-only`, the app lives at https://acme.fly.dev.",
            ["Deploy with `fly deploy --remote-only`", "The app lives at https://acme.fly.dev"],
        ),
    ],
)
def test_plain_notes_are_kept(note: str, expected: list[str]) -> None:
    assert facts(note) == expected


def test_a_fragment_inside_a_conversation_is_dropped() -> None:
    conversation = [
        {"role": "assistant", "content": "How old is Pepper?"},
        {"role": "user", "content": "three, and a total menace"},
    ]
    assert facts(conversation) == []


def test_a_reaction_picks_the_assistants_suggestion() -> None:
    conversation = [
        {"role": "user", "content": "I'm planning a cycling holiday in May."},
        {"role": "assistant", "content": "Girona or the Dolomites would both be great for that."},
        {"role": "user", "content": "ooh, the Dolomites sound perfect."},
    ]
    assert facts(conversation) == [
        "Is planning a cycling holiday in May",
        "Is considering the Dolomites for a cycling holiday in May",
    ]
    # a reaction to something the assistant did not name is not a choice
    assert (
        facts([{"role": "assistant", "content": "How about a walk?"}, {"role": "user", "content": "that sounds great"}])
        == []
    )


@pytest.mark.parametrize(
    ("said", "stored"),
    [
        ("I prefer pnpm", "Prefers pnpm"),
        ("I mostly write Python these days", "Mostly writes Python these days"),
        ("i dont drink coffee anymore", "i dont drink coffee anymore"),  # no sure verb: the user's words
        ("I sing tenor in a choir", "I sing tenor in a choir"),
    ],
)
def test_the_first_person_rewrite_happens_only_when_it_is_sure(said: str, stored: str) -> None:
    from memcli.text.english import normalise

    assert normalise(said) == stored


@pytest.mark.parametrize(
    ("said", "small_talk"),
    [
        ("hiii good morning!!", True),
        ("heyyy", True),
        ("Goood night", True),
        ("hi, thanks so much!", True),
        ("Hi, I moved to Ghent", False),
        ("good morning is when I run, 6am daily", False),
    ],
)
def test_small_talk_also_when_stretched_or_after_a_salutation(said: str, small_talk: bool) -> None:
    from memcli.infer.extract import sentence_dropped

    assert (sentence_dropped(said) == "small talk") is small_talk


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("I went to a LGBTQ support group yesterday and it was so powerful.", True),  # an event the speaker had
        ("I painted a lake sunrise last week", True),
        ("We visited the Rijksmuseum with the kids yesterday", True),
        ("Thanks again for yesterday, the demo went okay-ish", False),  # thanks and an opinion, no event of theirs
        ("it rained all day yesterday", False),  # weather
        ("ugh so tired today", False),  # the moment
        ("I saw it yesterday", False),  # an event, but of nothing named
    ],
)
def test_a_past_event_the_speaker_took_part_in_is_kept_the_moment_is_not(text: str, kept: bool) -> None:
    """LoCoMo's conversations are made of such events; 'of the moment' dropped them all, and
    recall after inference with them."""
    assert bool(extract([("user", text)]).facts) == kept


def _rule_examples() -> list:  # noqa: ANN202
    """Every named rule of every stage, each example a pytest id naming its stage and rule."""
    from memcli.infer.extract import SEGMENTS
    from memcli.infer.rules import CLAUSE_RULES, CORRECT_RULES, RETRACT_RULES, SENTENCE_RULES
    from memcli.text.english import REWRITES

    cases = []
    for rule in (*SENTENCE_RULES, *CLAUSE_RULES):
        cases += _both(_drops, "drop", rule, rule.drops, rule.keeps)
    for rule in RETRACT_RULES:
        cases += _both(_retracts, "retract", rule, rule.retracts, rule.leaves)
    for rule in CORRECT_RULES:
        cases += _both(_corrects, "correct", rule, rule.corrects, rule.leaves)
    for name, turns in SEGMENTS.items():
        cases += [
            pytest.param(_segments, name, example, True, id=f"segment {name}: {example[0]!r}") for example in turns
        ]
    for name, examples in REWRITES.items():
        cases += [
            pytest.param(_rewrites, name, example, True, id=f"rewrite {name}: {example[0]!r}") for example in examples
        ]
    return cases


def _both(check, stage: str, rule, acts_on, leaves) -> list:  # noqa: ANN001
    """One case per example a rule must act on and per near miss it must leave alone."""
    said = [example if isinstance(example, str) else example[0] for example in acts_on]
    return [
        pytest.param(check, rule, example, True, id=f"{stage} {rule.name}: acts on {text!r}")
        for example, text in zip(acts_on, said, strict=True)
    ] + [pytest.param(check, rule, text, False, id=f"{stage} {rule.name}: leaves {text!r}") for text in leaves]


def _drops(rule, text: str, acts: bool) -> None:
    assert rule.applies(text, False) == acts


def _retracts(rule, example, acts: bool) -> None:
    from memcli.infer.rules import retraction

    if acts:
        sentence, target = example
        found = retraction(sentence)
        assert found is not None and (found.rule, found.target) == (rule.name, target)
    else:  # a near miss: this rule reads nothing in it
        assert rule.read(example, example) is None


def _corrects(rule, example, acts: bool) -> None:
    from memcli.infer.rules import correction

    if acts:
        sentence, old, new = example
        found = correction(sentence)
        assert found is not None and (found.rule, found.old, found.new) == (rule.name, old, new)
    else:
        assert correction(example) is None


def _segments(name: str, example, acts: bool) -> None:
    from memcli.infer.extract import segment

    turn, parts = example
    assert segment(turn) == [(part, name) for part in parts]


def _rewrites(name: str, example, acts: bool) -> None:
    from memcli.text.english import normalised

    said, stored = example
    assert normalised(said) == (stored, name)


@pytest.mark.parametrize(("check", "rule", "example", "acts"), _rule_examples())
def test_every_rule_acts_on_its_examples_and_leaves_its_near_misses(check, rule, example, acts: bool) -> None:
    """Each rule's examples sit beside it (memcli/infer/rules.py, REWRITES in text/english.py);
    a rule that grows for one sentence shows here as one more example, not as a branch elsewhere."""
    check(rule, example, acts)


def test_the_trace_names_each_stage_and_rule_in_order() -> None:
    from memcli.infer.extract import STAGES

    said = [
        ("user", "hiii good morning!! Big news: I moved to Lisbon, and my sister Maya works as a nurse."),
        ("assistant", "Congratulations!"),
        ("user", "oh and it's Porto, not Lisbon. Forget my old gym."),
    ]
    result = extract(said)
    steps = [(s.stage, s.rule, s.out) for s in result.trace]
    assert ("drop", "small talk", "") in steps
    assert ("segment", "a label or opener", "I moved to Lisbon, and my sister Maya works as a nurse.") in steps
    assert ("rewrite", "I do: does", "Moved to Lisbon") in steps
    assert ("keep", "a new fact", "Sister Maya works as a nurse") in steps
    assert ("correct", "X, not Y", "Moved to Porto") in steps  # put right in this message
    assert ("retract", "asked to forget", "old gym") in steps
    assert [f.text for f in result.facts] == ["Moved to Porto", "Sister Maya works as a nurse"]
    # each sentence goes through the stages in their order
    first = [STAGES.index(s.stage) for s in result.trace if s.text.startswith(("I moved", "Moved"))]
    assert first == sorted(first) and first
