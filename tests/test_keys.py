"""API keys: the cache of verified keys a server keeps."""

from __future__ import annotations

from leadgrade.keys import KeyCache, create_key, revoke
from leadgrade.store import Store

NOW = 1_790_812_800.0


def test_a_verified_key_is_remembered_for_its_ttl_and_a_revocation_then_holds(
    store: Store,
) -> None:
    with store.transaction() as conn:
        key, token = create_key(conn, "site", ["ingest"], NOW)
    clock = [0.0]
    opened = [0]

    def connect():  # type: ignore[no-untyped-def]
        opened[0] += 1
        return store.engine.connect()

    cache = KeyCache(ttl=10.0, clock=lambda: clock[0])
    assert cache.verify(connect, token) == key
    assert cache.verify(connect, token) == key
    assert opened[0] == 1  # the second request did not touch the store
    with store.transaction() as conn:
        revoke(conn, key.id, NOW)
    clock[0] = 9.0
    assert cache.verify(connect, token) == key  # within the ttl: still the cached key
    clock[0] = 10.5
    assert cache.verify(connect, token) is None  # checked again: revoked
    assert cache.verify(connect, "lg_nope_nope") is None
    assert cache.verify(connect, "lg_nope_nope") is None
    assert opened[0] == 4  # unknown tokens are not remembered


def test_the_cache_holds_at_most_its_size(store: Store) -> None:
    with store.transaction() as conn:
        tokens = [create_key(conn, f"k{i}", ["read"], NOW)[1] for i in range(3)]
    cache = KeyCache(size=2)
    for token in tokens:
        assert cache.verify(store.engine.connect, token) is not None
    assert len(cache._keys) == 2
    assert tokens[0] not in cache._keys
