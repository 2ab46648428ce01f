"""Deterministic identifiers: every GUID and random choice a tenant makes comes from its seeded RNG."""

from __future__ import annotations

import random
import uuid

#: Namespace for tenant ids derived from a name and a seed (uuid5), so a tenant recreated with the
#: same name and seed gets the same id.
TENANT_NAMESPACE = uuid.UUID("6f1c7c1e-4d1a-4e0a-9a7e-2c3b5b8f0a11")
_CLEAR_VERSION_VARIANT = ~((0xC000 << 48) | (0xF000 << 64))
_SET_VERSION_VARIANT = (0x8000 << 48) | (4 << 76)


class SeededIds:
    """A seeded source of GUIDs and random numbers, one per tenant (moto's MotoRandom, per tenant)."""

    def __init__(self, seed: int):
        self.seed = seed
        self.rng = random.Random(seed)

    def guid(self) -> str:
        """Return a new version-4-shaped GUID string from the seeded stream."""
        # The text of str(uuid.UUID(int=..., version=4)) without a UUID object: seeding draws four per mailbox.
        b = ((self.rng.getrandbits(128) & _CLEAR_VERSION_VARIANT) | _SET_VERSION_VARIANT).to_bytes(16, "big")
        return f"{b[:4].hex()}-{b[4:10].hex('-', 2)}-{b[10:].hex()}"

    def hex(self, nbytes: int = 16) -> str:
        """Return ``nbytes`` random bytes as lowercase hex."""
        return self.rng.getrandbits(nbytes * 8).to_bytes(nbytes, "big").hex()

    def secret(self, length: int = 40) -> str:
        """Return a client-secret-shaped string (letters, digits, ``~._-``) as Entra issues them."""
        alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789~._-"
        return "".join(self.rng.choice(alphabet) for _ in range(length))

    def getstate(self):
        """Return the RNG state (for snapshots)."""
        return self.rng.getstate()

    def setstate(self, state) -> None:
        """Restore an RNG state taken by :meth:`getstate`."""
        self.rng.setstate(state)


def tenant_id_for(name: str, seed: int) -> str:
    """Tenant id derived from name and seed (stable across runs and restarts)."""
    return str(uuid.uuid5(TENANT_NAMESPACE, f"{name.lower()}:{seed}"))
