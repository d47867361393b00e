"""One entity's samples in a family with extra labels, held compactly.

A dict of label text -> Python float per (family, entity) cost about 280 bytes for four samples;
at 50,000 terminals the routers' and service lines' labelled families held 140 MiB that way.
Here the label texts are one tuple shared by every entity with the same set (`FragmentSets`) and
the values one `array('d')`: about half. Samples keep the order they were given in, so the
exposition is byte for byte what the dicts gave.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Mapping

# distinct sets of label texts kept for sharing; past this it starts over (IP allocations make new
# sets as they change: the cache must not grow with them)
SHARED_SETS = 10_000


class FragmentSets:
    """Shares equal tuples of label texts between a table's entities."""

    def __init__(self) -> None:
        self._sets: dict[tuple[str, ...], tuple[str, ...]] = {}

    def shared(self, fragments: tuple[str, ...]) -> tuple[str, ...]:
        found = self._sets.get(fragments)
        if found is not None:
            return found
        if len(self._sets) >= SHARED_SETS:
            self._sets.clear()
        self._sets[fragments] = fragments
        return fragments


# The process's sets, shared by every table: each account's entities carry the same alert names,
# bands, targets and usage classes, and a FragmentSets a table (with its dict) cost 0.8 KiB an
# account at 3,000 small accounts. Tables change on the state worker, one batch at a time.
SHARED = FragmentSets()


class Samples(Mapping[str, float]):
    """Escaped label text (`band="2ghz"`) -> value, in the order given; read-only."""

    __slots__ = ("fragments", "numbers")

    def __init__(self, fragments: tuple[str, ...], numbers: array[float]):
        self.fragments = fragments
        self.numbers = numbers

    @classmethod
    def of(cls, samples: Mapping[str, float], sets: FragmentSets = SHARED) -> Samples:
        return cls(sets.shared(tuple(samples)), array("d", samples.values()))

    def __getitem__(self, fragment: str) -> float:
        try:
            return self.numbers[self.fragments.index(fragment)]
        except ValueError:
            raise KeyError(fragment) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.fragments)

    def __len__(self) -> int:
        return len(self.fragments)

    def as_dict(self) -> dict[str, float]:
        """label text -> value, in order (one pass; `items()` would search the tuple per key)."""
        return dict(zip(self.fragments, self.numbers, strict=True))

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Samples):
            return self.as_dict() == other.as_dict()
        if isinstance(other, Mapping):
            return self.as_dict() == dict(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Samples({self.as_dict()!r})"
