import pytest


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
