"""Tombstones: what is left of an erased person (DESIGN §9). A salted hash of each way
they were named — e-mail, phone, anonymous web id, ATS or CRM id — so that a later
import, event or webhook naming them is refused and their suppression holds, with
nothing left that reads as the person.

The salt is made once per store and kept in it (``store_secrets``): the hashes mean
nothing outside the store, and a dictionary of e-mail hashes made elsewhere does not
match them.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid
from collections.abc import Iterable

import sqlalchemy as sa

from leadgrade.store.bulk import Bulk, among, chunked
from leadgrade.store.schema import store_secrets, tombstones
from leadgrade.times import utc

SALT = "tombstone_salt"
Name = tuple[str, str]  # (kind, value): ("email", "ana@acme.com"), ("bullhorn", "123")


def normal(kind: str, value: str) -> str | None:
    """The form a name is hashed in: e-mails lower-cased, phones as digits (a North
    American 10-digit number with its country code 1); None when nothing is left."""
    if kind == "email":
        value = value.strip().lower()
    elif kind == "phone":
        value = re.sub(r"\D", "", value)
        if len(value) == 10:
            value = "1" + value
        if len(value) < 7:
            return None
    else:
        value = value.strip()
    return value or None


def salt(conn: sa.Connection) -> str:
    """The store's salt, made on first use (two writers making it at once agree: the
    first insert wins and both read it back)."""
    query = sa.select(store_secrets.c.value).where(store_secrets.c.name == SALT)
    found = conn.scalar(query)
    if found is None:
        Bulk(conn).insert(
            store_secrets,
            [{"name": SALT, "value": secrets.token_hex(32)}],
            skip_conflicts_on="name",
        )
        found = conn.scalar(query)
    assert found is not None
    return str(found)


def digest(salt_value: str, kind: str, value: str) -> str:
    return hashlib.sha256(f"{salt_value}\0{kind}\0{value}".encode()).hexdigest()


def _hashes(key: str, names: Iterable[Name]) -> dict[str, Name]:
    found: dict[str, Name] = {}
    for kind, value in names:
        normalised = normal(kind, value)
        if normalised is not None:
            found[digest(key, kind, normalised)] = (kind, value)
    return found


def bury(conn: sa.Connection, names: Iterable[Name], now: float, *, basis: str, source: str) -> int:
    """Write the tombstone of one erased person: a row per name they had (one row with
    no hash when they had none, so the erasure is still on record)."""
    key = salt(conn)
    erasure = str(uuid.uuid4())
    hashed = _hashes(key, names)
    rows: list[dict[str, str | None]] = [
        {"kind": kind, "hash": hashed_value} for hashed_value, (kind, _) in sorted(hashed.items())
    ]
    if not rows:
        rows.append({"kind": "none", "hash": None})
    Bulk(conn).insert(
        tombstones,
        [
            row
            | {
                "id": str(uuid.uuid4()),
                "erasure": erasure,
                "at": utc(now),
                "basis": basis,
                "source": source,
            }
            for row in rows
        ],
    )
    return len(rows)


def buried(conn: sa.Connection, names: Iterable[Name]) -> set[Name]:
    """Which of these names belong to an erased person (as given)."""
    names = set(names)
    if not names or conn.scalar(sa.select(tombstones.c.id).limit(1)) is None:
        return set()  # no erasure yet: nothing to hash
    by_hash = _hashes(salt(conn), names)
    found: set[Name] = set()
    for chunk in chunked(conn, sorted(by_hash)):
        for (value,) in conn.execute(
            sa.select(tombstones.c.hash).where(among(conn, tombstones.c.hash, chunk))
        ):
            found.add(by_hash[value])
    return found
