"""manage.py reconcile_commission_nets: finds commissions whose stored reversed_amount differs
from their refund rows (e.g. refunds written by the previous release during a rollout) and, with
--repair, rewrites them from the ledger."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from kangrow.ledger import api as ledger_api
from kangrow.ledger.models import Commission
from kangrow.ledger.tests.helpers import apply, build_world, paid


@pytest.mark.django_db
def test_a_stale_reversed_amount_is_reported_then_repaired_from_the_ledger():
    # given two refunded commissions whose reversed_amount a previous release never wrote, and
    # one that is right
    w = build_world()
    code = w.enrollment.coupon_code
    for n in (1, 2, 3):
        paid(w, f"in_{n}", 10000, coupon=code, customer_id=f"cus_{n}")
        apply(
            w,
            "invoice.refunded",
            invoice_id=f"in_{n}",
            customer_id=f"cus_{n}",
            amount=4000,
            currency="USD",
        )
    right = Commission.objects.get(invoice_id="in_3")
    assert right.reversed_amount == 1200  # 30 % of the 4,000 refunded
    Commission.objects.exclude(pk=right.pk).update(reversed_amount=0)
    # when the check runs, it fails and names them
    with pytest.raises(CommandError, match="2 commission"):
        call_command("reconcile_commission_nets")
    # and --repair rewrites exactly those two from their ledger rows
    out = StringIO()
    call_command("reconcile_commission_nets", "--repair", stdout=out)
    assert "2 commission(s) repaired" in out.getvalue()
    assert set(Commission.objects.values_list("reversed_amount", flat=True)) == {1200}
    assert ledger_api.reconcile_commission_nets() == []
    out = StringIO()
    call_command("reconcile_commission_nets", stdout=out)
    assert "matches" in out.getvalue()
    # a repeat repairs nothing
    assert ledger_api.repair_commission_nets() == []
