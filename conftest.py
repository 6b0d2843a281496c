"""Suite-wide fixtures. The database comes from DATABASE_URL (scripts/test starts PostgreSQL)."""

import os

import pytest


@pytest.fixture(autouse=True)
def _no_outside_network(monkeypatch):
    """Tests reach only loopback services the suite starts itself."""
    monkeypatch.setenv("NO_PROXY", "*")


def require_service(name: str) -> None:
    """Skip when a local service is missing, except in CI, where it must be there."""
    if os.environ.get("KANGROW_REQUIRE_SERVICES"):
        pytest.fail(f"{name} is required in CI but is not available")
    pytest.skip(f"{name} is not available on this machine")


@pytest.fixture(autouse=True)
def _fresh_link_memory():
    """Each test starts with an empty in-process link cache (tests clear the shared cache with
    cache.clear(), which cannot reach it)."""
    from kangrow.programs import api as programs

    programs.forget_local_links()
    yield
    programs.forget_local_links()
