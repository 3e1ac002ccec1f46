"""Parsing and surgical rewriting of memory files (pure functions, table-tested)."""

from __future__ import annotations

import pytest

from memcli.errors import ParseError
from memcli.vault import markdown

HAND_WRITTEN = """\
---
id: m-abc
# a comment people wrote
title:   "Spaced   oddly"   # trailing comment
created: 2026-01-02T03:04:05Z
aliases:
  - One
  - Two

updated: 2026-01-02T03:04:05Z
custom: {a: 1, b: [x, y]}
---
Body with  two spaces,
* a list
    indented code

and trailing lines

"""


@pytest.mark.parametrize(
    "text, meta, body",
    [
        ("no frontmatter\n", {}, "no frontmatter\n"),
        ("---\n---\nbody\n", {}, "body\n"),
        ("---\nid: m-1\n---\nbody\n", {"id": "m-1"}, "body\n"),
        ("---\r\nid: m-1\r\n---\r\nbody\r\n", {"id": "m-1"}, "body\r\n"),
        ("---\nid: m-1\n...\nbody", {"id": "m-1"}, "body"),
        ("---\nid: m-1\n---", {"id": "m-1"}, ""),
    ],
)
def test_parse_splits_frontmatter_and_body(text: str, meta: dict, body: str) -> None:
    doc = markdown.parse(text)
    assert doc.meta == meta
    assert doc.body == body


@pytest.mark.parametrize(
    "yaml_text, key, value",
    [
        ("a: no", "a", "no"),
        ("a: yes", "a", "yes"),
        ("a: 0123", "a", "0123"),
        ("a: 2024-02-30", "a", "2024-02-30"),
        ("a: 2026-01-02T03:04:05Z", "a", "2026-01-02T03:04:05Z"),
        ("a: 1:30", "a", "1:30"),
        ("a: true", "a", True),
        ("a: 12", "a", 12),
        ("a: 1.5", "a", 1.5),
        ("a: ~", "a", None),
    ],
)
def test_yaml_values_keep_the_type_people_meant(yaml_text: str, key: str, value: object) -> None:
    assert markdown.parse(f"---\n{yaml_text}\n---\n").meta[key] == value


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("---\nid: m-1\nbody never closed\n", "no closing"),
        ("---\na: [unclosed\n---\n", "invalid YAML"),
        ("---\na: 1\na: 2\n---\n", "duplicate key"),
        ("---\na: &x [1]\nb: *x\n---\n", "aliases"),
        ("---\n- just\n- a list\n---\n", "mapping"),
        ("---\nC:\\x: y\n\tb: 2\n---\n", "invalid YAML"),
    ],
)
def test_malformed_frontmatter_is_a_parse_error(text: str, fragment: str) -> None:
    with pytest.raises(ParseError, match=fragment):
        markdown.parse(text)


def test_set_keys_rewrites_only_the_named_keys() -> None:
    out = markdown.set_keys(HAND_WRITTEN, {"updated": "2026-05-06T07:08:09Z"})
    expected = HAND_WRITTEN.replace("updated: 2026-01-02T03:04:05Z", "updated: 2026-05-06T07:08:09Z")
    assert out == expected


def test_set_keys_appends_new_keys_and_removes_others() -> None:
    out = markdown.set_keys(HAND_WRITTEN, {"status": "deleted", "custom": markdown.REMOVE})
    assert "custom:" not in out
    assert out.index("status: deleted\n") < out.index("---\nBody")
    # everything else, including the comment and the blank line, is unchanged
    assert out.replace("status: deleted\n", "") == HAND_WRITTEN.replace("custom: {a: 1, b: [x, y]}\n", "")


def test_set_keys_keeps_body_bytes_unless_replaced() -> None:
    body = markdown.split(HAND_WRITTEN)[1]
    assert markdown.split(markdown.set_keys(HAND_WRITTEN, {"x": 1}))[1] == body
    replaced = markdown.set_keys(HAND_WRITTEN, {"x": 1}, body="new text")
    assert markdown.split(replaced)[1] == "new text\n"


def test_set_keys_on_crlf_file_stays_crlf() -> None:
    text = "---\r\nid: m-1\r\nkeep:  me\r\n---\r\nbody\r\n"
    out = markdown.set_keys(text, {"status": "deleted"})
    assert out == "---\r\nid: m-1\r\nkeep:  me\r\nstatus: deleted\r\n---\r\nbody\r\n"


def test_set_keys_adds_frontmatter_to_a_plain_file() -> None:
    assert markdown.set_keys("just text\n", {"id": "m-1"}) == "---\nid: m-1\n---\njust text\n"


def test_render_round_trips_through_parse() -> None:
    meta = {
        "id": "m-1",
        "created": "2026-01-02T03:04:05.000Z",
        "user": "no",
        "tags": ["a", "b c"],
        "metadata": {"n": "0123", "flag": True, "nested": {"k": [1, 2]}},
        "history": [{"event": "UPDATE", "old": "line one\nline two"}],
    }
    text = markdown.render(meta, "hello\n")
    assert "created: 2026-01-02T03:04:05.000Z\n" in text  # timestamps unquoted
    assert "tags: [a, b c]\n" in text
    parsed = markdown.parse(text)
    assert parsed.meta == meta
    assert parsed.body == "hello\n"


@pytest.mark.parametrize(
    "body, expected",
    [("# Project Falcon\ntext", "Project Falcon"), ("no heading", "fallback"), ("## Sub only\n", "fallback")],
)
def test_title(body: str, expected: str) -> None:
    assert markdown.title(body, "fallback") == expected
