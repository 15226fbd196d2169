"""A bounded least-recently-used cache, for facts that are safe to remember within one process."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedCache(Generic[K, V]):
    """Least-recently-used mapping with a size cap: remembers recent facts without growing forever."""

    def __init__(self, capacity: int) -> None:
        self._items: OrderedDict[K, V] = OrderedDict()
        self._capacity = capacity

    def get(self, key: K) -> V | None:
        if key not in self._items:
            return None
        self._items.move_to_end(key)
        return self._items[key]

    def put(self, key: K, value: V) -> list[tuple[K, V]]:
        """Remember `key`; returns the entries evicted to make room (for callers that must dispose them)."""
        self._items[key] = value
        self._items.move_to_end(key)
        evicted: list[tuple[K, V]] = []
        while len(self._items) > self._capacity:
            evicted.append(self._items.popitem(last=False))
        return evicted

    def __len__(self) -> int:
        return len(self._items)
