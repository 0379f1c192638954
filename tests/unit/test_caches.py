"""The app's cache registry (app/core/caches.py) and the data path's defaults."""

import pytest

from app.core.caches import Caches, CacheSpec, Lru
from app.core.config import Settings
from app.core.db.engine import database_threads


def test_a_cache_keeps_at_most_its_size_and_drops_the_least_recently_used():
    cache = Lru(CacheSpec("three", size=3))
    for key in "abc":
        cache.put(key, key.upper())
    assert cache.get("a") == "A"  # now the most recently used
    cache.put("d", "D")
    assert len(cache) == 3
    assert cache.get("b") is None
    assert [cache.get(key) for key in "acd"] == ["A", "C", "D"]


def test_a_registry_makes_each_cache_once_and_refuses_two_sizes_for_one_name():
    caches = Caches()
    spec = CacheSpec("documents", size=2)
    caches[spec].put("k", 1)
    assert caches[spec].get("k") == 1
    assert Caches()[spec].get("k") is None  # each app's registry starts cold
    with pytest.raises(ValueError, match="documents"):
        caches[CacheSpec("documents", size=5)]


@pytest.mark.parametrize(
    ("url", "given", "threads"),
    [
        ("sqlite:///x.db", None, 2),
        ("postgresql+psycopg://u@h/db", None, 4),
        ("sqlite:///x.db", 6, 6),
    ],
)
def test_database_threads_default_by_the_database_kind(url: str, given: int | None, threads):
    assert database_threads(Settings(database_url=url, db_threads=given)) == threads
