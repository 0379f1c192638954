"""Every in-process cache, in one registry per app: named, bounded, and new with each app
(so each test's app starts cold). Features declare what they keep with a `CacheSpec`; the
registry makes the cache on first use. Nothing kept here is needed by another worker
process: each keeps its own, and a miss is only slower."""

import threading
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class CacheSpec:
    name: str
    size: int


class Lru:
    """At most `size` entries; the least recently used goes first. Safe across threads."""

    def __init__(self, spec: CacheSpec) -> None:
        self.spec = spec
        self._kept: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> Any:
        with self._lock:
            value = self._kept.get(key)
            if value is not None:
                self._kept.move_to_end(key)
            return value

    def put(self, key: Hashable, value: Any) -> Any:
        with self._lock:
            self._kept[key] = value
            self._kept.move_to_end(key)
            while len(self._kept) > self.spec.size:
                self._kept.popitem(last=False)
        return value

    def __len__(self) -> int:
        return len(self._kept)


class Caches:
    """The app's caches by spec (`app.state.caches`; units of work carry it too)."""

    def __init__(self) -> None:
        self._caches: dict[str, Lru] = {}
        self._lock = threading.Lock()

    def __getitem__(self, spec: CacheSpec) -> Lru:
        cache = self._caches.get(spec.name)
        if cache is None:
            with self._lock:
                cache = self._caches.setdefault(spec.name, Lru(spec))
        if cache.spec != spec:
            raise ValueError(f"cache {spec.name!r} declared twice with different sizes")
        return cache
