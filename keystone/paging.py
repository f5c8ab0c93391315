"""Following ``last_key`` from page to page: the ``*_all`` forms of every store.

Each store's ``query_all`` / ``scan_all`` is its own ``query`` / ``scan``
called again with ``start=`` the previous page's ``last_key`` until a page
has none; these two loops (one blocking, one async) are that, once.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .table import Page
    from .types import Item

#: ``fetch(start)`` -> the page that starts after ``start`` (``None``: the first).
Fetch = Callable[[Any], "Page"]


def every_item(fetch: Fetch, start: Any = None) -> Iterator[Item]:
    """Every item of ``fetch``'s pages, from ``start`` on."""
    while True:
        page = fetch(start)
        yield from page.items
        if page.last_key is None:
            return
        start = page.last_key


async def every_page_async(
    fetch: Callable[[Any], Awaitable[Page]], start: Any = None
) -> AsyncIterator[Page]:
    """Every page ``fetch`` returns (awaited), from ``start`` on."""
    while True:
        page = await fetch(start)
        yield page
        if page.last_key is None:
            return
        start = page.last_key


async def every_item_async(
    fetch: Callable[[Any], Awaitable[Page]], start: Any = None
) -> AsyncIterator[Item]:
    """Every item of the pages ``fetch`` returns (awaited), from ``start`` on."""
    async for page in every_page_async(fetch, start):
        for item in page.items:
            yield item


__all__ = ["every_item", "every_item_async", "every_page_async"]
