"""Cheap, type-exact change signals for the durable store's state blobs (issue 21): what tells a group commit that
the tenant RNG, a subsystem's state or a plain tenant attribute changed, without JSON-encoding or re-parsing the
whole blob at every commit, and without the ``1 == True == 1.0`` blind spot of comparing Python values."""

from __future__ import annotations

import array
import ctypes
import json
import marshal
import random
import struct
from typing import Any

#: marshal format 2: no back-references (format 3+ marks objects by their reference count, so one value could
#: give different bytes from one call to the next), exact types (``True``, ``1`` and ``1.0`` differ).
_MARSHAL_VERSION = 2
#: ``random.Random``'s C object: ``PyObject_HEAD``, then ``int index`` and the 624 state words.
_HEAD = struct.calcsize("P") * 2
_WORDS = 624
_RAW_SIZE = 4 + 4 * _WORDS


def signature(value) -> bytes | None:
    """A type-exact fingerprint of a JSON-native value (equal bytes: equal JSON text), or None when marshal cannot
    encode it (a str or int subclass, an object): the caller then encodes the value itself."""
    try:
        return marshal.dumps(value, _MARSHAL_VERSION)
    except (ValueError, TypeError):
        return None


class TextCache:
    """Last ``(signature, JSON text)`` per name: a value whose signature did not change gets the same text back
    without encoding it (the text is a function of the value, so the cache never needs invalidating)."""

    __slots__ = ("entries",)

    def __init__(self) -> None:
        self.entries: dict[str, tuple[bytes | None, str | None]] = {}

    def text(self, name: str, value, *, plain_only: bool = False) -> str | None:
        """``json.dumps(value)``, from the cache when ``value`` has the signature it had last time. ``plain_only``:
        None (instead of the TypeError/ValueError) for a value JSON cannot encode."""
        sig = signature(value)
        seen = self.entries.get(name)
        if sig is not None and seen is not None and seen[0] == sig:
            return seen[1]
        try:
            text = json.dumps(value)
        except (TypeError, ValueError):
            if not plain_only:
                raise
            text = None
        self.entries[name] = (sig, text)
        return text


def _raw_state(rng: random.Random) -> bytes:
    # The C struct's index and state words, copied in one call (getstate builds a 625-int tuple: ~40 us).
    return ctypes.string_at(id(rng) + _HEAD, _RAW_SIZE)


def _layout_matches() -> bool:
    probe = random.Random(20261203)
    probe.getrandbits(97)
    try:
        raw = _raw_state(probe)
    except (OSError, ValueError, TypeError):  # pragma: no cover - no ctypes
        return False
    _version, internal, _gauss = probe.getstate()
    return raw == struct.pack("=i", internal[_WORDS]) + array.array("I", internal[:_WORDS]).tobytes()


#: Whether this interpreter's ``random.Random`` has the C layout read above (CPython); else getstate is used.
FAST_RNG = _layout_matches()


def rng_signature(rng: random.Random):
    """What changes whenever the RNG draws (its position word) or is reseeded: the raw state and ``gauss_next``
    on CPython, ``getstate()`` elsewhere. Compare two with ``==``."""
    if FAST_RNG and type(rng) is random.Random:
        return (_raw_state(rng), rng.gauss_next)  # type: ignore[attr-defined]  # set by Random.__init__
    return rng.getstate()


def rng_probe(rng: random.Random):
    """A cheap sign that the RNG drew: its position word and first state word (every draw moves the one, every
    regeneration of the state the other) on CPython, ``getstate()`` elsewhere. Compare two with ``==``."""
    if FAST_RNG and type(rng) is random.Random:
        return ctypes.string_at(id(rng) + _HEAD, 8), rng.gauss_next  # type: ignore[attr-defined]
    return rng.getstate()


def rng_words(sig) -> bytes | None:
    """The 624 state words of a fast :func:`rng_signature` (None for a ``getstate()`` one)."""
    if isinstance(sig, tuple) and len(sig) == 2 and isinstance(sig[0], bytes):
        return sig[0][4:]
    return None


