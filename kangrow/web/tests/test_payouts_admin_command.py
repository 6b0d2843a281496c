"""Payout runs from /admin (preview, then confirm), from `manage.py run_payouts`, and the demo."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from kangrow.accounts.models import User
from kangrow.integrations.paypal.fake import FakePayPal
from kangrow.ledger import api as ledger_api
from kangrow.payouts import api
from kangrow.payouts.models import PayoutBatch, PayoutItem, PayoutRun
from kangrow.payouts.tests.helpers import affiliate, earn, world
from kangrow.web.admin.testing import log_in

pytestmark = pytest.mark.django_db

RUN = "/admin/payouts/payoutrun/run/"


@pytest.fixture
def fake(settings):
    with FakePayPal(hang_seconds=1.0, deliver_webhooks=False) as server:
        settings.PAYPAL_API_BASE = server.base_url
        settings.PAYPAL_CLIENT_ID = server.client_id
        settings.PAYPAL_CLIENT_SECRET = server.client_secret
        yield server


def two_affiliates():
    w = world()
    jane = affiliate(w, "jane@example.com")
    bob = affiliate(w, "bob@example.com")
    earn(w, jane, 12345)
    earn(w, bob, 10000)
    earn(w, bob, 5000, currency="EUR")  # below the minimum: not in the run
    return jane, bob


def test_admin_preview_shows_who_how_much_and_totals_then_confirm_pays(staff_client, fake):
    two_affiliates()
    body = staff_client.get(RUN).content.decode()
    assert "jane@example.com" in body and "123.45 USD" in body
    assert "bob@example.com" in body and "100.00 USD" in body
    assert "<strong>Total:</strong> 223.45 USD (2 payouts)" in body
    assert "50.00 EUR" not in body
    assert PayoutRun.objects.count() == 0  # the preview writes nothing
    response = staff_client.post(RUN)
    assert response.status_code == 302
    run = PayoutRun.objects.get()
    assert (run.source, run.started_by_id, run.item_count, run.totals) == (
        "admin",
        staff_client.staff.id,
        2,
        {"USD": 22345},
    )
    assert PayoutBatch.objects.get().status == "submitted"
    assert len(fake.batches) == 1


def test_affiliate_cannot_reach_the_run_view(client, fake):
    jane, _ = two_affiliates()
    log_in(client, jane)
    for response in (client.get(RUN), client.post(RUN)):
        assert (response.status_code, response["Location"]) == (302, f"/admin/login/?next={RUN}")
    assert PayoutRun.objects.count() == 0 and fake.requests == []


def test_anonymous_is_sent_to_log_in(client):
    response = client.post(RUN)
    assert response.status_code == 302
    assert PayoutRun.objects.count() == 0


def test_run_payouts_command_prints_a_summary_and_is_safe_to_repeat(fake):
    jane, bob = two_affiliates()
    out = StringIO()
    call_command("run_payouts", stdout=out)
    run = PayoutRun.objects.get()
    assert f"Payout run {run.id}: 2 item(s), 223.45 USD." in out.getvalue()
    assert "batch " in out.getvalue() and ": submitted" in out.getvalue()
    # settle at PayPal, then a second run with --sync pays nobody twice
    fake.settle(PayoutBatch.objects.get().payout_batch_id)
    out = StringIO()
    call_command("run_payouts", "--sync", stdout=out)
    assert "Nobody is eligible for a payout now." in out.getvalue()
    assert "Synced with PayPal: cancelled_unclaimed 0, paid 2" in out.getvalue()
    assert PayoutItem.objects.count() == 2
    assert [b.paid for b in ledger_api.get_balances(affiliate_id=jane.id)] == [12345]


def test_run_payouts_preview_changes_nothing():
    two_affiliates()
    out = StringIO()
    call_command("run_payouts", "--preview", stdout=out)
    assert "Would pay 2 item(s): 223.45 USD." in out.getvalue()
    assert PayoutRun.objects.count() == 0


def test_run_payouts_without_paypal_credentials_fails_clearly(settings):
    settings.PAYPAL_CLIENT_ID = ""
    with pytest.raises(Exception) as exc:
        call_command("run_payouts", stdout=StringIO())
    assert "PayPal is not configured" in str(exc.value)
    assert PayoutRun.objects.count() == 0


def _assert_demo_paid(user):
    items = list(PayoutItem.objects.filter(affiliate_id=user.id))
    assert items and {(i.state, i.transaction_status) for i in items} == {("paid", "SUCCESS")}
    balances = {b.currency: b for b in ledger_api.get_balances(affiliate_id=user.id)}
    for item in items:
        assert balances[item.currency].paid == item.amount
        assert balances[item.currency].in_payout == 0
    # one more invoice after the payout leaves money towards the minimum for the page to show
    assert any(0 < b.available < 10000 for b in balances.values())
    return items


def test_demo_gives_the_demo_affiliate_a_paypal_email_and_one_payout():
    call_command("demo", stdout=StringIO())
    call_command("demo", stdout=StringIO())
    user = User.objects.get(email="affiliate@kangrow.local")
    paypal_view = api.get_paypal_email(user_id=user.id)
    assert (paypal_view.email, paypal_view.confirmed) == ("affiliate-paypal@kangrow.local", True)
    items = _assert_demo_paid(user)
    assert PayoutBatch.objects.get().payout_batch_id.startswith("DEMO")
    assert len({i.batch_id for i in items}) == 1


def test_demo_pays_through_the_fake_paypal_when_pointed_at_it(fake):
    call_command("demo", stdout=StringIO())
    out = StringIO()
    call_command("demo", stdout=out)  # idempotent: nothing new the second time
    assert "Demo payouts already there" in out.getvalue()
    user = User.objects.get(email="affiliate@kangrow.local")
    items = _assert_demo_paid(user)
    paid = {
        (i.receiver, i.currency, i.value)
        for i in fake.items.values()
        if i.transaction_status == "SUCCESS"
    }
    for item in items:
        value = f"{item.amount // 100}.{item.amount % 100:02d}"
        assert ("affiliate-paypal@kangrow.local", item.currency, value) in paid
    assert len(fake.batches) == 1


class _Terminal(StringIO):
    def isatty(self) -> bool:
        return True


def test_run_payouts_shows_a_progress_bar_on_a_terminal_only(fake, monkeypatch):
    two_affiliates()
    monkeypatch.setattr(api, "MAX_BATCH_ITEMS", 1)  # two batches
    out = _Terminal()
    call_command("run_payouts", stdout=out)
    assert "\rSubmitting batches [###############---------------] 1/2" in out.getvalue()
    assert "\rSubmitting batches [##############################] 2/2" in out.getvalue()
    assert len(fake.batches) == 2
    # not a terminal: no bar, only the summary
    plain = StringIO()
    call_command("run_payouts", stdout=plain)
    assert "Submitting batches" not in plain.getvalue()


def test_with_a_worker_the_admin_run_is_queued_not_run_in_the_request(staff_client, fake):
    from kangrow.payouts import tasks

    two_affiliates()
    celery_app = tasks.run_from_admin.app
    celery_app.conf.task_always_eager = False
    try:
        response = staff_client.post(RUN, follow=True)
        with celery_app.connection_for_read() as connection:
            queue = connection.SimpleQueue("celery")
            message = queue.get(timeout=2)
            message.ack()
            queue.close()
    finally:
        celery_app.conf.task_always_eager = True
    assert "Payout run started in the background" in response.content.decode()
    assert message.headers["task"] == "payouts.run_from_admin"
    assert message.headers["argsrepr"] == repr((str(staff_client.staff.id),))
    assert PayoutRun.objects.count() == 0 and fake.requests == []
    # and the task itself runs the payout as the staff member
    assert tasks.run_from_admin(str(staff_client.staff.id)) == 2
    assert PayoutRun.objects.get().started_by_id == staff_client.staff.id
