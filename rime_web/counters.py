"""Atomic counters in the default cache, for limits that many processes and threads enforce together.

Method: `cache.add(key, 0)` then `cache.incr(key)`. Redis and the local-memory cache do both atomically; Django's
file and database caches do them as get-then-set, so two simultaneous callers could read the same count. For those
the increment runs under an exclusive `flock` on one lock file next to the cache (every web and worker process of
the machine shares the file cache, and so the lock). The counter expires `timeout` seconds after it was created.
"""
from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path

import time

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache

_ATOMIC_BACKENDS = (RedisCache, LocMemCache)


def increment(key: str, *, timeout: float, by: int = 1) -> int:
    """Add `by` to the counter at `key` (created at 0) and return the new value, atomically."""
    cache = caches["default"]
    if isinstance(cache, _ATOMIC_BACKENDS):
        for _ in range(3):  # the key may expire between add and incr
            cache.add(key, 0, timeout)
            try:
                return cache.incr(key, by)
            except ValueError:
                continue
    with _exclusive():
        # get-then-set under the lock; the expiry is stored with the count, since set() would restart it.
        stored = cache.get(key)
        now = time.time()
        count, expires = (stored["count"], stored["expires"]) if isinstance(stored, dict) else (0, now + timeout)
        count += by
        cache.set(key, {"count": count, "expires": expires}, max(expires - now, 1))
        return count


def decrement(key: str) -> None:
    cache = caches["default"]
    if isinstance(cache, _ATOMIC_BACKENDS):
        try:
            cache.decr(key)
        except ValueError:
            pass  # expired meanwhile: nothing to give back
        return
    with _exclusive():
        stored = cache.get(key)
        if isinstance(stored, dict):
            remaining = max(stored["expires"] - time.time(), 1)
            cache.set(key, {**stored, "count": stored["count"] - 1}, remaining)


@contextlib.contextmanager
def _exclusive() -> Iterator[None]:
    lock_path = Path(settings.VAR_DIR) / "cache-counters.lock"
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
