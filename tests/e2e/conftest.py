"""The end-to-end tests were written against the uniform seed (every mailbox a synced, licensed remote mailbox):
their ``tenant``/``tenant_factory`` ask for it explicitly (``options.mix = "uniform"``) unless a test's
``mock_tenant`` marker names its own ``options``; the realistic default mix is covered by
tests/api/test_recipient_kinds.py."""

from __future__ import annotations

import pytest

from hybridsoa.mock.pytest_plugin import MockTenantFactory


class UniformTenantFactory(MockTenantFactory):
    """The plugin's factory, with the uniform seed unless the body sets ``options.mix``."""

    def __call__(self, **body) -> dict:
        """``POST /_mock/tenants`` with ``options.mix`` defaulting to ``"uniform"``."""
        body["options"] = {"mix": "uniform", **(body.get("options") or {})}
        return super().__call__(**body)


@pytest.fixture
def tenant_factory(mock_server, mock_session):
    """Factory of fresh uniform-seed tenants on the shared server; deleted after the test."""
    factory = UniformTenantFactory(mock_server, mock_session)
    try:
        yield factory
    finally:
        factory.cleanup()
