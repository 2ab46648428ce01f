"""Wildcard matching without backtracking, for every place the emulated services accept ``*`` (any run of
characters) and ``?`` (one character): OPATH ``-like``, Exchange ``-Identity`` patterns, RBAC role names.

Why not a regex: ``re`` turns ``a*a*a*...b`` into nested ``.*`` that backtrack exponentially. Here a pattern is
split at its stars into fixed-length segments; the first is anchored at the start, the last at the end, and each
middle one is matched at its leftmost place after the previous one. Taking the leftmost place is always safe (a
later place only leaves less text for the rest), so nothing is retried: the cursor only moves forward, and the work
is at most ``len(text) * longest segment + len(pattern)`` comparisons.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Wildcard:
    """A compiled wildcard pattern (``*`` any run, ``?`` one character; every other character literal)."""

    pattern: str
    #: The literal/``?`` segments between stars, in order.
    segments: tuple[str, ...]
    #: Whether the pattern has a star at all (without one, the text must match its single segment exactly).
    starred: bool

    def match(self, text: str, counter: list[int] | None = None) -> bool:
        """Whether ``text`` matches the whole pattern. ``counter[0]`` (when given) is increased by the number of
        text positions the matcher examined, so tests can check the work is linear."""
        segs = self.segments
        if not self.starred:
            _count(counter, len(text))
            return len(text) == len(segs[0]) and _fits(segs[0], text, 0)
        first, last = segs[0], segs[-1]
        if len(text) < len(first) + len(last):
            return False
        _count(counter, len(first) + len(last))
        if not _fits(first, text, 0) or not _fits(last, text, len(text) - len(last)):
            return False
        pos, end = len(first), len(text) - len(last)
        for seg in segs[1:-1]:
            found = _find(seg, text, pos, end)
            _count(counter, (found if found >= 0 else end) - pos + len(seg))
            if found < 0:
                return False
            pos = found + len(seg)
        return True


def _count(counter: list[int] | None, n: int) -> None:
    if counter is not None:
        counter[0] += n


def _fits(seg: str, text: str, at: int) -> bool:
    # Segment ``seg`` (literals and ``?``) at position ``at`` of ``text``.
    if "?" not in seg:
        return text.startswith(seg, at)
    if at + len(seg) > len(text):
        return False
    return all(c == "?" or c == text[at + i] for i, c in enumerate(seg))


def _find(seg: str, text: str, start: int, end: int) -> int:
    """Leftmost position >= start where ``seg`` fits entirely before ``end``, or -1."""
    if "?" not in seg:
        return text.find(seg, start, end)
    # A fixed-length pattern with single-character holes: one regex of literals and '.', no quantifier (so no
    # backtracking beyond the segment itself).
    m = _segment_regex(seg).search(text, start, end)
    return m.start() if m else -1


_SEG_CACHE: dict[str, re.Pattern] = {}


def _segment_regex(seg: str) -> re.Pattern:
    found = _SEG_CACHE.get(seg)
    if found is None:
        if len(_SEG_CACHE) > 1024:  # patterns are client input: bounded
            _SEG_CACHE.clear()
        found = _SEG_CACHE[seg] = re.compile("".join("." if c == "?" else re.escape(c) for c in seg), re.DOTALL)
    return found


@functools.lru_cache(maxsize=256)
def compile_wildcard(pattern: str, question_mark: bool = True) -> Wildcard | _LiteralQuestion:
    """Compile ``pattern``; with ``question_mark=False`` a ``?`` is an ordinary character (Exchange identities
    only know ``*``)."""
    if not question_mark and "?" in pattern:
        # Keep '?' literal by matching it through a character no text holds: split, then rejoin segment-wise.
        return _LiteralQuestion(pattern)
    parts = pattern.split("*")
    if len(parts) > 2:  # runs of stars are one star: empty middle segments would only cost loop turns
        parts = [parts[0], *(p for p in parts[1:-1] if p), parts[-1]]
    return Wildcard(pattern, tuple(parts), len(parts) > 1)


class _LiteralQuestion:
    """A star-only pattern whose ``?`` characters are literal (a rare input, so simply matched case by case)."""

    __slots__ = ("parts", "pattern")

    def __init__(self, pattern: str):
        self.pattern, self.parts = pattern, pattern.split("*")

    def match(self, text: str, counter: list[int] | None = None) -> bool:
        """Whether ``text`` matches (stars only; linear like :meth:`Wildcard.match`)."""
        parts = self.parts
        _count(counter, len(text))
        if len(parts) == 1:
            return text == parts[0]
        first, last = parts[0], parts[-1]
        if len(text) < len(first) + len(last) or not text.startswith(first) or not text.endswith(last):
            return False
        pos, end = len(first), len(text) - len(last)
        for seg in parts[1:-1]:
            found = text.find(seg, pos, end)
            if found < 0:
                return False
            pos = found + len(seg)
        return True


def matches(pattern: str, text: str, question_mark: bool = True) -> bool:
    """One-off match of ``text`` against the wildcard ``pattern`` (case-sensitive; callers fold case)."""
    return compile_wildcard(pattern, question_mark).match(text)
