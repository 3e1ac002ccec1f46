"""The one token estimate (digest and MCP budget both count with it), and cutting to a budget."""

from __future__ import annotations

import pytest

from memcli.mcp_server import _budget
from memcli.text.normalize import cut_to_tokens, estimate_tokens


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("", 0),
        ("prefers pnpm over npm", 5),  # 4 words
        ("line one\n\n  line two", 5),  # whitespace of any kind separates words
        ("x" * 12, 1),
        ("x" * 13, 3),  # two pieces of 12
        ("x" * 100_000, 11_112),  # a blob without spaces is not one token
    ],
)
def test_estimate_tokens(text: str, tokens: int) -> None:
    assert estimate_tokens(text) == tokens


def test_cut_keeps_whole_words_and_formatting_within_the_budget() -> None:
    text = "first line\nsecond line\nthird line"
    cut = cut_to_tokens(text, 4)
    assert cut == "first line\nsecond" and estimate_tokens(cut) <= 4
    assert cut_to_tokens(text, 100) == text


def test_the_mcp_budget_counts_with_the_same_estimate() -> None:
    blob = "y" * 50_000  # no spaces: the old per-word count called this one token
    items, truncated = _budget([{"memory": blob}], max_tokens=200)
    assert truncated and items[0]["memory"].startswith("y" * 1000)
    assert estimate_tokens(items[0]["memory"]) <= 200 + 2