def rng_position(sig) -> str:
    """The ``ids:pos`` blob: ``[index, gauss]`` of the state a :func:`rng_signature` describes, as JSON."""
    if isinstance(sig, tuple) and len(sig) == 2 and isinstance(sig[0], bytes):
        gauss = sig[1]
        # Written at every commit that drew: formatted directly (json.dumps of a list costs more than the rest).
        return f"[{struct.unpack('=i', sig[0][:4])[0]}, {'null' if gauss is None else json.dumps(gauss)}]"
    _version, internal, gauss = sig
    return json.dumps([internal[-1], gauss])


def ids_text(seed, rng: random.Random, sig) -> str:
    """The stored ``ids`` blob for an RNG whose :func:`rng_signature` is ``sig`` (``files.ids_blob`` as JSON)."""
    if isinstance(sig, tuple) and len(sig) == 2 and isinstance(sig[0], bytes):
        raw, gauss = sig
        words = raw[4:] + struct.pack("=I", struct.unpack("=i", raw[:4])[0])
        return json.dumps({"seed": seed, "version": random.Random.VERSION, "words": words.hex(), "gauss": gauss})
    version, internal, gauss = sig
    blob = {"seed": seed, "version": version, "words": array.array("I", internal).tobytes().hex(), "gauss": gauss}
    return json.dumps(blob)


class BlobSignals:
    """The state-blob side of :class:`~.durable.DurableStore`: which blobs changed since they were last written."""

    # Set by DurableStore.
    codec: Any
    _written: dict[str, dict[str, str]]
    _texts: dict[str, TextCache]
    _clock_marks: dict[str, tuple]
    _rng_marks: dict[str, object]
    _ids_words: dict[str, object]

    def _changed_blobs(self, tenant, rng=None, *, rows_only: bool = False) -> dict[str, str]:
        """The state blobs whose JSON text differs from what was last written. Each value is fingerprinted with a
        type-exact signature (``signals``) and encoded only when that changed, so an unchanged subsystem costs its
        ``to_dict`` and a marshal, and ``1`` -> ``True`` -> ``1.0`` is a change (comparing parsed values missed it).
        ``rng``: the RNG signature the caller already took; ``rows_only``: the RNG and the clock only (a write
        declared to change objects and audit records alone)."""
        written = self._written.setdefault(tenant.id, {})
        if rows_only and "state" in written:
            return self._changed_rng_and_clock(tenant, written, rng)
        cache = self._texts.get(tenant.id)
        if cache is None:
            cache = self._texts[tenant.id] = TextCache()
        texts: dict[str, str | None] = {}
        parts = []
        for name, value in self.codec.state_items(tenant):
            text = cache.text("state:" + name, value, plain_only=True)
            if text is not None:  # not plain data (locks, caches of objects): rebuilt by Tenant.__init__
                parts.append(f"{json.dumps(name)}: {text}")
        texts["state"] = "{" + ", ".join(parts) + "}"
        texts["collections"] = cache.text("collections", self._collection_meta(tenant))
        for name, sub in self.codec.subsystems_of(tenant).items():
            texts[f"subsystem:{name}"] = cache.text(f"subsystem:{name}", sub.to_dict())
        out = {name: text for name, text in texts.items() if text is not None and written.get(name) != text}
        out.update(self._changed_rng_and_clock(tenant, written, rng))
        return out

    def _changed_rng_and_clock(self, tenant, written: dict, rng) -> dict[str, str]:
        out = {}
        if rng is None:
            rng = rng_signature(tenant.ids.rng)
        if "ids" not in written or self._rng_marks.get(tenant.id) != rng:
            # The 624 state words change once per 624 words drawn: between, only the position is written.
            words = rng_words(rng)
            if "ids" not in written or words is None or self._ids_words.get(tenant.id) != words:
                out["ids"] = ids_text(tenant.ids.seed, tenant.ids.rng, rng)
                self._ids_words[tenant.id] = words
            out["ids:pos"] = rng_position(rng)
        mark = self.codec.clock_fingerprint(tenant.clock)
        if self._clock_marks.get(tenant.id) != mark or "clock" not in written:
            out["clock"] = json.dumps(self.codec.dump_clock(tenant.clock))
            self._clock_marks[tenant.id] = mark
        return out

    def _collection_meta(self, tenant) -> dict:
        return {attr: {"name": c.name} for attr, c in self.codec.collections_of(tenant).items()}
