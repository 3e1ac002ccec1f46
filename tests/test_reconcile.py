"""The reconciler: (stored memories, new message) -> decisions. No model: the rules alone."""

from __future__ import annotations

import pytest

from memcli.infer.extract import extract
from memcli.infer.reconcile import compatible, reconcile
from memcli.infer.types import ADD, DELETE, NONE, UPDATE, Existing
from memcli.text.english import spelled_out


def decide(stored: list[str], message: str, similarity=None) -> list[tuple[str, str | None, str | None]]:
    existing = [Existing(f"m-{n}", text) for n, text in enumerate(stored)]
    kwargs = {"similarity": similarity} if similarity else {}
    return [
        (d.event, d.target.text if d.target else None, d.text) for d in reconcile(extract(message), existing, **kwargs)
    ]


@pytest.mark.parametrize(
    "stored, message, expected",
    [
        # a new value for the same attribute supersedes
        (
            ["Lives in Lyon"],
            "We relocated to Bergen.",
            [(UPDATE, "Lives in Lyon", "Lives in Bergen")],
        ),  # one value swapped
        (
            ["Lives in Lyon"],
            "We relocated to Bergen for my new job.",
            [(UPDATE, "Lives in Lyon", "We relocated to Bergen for my new job")],
        ),
        (
            ["Uses Sublime Text as main editor"],
            "I write all my code in Zed now.",
            [(UPDATE, "Uses Sublime Text as main editor", "Writes all my code in Zed now")],
        ),
        (
            ["Works as a teacher at Hillside School"],
            "I joined Acme Robotics as a tester.",
            [(UPDATE, "Works as a teacher at Hillside School", "Joined Acme Robotics as a tester")],
        ),
        (["Is vegetarian"], "I'm keto these days.", [(UPDATE, "Is vegetarian", "Is keto these days")]),
        (
            ["Drinks a latte every afternoon"],
            "No more coffee for me from now on.",
            [(UPDATE, "Drinks a latte every afternoon", "No more coffee for me from now on")],
        ),
        (
            ["The weekly sync is at 14:00"],
            "The weekly sync moved to 15:30.",
            [(UPDATE, "The weekly sync is at 14:00", "The weekly sync is at 15:30")],
        ),
        (
            ["Bench press record is 80 kg"],
            "Bench press record is now 85 kg.",
            [(UPDATE, "Bench press record is 80 kg", "Bench press record is 85 kg")],
        ),
        (
            ["Use npm in this repo"],
            "This repo switched to pnpm.",
            [(UPDATE, "Use npm in this repo", "This repo switched to pnpm")],
        ),
        # a change of one value inside a memory of several facts keeps the others
        (
            ["Sister Maya lives in Oslo and works as a marine biologist"],
            "Maya moved to Bergen.",
            [
                (
                    UPDATE,
                    "Sister Maya lives in Oslo and works as a marine biologist",
                    "Sister Maya lives in Bergen and works as a marine biologist",
                )
            ],
        ),
        # ... also when it says when the change happened (the issue's own example: the job stays)
        (
            ["Sister Maya lives in Oslo and works as a marine biologist"],
            "My sister Maya moved to Bergen last month",
            [
                (
                    UPDATE,
                    "Sister Maya lives in Oslo and works as a marine biologist",
                    "Sister Maya lives in Bergen and works as a marine biologist",
                )
            ],
        ),
        # the same fact again changes nothing, change word or not
        (
            ["Sister Maya lives in Oslo and works as a marine biologist"],
            "My sister Maya just moved to Oslo.",
            [(NONE, "Sister Maya lives in Oslo and works as a marine biologist", None)],
        ),
        (["Cat is called Pixel"], "Pixel is my cat's name, by the way.", [(NONE, "Cat is called Pixel", None)]),
        (["Swims three times a week"], "still swimming 3 times a week", [(NONE, "Swims three times a week", None)]),
        (["Lives in Ghent"], "We moved to Ghent!", [(NONE, "Lives in Ghent", None)]),
        # different subjects never clash
        (
            ["[[auth-service]] is deployed on [[AWS]]"],
            "[[billing-service]] is deployed on [[GCP]].",
            [(ADD, None, "[[billing-service]] is deployed on [[GCP]]")],
        ),
        (["Sister Maya lives in Oslo"], "I live in Madrid.", [(ADD, None, "Lives in Madrid")]),
        # related but new
        (
            ["Planning a birthday dinner for Ana on the 3rd"],
            "Ana is my cousin from Lisbon.",
            [(ADD, None, "Ana is my cousin from Lisbon")],
        ),
        # a partial update of one of two facts leaves the other alone
        (
            ["Brother Ivo lives in Graz", "Brother Ivo works as a baker"],
            "Ivo moved to Linz in May.",
            [(UPDATE, "Brother Ivo lives in Graz", "Brother Ivo moved to Linz in May")],
        ),  # who Ivo is stays
        # "not … anymore" with nothing stored to retract is a fact, in the user's words, spelled out
        ([], "i dont drink coffee anymore", [(ADD, None, "Doesn't drink coffee anymore")]),
        # one more of a thing is no other value of it
        (
            ["Has a cat named Pixel"],
            "We adopted a second cat named Nori.",
            [(ADD, None, "We adopted a second cat named Nori")],
        ),
        # a shared topic word with another kind of value (an amount for a day) is another attribute
        (
            ["padel isnt the same night anymore, the club moved our group to monday nights"],
            "the padel club raised court fees again, 28€ for 90 min now",
            [(ADD, None, "the padel club raised court fees again, 28€ for 90 min now")],
        ),
        # a day or an amount where the memory has none says when or how much, not another value
        (
            ["Is the new vice-chair of the county vet chamber"],
            "vet chamber meetings got moved to thursdays",
            [(ADD, None, "vet chamber meetings got moved to thursdays")],
        ),
        (
            ["Rents a flat in Porto"],
            "my rent went up to 1200 this year",
            [(ADD, None, "Rent went up to 1200 this year")],
        ),
        # ... but a memory that says when in words has a when to move, and a move to a word is a new value
        (
            ["Dentist appointment next week"],
            "my dentist appointment moved to the 14th",
            [(UPDATE, "Dentist appointment next week", "Dentist appointment moved to the 14th")],
        ),
        (
            ["Has a mortgage with PKO bank"],
            "mortgage moved from pko to mbank, saving like 300 a month",
            [(UPDATE, "Has a mortgage with PKO bank", "mortgage moved from pko to mbank, saving like 300 a month")],
        ),
        # negation and "anymore" are no shared topic
        (
            ["We dont close at lunchtime on saturdays anymore"],
            "dont really do the bolhão market thing anymore, too touristy",
            [(ADD, None, "Don't really do the bolhão market thing anymore, too touristy")],
        ),
        # what a thing got is not what the user does with it
        (
            ["Leads the Heron project, a route-planning service"],
            "The Heron project got a new product owner, Anouk.",
            [(ADD, None, "The Heron project got a new product owner, Anouk")],
        ),
        # an unnamed relative who does something is not the user
        (["Mum lives in Cardiff"], "Living in Chesterfield now.", [(ADD, None, "Living in Chesterfield now")]),
    ],
)
def test_facts_against_stored_memories(stored: list[str], message: str, expected: list) -> None:
    assert decide(stored, message) == expected


