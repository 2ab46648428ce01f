"""Persistence: in-memory collections with change tracking, and the durable store built on them."""

from __future__ import annotations


def open_store(registry, data_dir: str, codec, synchronous: str = "normal"):
    """Open the SQLite durable store under ``data_dir``, load its tenants into ``registry`` and persist every
    later change (``hybridsoa-mock serve --data-dir``); ``codec`` is the snapshot format
    (:class:`.persistence.TenantCodec`, implemented by ``hybridsoa.mock.domain.snapshot``).
    See :func:`hybridsoa.mock.store.durable.open_store`."""
    from .durable import open_store as _open

    return _open(registry, data_dir, codec, synchronous)
