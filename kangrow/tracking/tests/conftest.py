import pytest
from django.core.cache import cache

from kangrow.programs import api as programs
from kangrow.programs.tests.factories import make_affiliate, make_app, make_campaign


@pytest.fixture
def enrollment(db):
    """Jane's live enrollment in InvoicePro's "launch" campaign (landing URL with a query)."""
    cache.clear()
    make_app("invoicepro", landing_url="https://invoicepro.example/start?plan=pro&ref=old")
    make_campaign("launch")
    jane = make_affiliate()
    return programs.join_campaign(affiliate_id=jane.id, campaign_slug="launch")


@pytest.fixture
def click_buffer(redis_server_url, settings):
    """The Redis click buffer switched on (as in production with REDIS_URL), emptied around
    the test."""
    import redis

    from kangrow.tracking import buffer

    settings.REDIS_URL = redis_server_url
    settings.KANGROW_CLICK_BUFFER = True
    client = redis.Redis.from_url(redis_server_url)
    client.delete(buffer.STREAM, buffer.DEAD_STREAM, buffer.DEAD_SEEN, buffer.DRAIN_LOCK)
    buffer._down_until = 0.0
    yield client
    client.delete(buffer.STREAM, buffer.DEAD_STREAM, buffer.DEAD_SEEN, buffer.DRAIN_LOCK)
    client.close()
