"""API tokens: one or more per client, each with scopes, stored as a keyed hash.

A token is ``cdw_`` + 43 random URL-safe characters (256 bits), shown once when created. The
warehouse keeps HMAC-SHA256 of it under a key derived (HKDF) from the project's data key
(``CREDIT_DW_ENCRYPTION_KEY``), never the token: a copy of ``api.tokens`` alone does not let anyone
test guesses, and the server finds a presented token by its hash. ``token_prefix`` (the first 8
characters after ``cdw_``) only helps people tell tokens apart in ``credit-dw api token list``.

Scopes: ``read-status`` (credit status, customer lookup, alerts, portfolio summary) and
``manage-alerts`` (read alerts, acknowledge and resolve them).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import Any

import psycopg

from api.db import ensure_schema
from credit_dw import audit

SCOPES = ("read-status", "manage-alerts")
TOKEN_PREFIX = "cdw_"


class TokenError(ValueError):
    """A token request that cannot be honoured (unknown scope, empty name, unknown token)."""


@dataclass(frozen=True)
class Client:
    token_id: int
    name: str
    scopes: frozenset[str]


@lru_cache(maxsize=1)
def _hash_key() -> bytes:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    from credit_dw.settings import get_settings

    key = get_settings().encryption_key_bytes()
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"credit-dw api token").derive(key)


def token_hash(token: str) -> bytes:
    return hmac.new(_hash_key(), token.encode("utf-8"), hashlib.sha256).digest()


def parse_scopes(text: str | list[str] | tuple[str, ...]) -> list[str]:
    items = text.split(",") if isinstance(text, str) else list(text)
    scopes = {item.strip() for item in items if item.strip()}
    unknown = sorted(scope for scope in scopes if scope not in SCOPES)
    if unknown:
        raise TokenError(f"unknown scope(s) {', '.join(unknown)}: use {', '.join(SCOPES)}")
    if not scopes:
        raise TokenError(f"give at least one scope: {', '.join(SCOPES)}")
    return [scope for scope in SCOPES if scope in scopes]


def create_token(conn: psycopg.Connection, name: str, scopes: str | list[str], *,
                 expires_in_days: int | None = None) -> tuple[str, dict[str, Any]]:
    """A new token for client ``name``: (the token, to show once; its stored row without the hash)."""
    name = name.strip()
    if not name or len(name) > 100:
        raise TokenError("the client name must be 1 to 100 characters")
    wanted = parse_scopes(scopes)
    if expires_in_days is not None and expires_in_days < 1:
        raise TokenError("--expires-in-days must be at least 1")
    ensure_schema(conn)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = None
    if expires_in_days is not None:
        expires_at = conn.execute("select now() + %s", (timedelta(days=expires_in_days),)).fetchone()[0]
    row = conn.execute(
        """insert into api.tokens (name, token_prefix, token_hash, scopes, expires_at)
           values (%s, %s, %s, %s, %s)
           returning token_id, name, token_prefix, scopes, created_at, created_by, expires_at""",
        (name, token[len(TOKEN_PREFIX):][:8], token_hash(token), wanted, expires_at),
    ).fetchone()
    stored = dict(zip(("token_id", "name", "token_prefix", "scopes", "created_at", "created_by", "expires_at"),
                      row, strict=True))
    audit.record(conn, "api_token_create", f"api.tokens/{stored['token_id']}",
                 {"name": name, "scopes": wanted, "expires_at": expires_at})
    return token, stored


def list_tokens(conn: psycopg.Connection) -> list[dict[str, Any]]:
    ensure_schema(conn)
    cursor = conn.execute(
        """select t.token_id, t.name, t.token_prefix, t.scopes, t.created_at, t.created_by, t.expires_at,
                  t.revoked_at, (select max(requested_at) from api.request_log l where l.token_id = t.token_id)
                  as last_used_at
           from api.tokens t order by t.token_id""")
    columns = [c.name for c in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def revoke_token(conn: psycopg.Connection, token_id: int) -> dict[str, Any]:
    ensure_schema(conn)
    row = conn.execute(
        "update api.tokens set revoked_at = coalesce(revoked_at, now()) where token_id = %s "
        "returning token_id, name, revoked_at", (token_id,)).fetchone()
    if row is None:
        raise TokenError(f"no token {token_id}")
    audit.record(conn, "api_token_revoke", f"api.tokens/{token_id}", {"name": row[1]})
    return {"token_id": row[0], "name": row[1], "revoked_at": row[2]}


_VERIFY = """select token_id, name, scopes from api.tokens
              where token_hash = %s and revoked_at is null and (expires_at is null or expires_at > now())"""


def _plausible(token: str) -> bool:
    return token.startswith(TOKEN_PREFIX) and len(token) <= 100


def verify(conn: psycopg.Connection, token: str) -> Client | None:
    """The client a presented token belongs to, if it is one of ours, not revoked and not expired."""
    if not _plausible(token):
        return None
    row = conn.execute(_VERIFY, (token_hash(token),)).fetchone()
    return Client(row[0], row[1], frozenset(row[2])) if row else None


class Verifier:
    """``verify`` for the server, on the event loop, remembering a valid token for ``ttl`` seconds: a
    revocation or expiry takes effect within that time. Unknown tokens are never remembered."""

    def __init__(self, ttl: float = 5.0, max_entries: int = 10_000):
        self._ttl, self._max_entries = ttl, max_entries
        self._valid: dict[bytes, tuple[Client, float]] = {}

    async def __call__(self, pool, token: str) -> Client | None:
        if not _plausible(token):
            return None
        key = token_hash(token)
        known = self._valid.get(key)
        if known is not None and known[1] > time.monotonic():
            return known[0]
        async with pool.connection() as conn:
            cursor = await conn.execute(_VERIFY, (key,))
            row = await cursor.fetchone()
        if row is None:
            self._valid.pop(key, None)
            return None
        if len(self._valid) >= self._max_entries:
            self._valid.clear()
        client = Client(row[0], row[1], frozenset(row[2]))
        self._valid[key] = (client, time.monotonic() + self._ttl)
        return client
