"""Sort keys longer than an LMDB key can hold: stored in groups, read in order.

DynamoDB allows sort key values of 1,024 bytes; an LMDB key holds 511
bytes, less the partition's part. A table key and an index entry key both
keep a long sort key as its first bytes (the group's *lead*) and a hash, so
a key is still found from the value alone. Call a *group* the keys of one
partition whose sort key was cut and that share their lead: a group is
contiguous in LMDB's order and every key outside it is ordered correctly
against every member (docs/design.md, "Keys longer than LMDB's limit", has
the proof for both layouts), so only a group's own members can be out of
order. This module is that mechanism, written once for both layouts:

* reading (:meth:`Groups.in_order`): a group met while reading is read
  whole and sorted by the full sort key taken from the stored values, then
  by the stored key (which keeps equal index sort keys in one fixed order);
* key ranges (:meth:`Groups.key_range`): a condition bound that falls in a
  group widens the range to that group and comes with an exact test of the
  full sort key;
* resuming (:meth:`Groups.resume`): a page that ended inside a group resumes
  at the group's edge, keeping only what sorts past the last key returned.

A layout (:class:`keystone.table.TableGroups`,
:class:`keystone.indexes.IndexGroups`) says how its keys place a sort value:
whole, or in a group, and where.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final

from .codec import EXT_HOOK, prefix_end, unpackb
from .sk import bounds

#: A long sort key keeps at least this many bytes in its key (else it is refused).
MIN_GROUP: Final = 64

#: The exact test of a key: ``(sort bytes, stored key) -> keep``.
Exact = Callable[[bytes, bytes], bool]
Range = tuple[bytes, bytes | None, Exact | None]


class Groups:
    """How the stored keys of one partition hold long sort keys (see the module)."""

    #: A stored key no longer than this is never in a group (a cheap first test).
    shortest: int

    def lead(self, key: bytes) -> bytes | None:
        """The bytes stored key ``key`` shares with its group; ``None`` if it is whole."""
        raise NotImplementedError

    def sort_bytes(self, item: Mapping[str, Any]) -> bytes:
        """The full sort key of a stored value (or a start key) as it orders."""
        raise NotImplementedError

    def place(self, v: bytes) -> tuple[bytes, bytes] | None:
        """Where the keys of sort value ``v`` lie: ``(first, past)``; ``None``: in a group."""
        raise NotImplementedError

    def lead_of(self, v: bytes) -> bytes:
        """The lead of the group a sort value ``v`` (not placed whole) falls in."""
        raise NotImplementedError

    def prefix(self, v: bytes) -> bytes:
        """The stored prefix of the keys whose sort value starts with ``v`` (placed whole)."""
        raise NotImplementedError

    # -- the mechanism -----------------------------------------------------

    def key_range(
        self,
        op: str,
        v: bytes,
        u: bytes | None,
        open_low: bytes,
        open_high: bytes | None,
    ) -> Range:
        """``(lo, hi, exact)``: the keys of operator ``op`` on sort values ``v`` (``u``).

        ``open_low``/``open_high`` are where an open end stops. ``exact`` is
        ``None`` when the range holds exactly the matching keys, else the test
        every key read must pass (a bound inside a group).
        """
        if op == "begins_with":
            if self.place(v) is None:
                lo = self.lead_of(v)
                return lo, prefix_end(lo), lambda s, _k: s.startswith(v)
            lo = self.prefix(v)
            return lo, prefix_end(lo), None
        low, low_inc, high, high_inc = bounds(op, v, u)
        grouped = False
        if low is None:
            lo = open_low
        else:
            placed = self.place(low)
            if placed is None:
                lo, grouped = self.lead_of(low), True
            else:
                lo = placed[0] if low_inc else placed[1]
        hi: bytes | None
        if high is None:
            hi = open_high
        else:
            placed = self.place(high)
            if placed is None:
                hi, grouped = prefix_end(self.lead_of(high)), True
            else:
                hi = placed[1] if high_inc else placed[0]
        exact = bounds_test(low, low_inc, high, high_inc) if grouped else None
        return lo, hi, exact

    def resume(
        self,
        lo: bytes,
        hi: bytes | None,
        after: bytes,
        start: Mapping[str, Any],
        reverse: bool,
    ) -> tuple[bytes, bytes | None, bytes | None, Exact | None]:
        """How a read of ``lo..hi`` resumes after stored key ``after`` (of key dict ``start``).

        Returns ``(lo, hi, after, test)``: for a key placed whole, the range
        as it was and ``after``; for a key inside a group, the range cut at
        the group's edge, no ``after``, and ``test``, which keeps what sorts
        past ``start`` (by full sort key, then stored key).
        """
        lead = self.lead(after) if len(after) > self.shortest else None
        if lead is None:
            return lo, hi, after, None
        last = self.sort_bytes(start)
        if not reverse:
            return max(lo, lead), hi, None, lambda s, k: (s, k) > (last, after)
        edge = prefix_end(lead)
        if edge is not None:
            hi = edge if hi is None else min(hi, edge)
        return lo, hi, None, lambda s, k: (s, k) < (last, after)

    def in_order(
        self, entries: Iterable[tuple[bytes, bytes]], reverse: bool
    ) -> Iterator[tuple[bytes, bytes]]:
        """``entries`` (a cursor's, in either direction), each group sorted by full sort key."""
        it = iter(entries)
        shortest = self.shortest
        pending = next(it, None)
        while pending is not None:
            k, v = pending
            lead = self.lead(k) if len(k) > shortest else None
            if lead is None:
                yield k, v
                pending = next(it, None)
                continue
            group = [(k, v)]
            pending = None
            for k2, v2 in it:
                if len(k2) > shortest and k2.startswith(lead) and self.lead(k2) == lead:
                    group.append((k2, v2))
                else:
                    pending = (k2, v2)
                    break
            sort_bytes = self.sort_bytes
            group.sort(
                key=lambda kv: (sort_bytes(unpackb(kv[1], ext_hook=EXT_HOOK, raw=False)), kv[0]),
                reverse=reverse,
            )
            yield from group


def bounds_test(low: bytes | None, low_inc: bool, high: bytes | None, high_inc: bool) -> Exact:
    """The exact test of a sort key against a condition's bounds."""

    def test(s: bytes, _key: bytes) -> bool:
        if low is not None and (s < low or (s == low and not low_inc)):
            return False
        return high is None or s < high or (s == high and high_inc)

    return test


def both(a: Exact | None, b: Exact | None) -> Exact | None:
    """Two exact tests as one (either may be ``None``)."""
    if a is None or b is None:
        return a or b
    return lambda s, k: a(s, k) and b(s, k)


__all__ = ["MIN_GROUP", "Exact", "Groups", "both", "bounds_test"]
