import os
import shutil
import socket
import subprocess
import time

import pytest

from conftest import require_service


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


@pytest.fixture
def click_buffer(redis_server_url, settings):
    """The Redis click buffer switched on (as in production with REDIS_URL), emptied around
    the test."""
    import redis

    from kangrow.tracking import buffer

    settings.REDIS_URL = redis_server_url
    settings.KANGROW_CLICK_BUFFER = True
    client = redis.Redis.from_url(redis_server_url)
    client.delete(buffer.STREAM, buffer.DEAD_STREAM, buffer.DRAIN_LOCK)
    buffer._down_until = 0.0
    yield client
    client.delete(buffer.STREAM, buffer.DEAD_STREAM, buffer.DRAIN_LOCK)
    client.close()
