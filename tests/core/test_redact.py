"""Secrets never shown: bearer tokens, API keys, credentials and query secrets in URLs."""

from __future__ import annotations

import pytest

from sugar_core.redact import public_url, scrub, url_secrets

KEY = "sk-proj-AbCdEf0123456789xyz"


@pytest.mark.parametrize(
    "text",
    [
        f"HTTP 401: Authorization: Bearer {KEY}",
        f'{{"headers": {{"Authorization": "Bearer {KEY}"}}}}',
        f"incorrect key {KEY} provided",
        f"GET http://host/v1?api_key={KEY}&x=1",
        f'{{"api_key": "{KEY}"}}',
        f"X-Api-Key: {KEY}",
        f"https://me:{KEY}@host/v1",
        f"OPENAI_API_KEY={KEY}",
    ],
)
def test_credential_shapes_are_masked(text):
    out = scrub(text)
    assert KEY not in out and KEY[5:] not in out and "***" in out


def test_given_secrets_are_masked_wherever_they_are():
    plain = "c0ffee-not-shaped-like-a-key"
    assert scrub(f"echo: {plain}!", [plain, None, ""]) == "echo: ***!"
    assert scrub("nothing hidden: max_new_tokens=48, design: x") == (
        "nothing hidden: max_new_tokens=48, design: x"
    )


def test_public_url_and_url_secrets():
    url = "https://me:pw0rd@host:8080/v1/?api_key=abc123&api-version=2024#frag"
    assert public_url(url) == "https://host:8080/v1"
    assert set(url_secrets(url)) == {"me", "pw0rd", "abc123", "2024"}
    assert public_url("http://host:notaport/v1?key=zz") == "http://host:notaport/v1"
