"""List pagination as Google's JSON APIs do it: a page size and an opaque next-page token."""

import base64
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

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


def paged_body(
    key: str, items: Sequence[Any], query: Mapping[str, str], default_size: int
) -> dict[str, Any]:
    """A list response of `pageSize`/`pageToken` APIs: the page under `key` (left out when
    empty, as Google's JSON APIs do) and `nextPageToken` when more follow."""
    shown, next_token = page(items, query.get("pageSize"), query.get("pageToken"), default_size)
    body: dict[str, Any] = {key: list(shown)} if shown else {}
    if next_token:
        body["nextPageToken"] = next_token
    return body
