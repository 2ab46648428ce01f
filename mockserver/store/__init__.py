"""Persistence: in-memory collections with change tracking, and the durable store built on them."""
