"""API keys with scopes: ``ingest`` (post events), ``read``, ``write`` (stage moves,
people), ``admin`` (everything). A key is ``lg_<id>_<secret>``; the store keeps only the
SHA-256 of the secret, which is random enough that a slow hash would add nothing."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa

from leadgrade import audit
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


def create_key(
    conn: sa.Connection, name: str, scopes: list[str], now: float, *, actor: str = "system"
) -> tuple[ApiKey, str]:
    """A new key; the token (returned once) is what clients send as ``Bearer``. Audited
    as ``actor``'s."""
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
    audit.record(
        conn, actor, "key.created", key_id, {"name": name, "scopes": sorted(set(scopes))}, now
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


def revoke(conn: sa.Connection, key_id: str, now: float, *, actor: str = "system") -> bool:
    """Revoke a key (audited as ``actor``'s); False when there is no such active key."""
    name = conn.scalar(
        sa.select(api_keys.c.name).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
    )
    if name is None:
        return False
    result = conn.execute(
        sa.update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=datetime.fromtimestamp(now, UTC))
    )
    if result.rowcount:
        audit.record(conn, actor, "key.revoked", key_id, {"name": name}, now)
    return bool(result.rowcount)


class KeyCache:
    """Keys verified in the last ``ttl`` seconds, by token, so that a server under load
    does not query the store for the same key on every request. A revoked key is
    refused by a running server at most ``ttl`` seconds later; unknown tokens are not
    remembered. Thread-safe; holds at most ``size`` keys (least recently used go)."""

    def __init__(
        self, ttl: float = 10.0, size: int = 1024, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.size = size
        self._clock = clock
        self._keys: OrderedDict[str, tuple[float, ApiKey]] = OrderedDict()
        self._lock = threading.Lock()

    def remembered(self, token: str) -> ApiKey | None:
        """The key ``token`` names if it was verified less than ``ttl`` seconds ago."""
        with self._lock:
            found = self._keys.get(token)
            if found is not None and found[0] > self._clock():
                self._keys.move_to_end(token)
                return found[1]
        return None

    def verify(self, conn_factory: Callable[[], sa.Connection], token: str) -> ApiKey | None:
        """The key ``token`` names (see :func:`verify`), from memory when fresh."""
        now = self._clock()
        with self._lock:
            found = self._keys.get(token)
            if found is not None and found[0] > now:
                self._keys.move_to_end(token)
                return found[1]
        with conn_factory() as conn:
            key = verify(conn, token)
        if key is not None and self.ttl > 0:
            with self._lock:
                self._keys[token] = (now + self.ttl, key)
                self._keys.move_to_end(token)
                while len(self._keys) > self.size:
                    self._keys.popitem(last=False)
        return key