@pytest.mark.parametrize(
    "stored, message, forgotten",
    [
        (
            ["Is learning the harp", "Favourite food is ramen"],
            "Please forget that I'm learning the harp.",
            ["Is learning the harp"],
        ),
        (
            ["Plays in a band called The Owls; rehearses on Mondays", "Works at a library"],
            "The band is over, we split up.",
            ["Plays in a band called The Owls; rehearses on Mondays"],
        ),
        (
            ["Home address is 9 Elm Road", "Prefers e-mail"],
            "Scratch my home address from your notes.",
            ["Home address is 9 Elm Road"],
        ),
        (
            ["Ex is called Sam", "Sam's birthday is in May", "Likes tea"],
            "wipe anything about Sam",
            ["Ex is called Sam", "Sam's birthday is in May"],
        ),
        (["Likes tea"], "Forget my shoe size.", []),  # nothing matches: nothing is forgotten
        # a retraction that names a value only forgets a memory with that value, not one sharing a verb
        (["Uses vim as editor", "Lives in Porto"], "Forget that I use Windows.", []),
        (["Uses vim as editor", "Lives in Porto"], "Forget that I live in Berlin.", []),
        # "anything about coffee" is not about Sam
        (
            ["Has coffee with Sam on Mondays", "Sam lives in Paris", "Drinks coffee black"],
            "forget anything about coffee",
            ["Has coffee with Sam on Mondays", "Drinks coffee black"],
        ),
        (["Sister Maya lives in Oslo"], "any ideas for the weekend? no, forget that", []),
    ],
)
def test_retractions_delete_only_what_they_name(stored: list[str], message: str, forgotten: list[str]) -> None:
    decisions = decide(stored, message)
    assert [text for event, text, _ in decisions if event == DELETE] == forgotten
    assert all(event == DELETE for event, _, _ in decisions)  # a retraction is not stored


