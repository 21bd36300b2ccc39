"""One-time link tokens: random, 192 bits, only their hash is stored."""

from __future__ import annotations

import hashlib
import re
import secrets

# token_urlsafe(24) gives 32 characters of [A-Za-z0-9_-]: 192 bits, and exactly the
# alphabet Telegram allows in a /start parameter (at most 64 characters).
_TOKEN_BYTES = 24
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def new_token() -> tuple[str, str]:
    """A fresh token and the hash to store for it."""
    token = secrets.token_urlsafe(_TOKEN_BYTES)
    return token, hash_token(token)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def looks_like_token(text: str) -> bool:
    """Cheap shape check before touching the database with arbitrary input."""
    return bool(_TOKEN_RE.match(text))
