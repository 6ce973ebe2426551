"""API keys with scopes: ``ingest`` (post events), ``read``, ``write`` (stage moves,
people), ``admin`` (everything). A key is ``lg_<id>_<secret>``; the store keeps only the
SHA-256 of the secret, which is random enough that a slow hash would add nothing."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from leadgrade.store.schema import api_keys

SCOPES = ("ingest", "read", "write", "admin")


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    scopes: frozenset[str]

    def allows(self, scope: str) -> bool:
        return "admin" in self.scopes or scope in self.scopes


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_key(conn: sa.Connection, name: str, scopes: list[str], now: float) -> tuple[ApiKey, str]:
    """A new key; the token (returned once) is what clients send as ``Bearer``."""
    unknown = sorted(set(scopes) - set(SCOPES))
    if unknown or not scopes:
        raise ValueError(
            f"scopes must be some of {', '.join(SCOPES)}; got {', '.join(unknown) or 'none'}"
        )
    key_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
    conn.execute(
        sa.insert(api_keys).values(
            id=key_id,
            name=name,
            secret_hash=_digest(secret),
            scopes=sorted(set(scopes)),
            created_at=datetime.fromtimestamp(now, UTC),
        )
    )
    return ApiKey(key_id, name, frozenset(scopes)), f"lg_{key_id}_{secret}"


def verify(conn: sa.Connection, token: str) -> ApiKey | None:
    """The key ``token`` names, if it exists, is not revoked and its secret matches."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != "lg":
        return None
    row = conn.execute(sa.select(api_keys).where(api_keys.c.id == parts[1])).one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    if not hmac.compare_digest(row.secret_hash, _digest(parts[2])):
        return None
    return ApiKey(row.id, row.name, frozenset(row.scopes))


def revoke(conn: sa.Connection, key_id: str, now: float) -> bool:
    result = conn.execute(
        sa.update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=datetime.fromtimestamp(now, UTC))
    )
    return bool(result.rowcount)
