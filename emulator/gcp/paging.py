"""List pagination as Google's JSON APIs do it: a page size and an opaque next-page token."""

import base64
from collections.abc import Sequence
from typing import TypeVar

from emulator.core.errors import invalid_argument

Item = TypeVar("Item")


def page(
    items: Sequence[Item], page_size: str | None, page_token: str | None, default_size: int
) -> tuple[Sequence[Item], str | None]:
    """One page of `items` and the token of the next page (None on the last page)."""
    try:
        size = int(page_size) if page_size else default_size
        start = int(base64.urlsafe_b64decode(page_token.encode()).decode()) if page_token else 0
    except ValueError:
        raise invalid_argument("Invalid page size or page token.") from None
    if size <= 0:
        size = default_size
    end = start + size
    next_token = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else None
    return items[start:end], next_token
