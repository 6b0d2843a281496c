"""Suite-wide fixtures. The database comes from DATABASE_URL (scripts/test starts PostgreSQL)."""

import os
import shutil
import socket
import subprocess
import time

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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def redis_server_url():
    """A real redis-server for the session (KANGROW_TEST_REDIS_URL reuses a running one)."""
    if os.environ.get("KANGROW_TEST_REDIS_URL"):
        yield os.environ["KANGROW_TEST_REDIS_URL"]
        return
    binary = shutil.which("redis-server")
    if binary is None:
        require_service("redis")
    port = _free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("redis-server did not start")
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