def test_no_longer_with_nothing_stored_keeps_the_change() -> None:
    assert decide([], "I no longer eat meat.") == [(ADD, None, "No longer eats meat")]


def test_a_correction_of_a_stored_memory_updates_it() -> None:
    assert decide(["Flight to Oslo on the 12th, seat 3A"], "Sorry, it's the 14th, not the 12th.") == [
        (UPDATE, "Flight to Oslo on the 12th, seat 3A", "Flight to Oslo on the 14th, seat 3A")
    ]


def test_similarity_from_the_model_finds_restatements_words_miss() -> None:
    def close(text: str, memory_id: str) -> float:
        return 0.8

    assert decide(["Prefers dark mode in every app"], "Dark theme everywhere.", close) == [
        (NONE, "Prefers dark mode in every app", None)
    ]
    assert decide(["Prefers dark mode in every app"], "Dark theme everywhere.") == [
        (ADD, None, "Dark theme everywhere")
    ]
    # a rule restated in other words: the words alone share too little; the model sees it
    rule, restated = ["Always run `make lint` before pushing"], "Before pushing, make sure make lint passes."
    assert decide(rule, restated, close) == [(NONE, rule[0], None)]


@pytest.mark.parametrize(
    "a, b, ok",
    [
        ({"@user"}, {"@user"}, True),
        ({"@user"}, set(), True),
        ({"gabriela"}, {"@relation", "gabriela"}, True),
        ({"@user"}, {"@relation", "gabriela"}, False),  # the user is not their sister
        ({"@user"}, {"@relation"}, True),  # "my manager is…" is about the user
        ({"project thistle"}, {"project bramble"}, False),
        ({"pr"}, {"deadlift pr"}, True),
    ],
)
def test_subject_compatibility(a: set[str], b: set[str], ok: bool) -> None:
    assert compatible(frozenset(a), frozenset(b)) is ok


def test_a_change_within_one_message_leaves_one_fact() -> None:
    assert decide([], "I live in Porto. Actually I moved to Ghent last month.") == [
        (ADD, None, "Moved to Ghent last month")
    ]
    assert decide([], "I live in Porto and I prefer pnpm.") == [
        (ADD, None, "Lives in Porto"),
        (ADD, None, "Prefers pnpm"),
    ]


@pytest.mark.parametrize(
    "stored, message, event",
    [
        (["Rents a studio in Astoria"], "Finally signed the lease on a two-bedroom in Jersey City!", UPDATE),
        (["Is the treasurer of the chess club"], "I was elected captain of the chess club.", UPDATE),
        (["The team's CI runs on Jenkins"], "We moved all our pipelines to GitHub Actions now.", UPDATE),
        (["Is on the early shift, 6am to 2pm"], "They've put me on nights now, 10pm to 6am.", UPDATE),
        (["Our vet is Dr. Okonkwo at Parkside Surgery"], "Riverbend Animal Clinic is our vet now.", UPDATE),
    ],
)
def test_more_kinds_of_attribute_change(stored: list[str], message: str, event: str) -> None:
    assert [d[0] for d in decide(stored, message)] == [event]


