import pytest

from kangrow.integrations.paypal.fake import FakePayPal

from .helpers import fake_client


@pytest.fixture
def fake():
    with FakePayPal(hang_seconds=1.0, deliver_webhooks=False) as server:
        yield server


@pytest.fixture
def client(fake):
    paypal_client = fake_client(fake)
    yield paypal_client
    paypal_client.close()
