"""Dataset-id completion: what was typed → up to 100 dataset ids, most relevant first.

Why two listings: Powerdrill's `search` filters by name and description, not by
id, so an id prefix is matched against the unfiltered first page and a word
against the filtered one. Both answers are cached for a few seconds per query
(a host asks again on every keystroke). Completion is a convenience: any
failure (no configuration, Powerdrill unreachable, an error answer) gives an
empty list, never an error and never a text that could hold the key.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import anyio

from pd_mcp.models import DatasetEntry, DatasetPage

log = logging.getLogger("pd_mcp.completion")

MAX_VALUES = 100  # the MCP limit on completion values
CACHE_SECONDS = 5.0
CACHE_ENTRIES = 256

Lister = Callable[[str], Awaitable[DatasetPage]]


@dataclass(frozen=True, slots=True)
class Completions:
    """Completion values with the number of matches in all."""

    values: list[str]
    total: int
    has_more: bool


NOTHING = Completions(values=[], total=0, has_more=False)


def _relevance(typed: str, entry: DatasetEntry) -> int | None:
    """Lower is better: id prefix, name prefix, a word of the name, inside the name, the description."""
    needle = typed.casefold()
    name = entry.name.casefold()
    if entry.id.casefold().startswith(needle):
        return 0
    if name.startswith(needle):
        return 1
    if any(word.startswith(needle) for word in name.replace("-", " ").replace("_", " ").split()):
        return 2
    if needle in name:
        return 3
    if needle in entry.description.casefold() or needle in entry.id.casefold():
        return 4
    return None


def rank(typed: str, unfiltered: DatasetPage | None, searched: DatasetPage | None) -> Completions:
    """The ids that match `typed`, best first (ties keep the listing's order), at most `MAX_VALUES`."""
    typed = typed.strip()
    seen: dict[str, tuple[int, int]] = {}
    pages = [p for p in (unfiltered, searched) if p is not None]
    order = 0
    for page in pages:
        for entry in page.records:
            score = _relevance(typed, entry) if typed else 0
            if page is searched and score is None:
                score = 4  # Powerdrill matched it on a field it did not return in full
            if score is not None and entry.id not in seen:
                seen[entry.id] = (score, order)
            order += 1
    ordered = sorted(seen, key=lambda ident: seen[ident])
    # More may exist than we saw: a listing whose total is above the page it returned.
    unseen = any(p.total > len(p.records) for p in pages)
    known = searched.total if searched is not None else (unfiltered.total if unfiltered and not typed else 0)
    total = max(len(ordered), known)
    values = ordered[:MAX_VALUES]
    return Completions(values=values, total=total, has_more=unseen or len(ordered) > len(values))


class DatasetCompleter:
    """Completes dataset ids from the listing, with a short per-query cache on an injected clock."""

    def __init__(
        self,
        lister: Callable[[], Lister],
        *,
        now: Callable[[], float],
        ttl: float = CACHE_SECONDS,
    ) -> None:
        self._lister = lister
        self._now = now
        self._ttl = ttl
        self._cache: dict[str, tuple[float, DatasetPage | None]] = {}

    async def complete(self, typed: str) -> Completions:
        """Matching dataset ids for `typed`; `NOTHING` when the listing cannot be had."""
        typed = typed.strip()[:128]
        try:
            listing = self._lister()
        except Exception:  # no configuration yet: nothing to complete from
            return NOTHING
        results: dict[str, DatasetPage | None] = {}

        async def fetch(query: str) -> None:
            results[query] = await self._page(listing, query)

        async with anyio.create_task_group() as tg:
            tg.start_soon(fetch, "")
            if typed:
                tg.start_soon(fetch, typed)
        unfiltered, searched = results[""], results.get(typed) if typed else None
        if unfiltered is None and searched is None:
            return NOTHING
        return rank(typed, unfiltered, searched)

    async def _page(self, listing: Lister, query: str) -> DatasetPage | None:
        now = self._now()
        cached = self._cache.get(query)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        try:
            page: DatasetPage | None = await listing(query)
        except Exception as exc:  # completion never fails: an empty answer is the honest one
            log.info("dataset listing for completion failed: %s", type(exc).__name__)
            page = None
        if len(self._cache) >= CACHE_ENTRIES:
            self._cache.pop(next(iter(self._cache)))
        self._cache[query] = (now, page)
        return page