def test_never_mind_the_rule_forgets_it() -> None:
    stored = ["Always sign off replies with 'Cheers, the team'", "Reply in the customer's language"]
    assert decide(stored, "Never mind the sign-off rule, you can forget it.") == [(DELETE, stored[0], None)]


def test_a_swap_never_keeps_the_old_value_the_user_named() -> None:
    stored = ["Uses Neovim with the LazyVim config as the main editor"]
    assert decide(stored, "I switched from Neovim to Helix.") == [(UPDATE, stored[0], "Switched from Neovim to Helix")]


def test_a_change_to_one_statement_of_several_keeps_the_others() -> None:
    stored = ["Timezone is Europe/Lisbon; prefers meetings after 10:00"]
    assert decide(stored, "My timezone is now America/New_York.") == [
        (UPDATE, stored[0], "Timezone is now America/New_York; prefers meetings after 10:00")
    ]


def test_a_shared_verb_is_not_a_shared_topic() -> None:
    stored = ["Uses Neovim with the LazyVim config as the main editor"]
    assert decide(stored, "We use Postgres 17 now for the billing service.") == [
        (ADD, None, "We use Postgres 17 now for the billing service")
    ]


def test_more_first_hand_cases_from_the_sample_vault() -> None:
    # a change word that drops the stored value is a change, not a repeat
    def close(text: str, memory_id: str) -> float:
        return 0.8  # the model finds them close (words alone do not: "prefer" is a verb)

    assert (
        decide(["user prefers TypeScript over JavaScript"], "actually I prefer JavaScript now", close)[0][0] == UPDATE
    )
    # someone else's start is not the user's
    assert decide(["Has started learning Rust"], "my daughter Lea starts school in September") == [
        (ADD, None, "Daughter Lea starts school in September")
    ]


@pytest.mark.parametrize(
    "stored, message, expected",
    [
        (
            ["Smokes about ten cigarettes a day"],
            "It's been three months since I quit smoking completely.",
            [(UPDATE, "Smokes about ten cigarettes a day", "It's been three months since I quit smoking completely")],
        ),
        (
            ["Brother Anselm works as a carpenter"],
            "Anselm works as an electrician now.",
            [(UPDATE, "Brother Anselm works as a carpenter", "Brother Anselm works as an electrician now")],
        ),
        (
            ["Landlord is Mr Okonkwo"],
            "new landlady is Mrs Fairweather",
            [(UPDATE, "Landlord is Mr Okonkwo", "new landlady is Mrs Fairweather")],
        ),
        (["Works at a bank"], "Imagine if I quit everything and opened a surf shop, haha, as if.", []),
    ],
)
def test_found_on_the_fifth_case_set(stored: list[str], message: str, expected: list) -> None:
    assert decide(stored, message) == expected


def test_not_anymore_deletes_what_it_names_and_keeps_no_copy_of_the_detail() -> None:
    """ "i dont do the bolhão market thing anymore" names a memory: it goes, and the sentence is
    not kept in its place (it repeats the detail it retracts); with nothing named it is a fact."""
    stored = ["Goes to the Bolhão market on Saturday mornings", "Owns a pharmacy in Porto"]
    assert decide(stored, "i dont do the bolhão market thing anymore") == [(DELETE, stored[0], None)]


@pytest.mark.parametrize(
    ("typed", "read"),
    [
        ("im allergic to kiwi, dont ask", "i'm allergic to kiwi, don't ask"),
        ("Im a nurse and thats that", "I'm a nurse and that's that"),
        ("IM me later", "IM me later"),  # a word of its own, in capitals
        ("i wont go, well maybe", "i wont go, well maybe"),  # English words: left alone
    ],
)
def test_contractions_typed_without_the_apostrophe_are_read_spelled_out(typed: str, read: str) -> None:
    assert spelled_out(typed) == read
