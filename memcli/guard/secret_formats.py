"""Credential formats detect-secrets does not know, as its own plugins (RegexBasedDetector).

detect-secrets loads this file itself, by path, as a custom plugin (guard/secrets.py names it in
`plugins_used`); memcli never imports it, so guard/secrets.py stays the one caller of the library.
Each class is one kind of secret; its examples are in tests/test_secrets.py.
"""

from __future__ import annotations

import re
from collections.abc import Generator

from detect_secrets.plugins.base import RegexBasedDetector

_AFTER = r"(?![A-Za-z0-9_\-])"  # a token ends where its alphabet does


class AnthropicKeyDetector(RegexBasedDetector):
    """sk-ant-api03-…, sk-ant-admin01-…"""

    secret_type = "Anthropic API Key"
    denylist = (re.compile(r"sk-ant-[a-z]+\d*-[A-Za-z0-9_\-]{20,}" + _AFTER),)


class OpenAIProjectKeyDetector(RegexBasedDetector):
    """Project, service-account and admin keys, which lack the legacy T3BlbkFJ marker the built-in
    OpenAIDetector needs."""

    secret_type = "OpenAI API Key"
    denylist = (re.compile(r"sk-(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{20,}" + _AFTER),)


class GitHubFineGrainedTokenDetector(RegexBasedDetector):
    """github_pat_…: the built-in GitHubTokenDetector knows only ghp_/gho_/ghu_/ghs_/ghr_."""

    secret_type = "GitHub Fine-Grained Token"
    denylist = (re.compile(r"github_pat_[A-Za-z0-9_]{22,}" + _AFTER),)


class GoogleAPIKeyDetector(RegexBasedDetector):
    secret_type = "Google API Key"
    denylist = (re.compile(r"AIza[0-9A-Za-z_\-]{35}" + _AFTER),)


class HuggingFaceTokenDetector(RegexBasedDetector):
    """hf_ and 34 letters; identifiers such as hf_hub_download have underscores, so they differ."""

    secret_type = "Hugging Face Token"
    denylist = (re.compile(r"(?<![A-Za-z0-9_])hf_[A-Za-z0-9]{30,}" + _AFTER),)


class AWSSecretAccessKeyDetector(RegexBasedDetector):
    """AWS_SECRET_ACCESS_KEY=… unquoted, as in a .env file or a shell line (the built-in AWS
    plugin wants the 40 characters in quotes)."""

    secret_type = "AWS Secret Access Key"
    denylist = (
        re.compile(r"aws_secret_access_key[\"']?\s*[=:]\s*[\"']?([A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])", re.IGNORECASE),
    )


# NAME=value where the name says what the value is: API_KEY, GITHUB_TOKEN, db.password, apiKey.
_ENV_NAME = r"[A-Z0-9_]*(?:KEY|TOKEN|SECRET|PASSWORD)"
_CODE_NAME = (
    r"(?:(?:[A-Za-z0-9]+[_.\-])+key|(?:[A-Za-z0-9]+[_.\-])*(?:token|secret|password)"  # snake, dotted, kebab
    r"|(?:api|access|auth|private|secret)key"  # ?apikey=
    r"|[a-z][A-Za-z0-9]*(?:Key|Token|Secret|Password))"  # camelCase; a bare "key=" is a sort key or a column
)
_IS = r"(?<![A-Za-z0-9_.\-])(?:{name})(?![A-Za-z0-9_])[\"']?[ \t]*=[ \t]*[\"']?"
# The value: one word of 8 or more characters, not starting like a reference to one ($VAR, {{x}},
# <your key>, %VAR%, [REDACTED:…]), a path, or a comparison (==).
_VALUE = r"(?![\[<{$%/~=]|\.{1,2}/)([^\s\"'`]{8,})"
# After a lower-case name (code: sort_key=created_at) a plain identifier is no credential.
_NOT_IDENTIFIER = r"(?=[^\s\"'`]*[^a-z_.\-\s\"'`])"
_PLACEHOLDER = re.compile(r"^(.)\1*$|your|example|placeholder|change_?me|redacted|dummy|x{4,}|\*{3,}", re.IGNORECASE)


class SecretAssignmentDetector(RegexBasedDetector):
    """A value assigned to a name ending in KEY, TOKEN, SECRET or PASSWORD. Prose about keys ("the
    API_KEY is set in the env") has no `=`; placeholders (xxxxxxxx, <your key>, changeme) are not
    credentials."""

    secret_type = "Secret Assignment"
    denylist = (
        re.compile(_IS.format(name=_ENV_NAME) + _VALUE),
        re.compile(_IS.format(name=_CODE_NAME) + _NOT_IDENTIFIER + _VALUE),
    )

    def analyze_string(self, string: str) -> Generator[str, None, None]:
        for value in super().analyze_string(string):
            if not _PLACEHOLDER.search(value):
                yield value
