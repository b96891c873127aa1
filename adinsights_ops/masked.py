"""A secret value that never shows itself: masked in repr and str, refused by pickle.

`reveal()` gives the value to the one call that needs it (a webhook request, an API header).
"""

from __future__ import annotations

from typing import Any

MASK = "**********"


class Masked:
    """A secret string whose repr and str are masked; `reveal()` gives the value to whoever needs it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"{type(self).__name__}({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __reduce__(self) -> Any:
        raise TypeError(f"a {type(self).__name__} is not pickled")
