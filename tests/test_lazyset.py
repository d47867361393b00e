"""Sets that stay the shared empty frozenset until their first member."""

from leo_exporter import lazyset
from leo_exporter.providers.names import UnknownNames


def test_the_first_member_makes_a_set_of_its_own_and_leaves_the_shared_one_empty() -> None:
    first = lazyset.with_added(lazyset.EMPTY, "a")
    second = lazyset.with_added(lazyset.EMPTY, "b")
    assert (first, second, lazyset.EMPTY) == ({"a"}, {"b"}, frozenset())
    assert lazyset.with_added(first, "c") is first  # later members are added in place


def test_two_accounts_remember_the_names_they_met_apart() -> None:
    class Account:
        def count(self, *_: object) -> None:
            pass

    class Log:
        def warning(self, *_: object) -> None:
            pass

    north, south = (UnknownNames(Account(), Log()) for _ in range(2))  # type: ignore[arg-type]
    assert north.note("column", "x") and not north.note("column", "x")
    assert south.note("column", "x")  # south never met it: north's set is its own
