"""The ledger's demo data: money in every state, through the real event path, idempotent."""

from io import StringIO

import pytest
from django.core.management import call_command

from kangrow.accounts import api as accounts_api
from kangrow.ledger import api as ledger_api
from kangrow.ledger.models import Commission, LedgerEntry, PaymentEvent
from kangrow.notifications.models import Notification

pytestmark = pytest.mark.django_db


def test_demo_money_shows_pending_payable_a_refund_and_a_cancellation():
    # when the demo is loaded twice
    call_command("demo", stdout=StringIO())
    counts = (PaymentEvent.objects.count(), Commission.objects.count(), LedgerEntry.objects.count())
    call_command("demo", stdout=StringIO())
    # then nothing doubled
    assert (
        PaymentEvent.objects.count(),
        Commission.objects.count(),
        LedgerEntry.objects.count(),
    ) == counts
    # and every event was applied, with money in each state
    assert set(PaymentEvent.objects.values_list("status", flat=True)) == {"processed"}
    assert PaymentEvent.objects.filter(source="demo", outcome="refund_reversed").count() == 1
    assert PaymentEvent.objects.filter(source="demo", outcome="referral_cancelled").count() == 1
    assert Notification.objects.filter(kind="referral.cancelled").count() == 1
    statuses = set(Commission.objects.values_list("status", flat=True))
    assert {"pending", "payable"} <= statuses
    maria = accounts_api.get_user_by_email(email="maria@kangrow.local")
    balances = ledger_api.get_balances(affiliate_id=maria.id)
    assert any(b.pending > 0 for b in balances)
    assert any(b.payable > 0 for b in balances)
