"""Every English word list mem reads, once: lexicon/en.toml (package data), loaded on first use.
Knowledge is data: a word added there reaches every rule that reads its list."""

from __future__ import annotations

import functools
import tomllib
from importlib import resources
from typing import Any


@functools.cache
def _lexicon() -> dict[str, Any]:
    return tomllib.loads(resources.files("memcli.text").joinpath("lexicon/en.toml").read_text(encoding="utf-8"))


def word_list(name: str) -> list[str]:
    """The words of list `name`, in the file's order."""
    return list(_lexicon()["words"][name])


def words(name: str) -> frozenset[str]:
    """The words of list `name`, as a set."""
    return frozenset(_lexicon()["words"][name])


def mapping(name: str) -> dict[str, str]:
    """The table `name`: word -> word (or word -> words)."""
    return dict(_lexicon()["maps"][name])
