from io import StringIO

import pytest

from kangrow.accounts import demo as accounts_demo
from kangrow.programs import demo as programs_demo
from kangrow.programs.models import App, Campaign, CompanyProfile, Enrollment
from kangrow.tracking import demo as tracking_demo
from kangrow.tracking.models import Click, Referral


def load_all():
    out = StringIO()
    for module in (accounts_demo, programs_demo, tracking_demo):
        module.load(out)
    return out.getvalue()


def counts():
    return tuple(
        m.objects.count() for m in (CompanyProfile, App, Campaign, Enrollment, Click, Referral)
    )


@pytest.mark.django_db
def test_demo_programs_and_tracking_load_twice_without_doubling():
    load_all()
    first = counts()
    output = load_all()

    assert counts() == first == (1, 3, 6, 7, 360, 21)
    assert "360 demo clicks and 21 demo referrals ready." in output
    assert Enrollment.objects.filter(status="active").count() == 7
    assert Referral.objects.filter(attributed_by="ref").count() == 7


@pytest.mark.django_db
def test_demo_skips_enrollments_when_the_demo_affiliate_is_absent():
    out = StringIO()
    programs_demo.load(out)
    tracking_demo.load(out)
    assert "Skipping enrollments of affiliate@kangrow.local: no such user." in out.getvalue()
    assert Enrollment.objects.count() == 3  # the second demo affiliate's
