"""Secrets kept out of messages and files: API keys, bearer tokens, credentials in URLs.

    scrub("HTTP 401: Bearer sk-abc123...", secrets=[key])   # -> "HTTP 401: Bearer ***"
    public_url("https://me:pw@host/v1?api_key=abc")          # -> "https://host/v1"

``scrub`` replaces the given secret values and anything shaped like a credential; every error
line of the CLI and every message of a model backend goes through it. ``public_url`` is what
may be stored or shown of a server's address.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Iterable

MASK = "***"
_SHAPES = (
    # Authorization header values: "Bearer <token>", "Basic <base64>"
    (re.compile(r"(?i)\b(bearer|basic)(\s+)[A-Za-z0-9._~+/=-]{4,}"), r"\1\2" + MASK),
    # OpenAI-style keys: sk-..., sk-proj-...
    (re.compile(r"\bsk-[A-Za-z0-9_-]{4,}"), "sk-" + MASK),
    # key=value and "key": "value" for names that hold credentials (query strings, JSON, headers)
    (
        re.compile(
            r"(?i)((?:api[_-]?key|access[_-]?token|auth[_-]?token|token|secret|password|passwd"
            r"|authorization|sig|signature)[\"']?\s*[=:]\s*[\"']?)[^\s\"'&#,;}]+"
        ),
        r"\1" + MASK,
    ),
    # user:password@ in a URL
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/@]+@"), r"\1" + MASK + "@"),
)


def scrub(text: str, secrets: Iterable[str | None] = ()) -> str:
    """``text`` with each value in ``secrets`` and every credential-shaped part masked."""
    for secret in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, MASK)
    for pattern, replacement in _SHAPES:
        text = pattern.sub(replacement, text)
    return text


def public_url(url: str) -> str:
    """``url`` without user info, query or fragment (where secrets travel); no trailing /."""
    try:
        p = urllib.parse.urlsplit(url)
        host = p.hostname or ""
        if p.port:
            host += f":{p.port}"
    except ValueError:  # a port that is not a number, brackets that do not close
        return scrub(url.split("?", 1)[0].split("#", 1)[0])
    return urllib.parse.urlunsplit((p.scheme, host, p.path.rstrip("/"), "", ""))


def url_secrets(url: str) -> list[str]:
    """The parts of ``url`` that may be secret: the password, user name and query values."""
    try:
        p = urllib.parse.urlsplit(url)
        found = [p.password, p.username]
    except ValueError:
        return []
    found += [v for _, v in urllib.parse.parse_qsl(p.query, keep_blank_values=False)]
    return [s for s in found if s]
