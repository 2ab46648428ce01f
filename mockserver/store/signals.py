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
        return (_raw_state(rng), rng.gauss_next)
    return rng.getstate()


def rng_words(sig) -> bytes | None:
    """The 624 state words of a fast :func:`rng_signature` (None for a ``getstate()`` one)."""
    if isinstance(sig, tuple) and len(sig) == 2 and isinstance(sig[0], bytes):
        return sig[0][4:]
    return None


def rng_position(sig) -> str:
    """The ``ids:pos`` blob: ``[index, gauss]`` of the state a :func:`rng_signature` describes, as JSON."""
    if isinstance(sig, tuple) and len(sig) == 2 and isinstance(sig[0], bytes):
        return json.dumps([struct.unpack("=i", sig[0][:4])[0], sig[1]])
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
