"""add(infer=True) end to end: what is written, superseded, forgotten, and what history tells."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from memcli import Memory
from memcli.cli.commands import app
from memcli.vault.markdown import parse

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> list[datetime]:
    return [T0]


@pytest.fixture
def mem(vault: Path, clock: list[datetime]) -> Memory:
    return Memory(vault=vault, clock=lambda: clock[0])


def current(mem: Memory, **scope: str) -> list[str]:
    return sorted(r["memory"] for r in mem.get_all(**scope)["results"])


def test_a_changed_fact_supersedes_and_stays_on_disk(mem: Memory, vault: Path, clock: list[datetime]) -> None:
    first = mem.add("I live in Porto.", user_id="ray")["results"][0]
    clock[0] += timedelta(days=30)
    (second,) = mem.add("Big news: we just moved to Ghent!", user_id="ray")["results"]
    assert second["event"] == "UPDATE"
    assert second["previous_memory"] == "Lives in Porto" and second["previous_id"] == first["id"]
    assert current(mem, user_id="ray") == ["Lives in Ghent"]  # the stored wording, the value swapped
    old = mem.get(first["id"])
    assert old["status"] == "superseded"
    old_file = parse((vault / old["path"]).read_text())
    assert old_file.meta["superseded_by"] == second["id"]
    assert old_file.meta["invalid_at"] == "2026-03-31T09:00:00.000Z"
    new_file = parse((vault / mem.get(second["id"])["path"]).read_text())
    assert new_file.meta["supersedes"] == [first["id"]]
    # the past is still searchable
    assert {r["memory"] for r in mem.search("where does ray live", user_id="ray", include_all=True)["results"]} == {
        "Lives in Porto",
        "Lives in Ghent",
    }
    assert [r["memory"] for r in mem.search("where does ray live", user_id="ray")["results"]] == ["Lives in Ghent"]
    assert [r["memory"] for r in mem.search("live", user_id="ray", as_of="2026-03-15")["results"]] == ["Lives in Porto"]
    assert [r["memory"] for r in mem.get_all(user_id="ray", as_of="2026-04-01")["results"]] == ["Lives in Ghent"]


def test_history_follows_the_chain_from_either_end(mem: Memory, clock: list[datetime]) -> None:
    ids = []
    for text in ("Our standup is at 9:30.", "Standup has moved to 10:00.", "Standup is now at 9:15."):
        ids.append(mem.add(text, user_id="ray")["results"][0]["id"])
        clock[0] += timedelta(days=7)
    expected = [
        ("ADD", None, "Our standup is at 9:30", ids[0]),
        ("UPDATE", "Our standup is at 9:30", "Our standup is at 10:00", ids[1]),
        ("UPDATE", "Our standup is at 10:00", "Our standup is at 9:15", ids[2]),
    ]
    for memory_id in (ids[0], ids[2]):
        history = mem.history(memory_id)
        assert [(h["event"], h["old_memory"], h["new_memory"], h["memory_id"]) for h in history] == expected
    assert current(mem, user_id="ray") == ["Our standup is at 9:15"]


def test_a_restatement_is_none_and_writes_nothing(mem: Memory, vault: Path) -> None:
    (added,) = mem.add("My cat is called Pixel.", user_id="ray")["results"]
    before = sorted(p.read_bytes() for p in (vault / "memories").glob("*.md"))
    (again,) = mem.add("Pixel is my cat's name.", user_id="ray")["results"]
    assert again == {"id": added["id"], "memory": "Cat is called Pixel", "event": "NONE", "reason": again["reason"]}
    assert sorted(p.read_bytes() for p in (vault / "memories").glob("*.md")) == before


def test_a_retraction_forgets_only_what_it_names(mem: Memory) -> None:
    mem.add("I'm training for the Lisbon half marathon.", user_id="ray")
    mem.add("My favourite cuisine is Georgian.", user_id="ray")
    (forgot,) = mem.add("Please forget that I'm training for a marathon.", user_id="ray")["results"]
    assert forgot["event"] == "DELETE" and "marathon" in forgot["memory"]
    assert current(mem, user_id="ray") == ["Favourite cuisine is Georgian"]
    assert mem.get(forgot["id"], include_deleted=True)["status"] == "deleted"


def test_scopes_never_supersede_each_other(mem: Memory) -> None:
    mem.add("In this repo we indent with tabs.", user_id="ray", agent_id="api-agent")
    mem.add("In this repo we indent with 2 spaces.", user_id="ray", agent_id="web-agent")
    mem.add("I live in Porto.", user_id="ray")
    mem.add("I live in Ghent.", user_id="ana")
    assert current(mem, user_id="ray", agent_id="api-agent") == ["Lives in Porto", "We indent with tabs in this repo"]
    assert current(mem, user_id="ray", agent_id="web-agent") == [
        "Lives in Porto",
        "We indent with 2 spaces in this repo",
    ]
    assert current(mem, user_id="ana") == ["Lives in Ghent"]


def test_noise_stores_nothing(mem: Memory, vault: Path) -> None:
    assert mem.add("hey! how's it going?", user_id="ray") == {"results": []}
    assert not (vault / "memories").exists() or not list((vault / "memories").glob("*.md"))


def test_verbatim_skips_extraction_and_reconciliation(mem: Memory) -> None:
    mem.add("I live in Porto.", user_id="ray")
    (kept,) = mem.add("Big news: we just moved to Ghent!", user_id="ray", infer=False)["results"]
    assert kept["event"] == "ADD" and kept["memory"] == "Big news: we just moved to Ghent!"
    assert len(current(mem, user_id="ray")) == 2


def test_timestamp_dates_the_change(mem: Memory) -> None:
    (first,) = mem.add("I live in Porto.", user_id="ray", timestamp="2020-05-01")["results"]
    (second,) = mem.add("I moved to Ghent.", user_id="ray", timestamp=datetime(2021, 6, 1, tzinfo=UTC))["results"]
    assert mem.get(first["id"])["created_at"] == "2020-05-01T00:00:00.000Z"
    assert mem.get(second["id"])["created_at"] == "2021-06-01T00:00:00.000Z"
    assert [h["created_at"] for h in mem.history(first["id"])] == [
        "2020-05-01T00:00:00.000Z",
        "2021-06-01T00:00:00.000Z",
    ]
    from memcli.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="not an ISO 8601"):
        mem.add("I live in Oslo.", user_id="ray", timestamp="last tuesday")


def test_cli_prints_each_decision_and_why(vault: Path) -> None:
    runner = CliRunner()

    def run(*args: str):  # noqa: ANN202
        return runner.invoke(app, ["--vault", str(vault), *args], catch_exceptions=False)

    added = run("add", "I live in Porto and I prefer pnpm over npm", "-u", "ray")
    assert added.exit_code == 0
    lines = added.stdout.splitlines()
    assert [line.split(":", 1)[1].strip() for line in lines] == ["Lives in Porto", "Prefers pnpm over npm"]
    assert all(line.startswith("Added m-") for line in lines)
    moved = run("add", "We moved to Ghent.", "-u", "ray")
    assert moved.stdout.splitlines()[0].startswith("Updated m-") and moved.stdout.splitlines()[0].endswith(
        ": Lives in Ghent"
    )
    assert "replaces m-" in moved.stdout and "Lives in Porto" in moved.stdout and "why: both say home" in moved.stdout
    nothing = run("add", "thanks, bye!", "-u", "ray")
    assert nothing.stdout.strip() == "Nothing to remember: no lasting fact in that (store it as is with --no-infer)."
    forgot = run("add", "forget that I prefer pnpm", "-u", "ray", "--json")
    assert [r["event"] for r in json.loads(forgot.stdout)["results"]] == ["DELETE"]
    as_of = run("list", "-u", "ray", "--as-of", "2000-01-01", "--json")
    assert json.loads(as_of.stdout) == {"results": []}
    bad = runner.invoke(app, ["--vault", str(vault), "search", "x", "--as-of", "soon"])
    assert bad.exit_code == 1 and "not an ISO 8601" in bad.stderr


def test_export_and_import_keep_the_supersede_chain(mem: Memory, tmp_path: Path) -> None:
    first = mem.add("I live in Porto.", user_id="ray")["results"][0]["id"]
    mem.add("We moved to Ghent.", user_id="ray")
    other = Memory(vault=tmp_path / "other")
    assert other.import_text(mem.export(fmt="jsonl"))["added"] == 2
    assert [(h["event"], h["new_memory"]) for h in other.history(first)] == [
        ("ADD", "Lives in Porto"),
        ("UPDATE", "Lives in Ghent"),
    ]
    assert current(other, user_id="ray") == ["Lives in Ghent"]


def test_an_older_fact_imported_later_becomes_the_past(mem: Memory) -> None:
    (new,) = mem.add("I live in Ghent.", user_id="ray", timestamp="2025-06-01")["results"]
    (old,) = mem.add("I live in Porto.", user_id="ray", timestamp="2020-01-01")["results"]
    assert old["event"] == "ADD" and "kept as its past" in old["reason"]
    assert current(mem, user_id="ray") == ["Lives in Ghent"]
    assert [r["memory"] for r in mem.get_all(user_id="ray", as_of="2021-01-01")["results"]] == ["Lives in Porto"]
    assert [(h["event"], h["new_memory"]) for h in mem.history(new["id"])] == [
        ("ADD", "Lives in Porto"),
        ("UPDATE", "Lives in Ghent"),
    ]


def test_a_new_vault_gets_its_index_on_disk(vault: Path) -> None:
    mem = Memory(vault=vault)
    mem.add("I live in Porto.", user_id="ray")
    mem.add("I prefer tea.", user_id="ray")
    assert (vault / ".mem" / "index.sqlite").exists()
    assert mem.core.index().on_disk


@pytest.mark.parametrize(
    "bad", [1e20, float("inf"), float("nan"), "9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"]
)
def test_impossible_times_are_one_clear_error(mem: Memory, bad) -> None:  # noqa: ANN001
    from memcli.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="not an ISO 8601"):
        mem.add("I live in Oslo.", user_id="ray", timestamp=bad)
    with pytest.raises(InvalidInputError, match="not an ISO 8601"):
        mem.search("Oslo", user_id="ray", as_of=bad)


def test_a_decision_on_a_memory_changed_meanwhile_is_not_applied(mem: Memory, vault: Path) -> None:
    mem.add("I live in Porto.", user_id="ray")
    other = Memory(vault=vault)
    index = mem.core.fresh()
    decisions = mem.writing.decide(index, [("user", "We moved to Ghent.")], {"user": "ray"}).decisions
    assert [d.event for d in decisions] == ["UPDATE"]
    other.add("Forget that I live in Porto.", user_id="ray")  # another process, in between
    with mem.vault.lock():
        mem.core.index().load_current()
        result = mem.writing.apply(
            decisions[0],
            {"created": "2026-03-02T00:00:00.000Z", "updated": "2026-03-02T00:00:00.000Z", "user": "ray"},
            None,
            [],
        )
    assert result["event"] == "ADD" and result["reason"] == "its memory changed meanwhile"


def test_documents_and_code_are_kept_whole(mem: Memory) -> None:
    snippet = "Deploy script:\n```\nfly deploy --remote-only\n```\nRun it from the repo root."
    (kept,) = mem.add(snippet, user_id="ray")["results"]
    assert kept["memory"] == snippet and "stored as given" in kept["reason"]
    document = "The team met today. " + "We reviewed the roadmap and agreed on priorities. " * 100
    assert [r["memory"] for r in mem.add(document, user_id="ray")["results"]] == [document.strip()]
