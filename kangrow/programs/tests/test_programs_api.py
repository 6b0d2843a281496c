from functools import partial

import pytest
from django.db import IntegrityError, connection, transaction

from kangrow.core.testing import run_at_once
from kangrow.programs import api
from kangrow.programs.models import App, Campaign, Enrollment

from .factories import make_affiliate, make_app, make_campaign

# --- apps and campaigns ------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_new_app_gets_a_generated_standard_webhooks_secret_returned_once():
    app, created, secret = api.upsert_app(
        slug="invoicepro", fields={"name": "InvoicePro", "currency": "usd"}
    )
    assert created is True
    assert secret is not None and secret.startswith("whsec_")
    assert app.signing_secret == secret
    assert app.currency == "USD"

    again, created_again, secret_again = api.upsert_app(
        slug="invoicepro", fields={"name": "InvoicePro 2"}
    )
    assert (again.id, created_again, secret_again) == (app.id, False, None)
    assert App.objects.get().name == "InvoicePro 2"
    assert App.objects.get().signing_secret == secret


@pytest.mark.django_db
def test_the_database_refuses_a_recurring_campaign_below_30_percent():
    app = make_app()
    with pytest.raises(IntegrityError), transaction.atomic():
        Campaign.objects.create(app=app, slug="cheap", name="Cheap", commission_bps=2999)
    assert not Campaign.objects.exists()


@pytest.mark.django_db
def test_the_database_refuses_an_enrollment_rate_below_30_percent():
    make_app()
    campaign = make_campaign()
    jane = make_affiliate()
    ref = api.join_campaign(affiliate_id=jane.id, campaign_slug=campaign.slug)
    with pytest.raises(IntegrityError), transaction.atomic():
        Enrollment.objects.filter(id=ref.id).update(commission_bps_override=2500)
    assert Enrollment.objects.get(id=ref.id).commission_bps_override is None


@pytest.mark.django_db
def test_the_api_explains_the_30_percent_floor_and_writes_nothing():
    make_app()
    with pytest.raises(api.ProgramError) as exc:
        make_campaign("cheap", commission_bps=2000, recurring=True)
    assert (exc.value.code, exc.value.field, exc.value.message) == (
        "below_floor",
        "commission_bps",
        "recurring_campaigns pay at least 30%".replace("_", " "),
    )
    assert not Campaign.objects.exists()


@pytest.mark.django_db
def test_a_one_off_campaign_may_pay_less_than_30_percent():
    make_app()
    campaign = make_campaign("oneoff", commission_bps=1500, recurring=False)
    assert (campaign.commission_bps, campaign.recurring) == (1500, False)


@pytest.mark.django_db
def test_staff_rate_override_is_refused_below_the_floor():
    make_app()
    make_campaign()
    jane = make_affiliate()
    ref = api.join_campaign(affiliate_id=jane.id, campaign_slug="launch")
    with pytest.raises(api.ProgramError) as exc:
        api.set_enrollment_rate(enrollment_id=ref.id, commission_bps=2900)
    assert exc.value.code == "below_floor"
    assert Enrollment.objects.get(id=ref.id).commission_bps_override is None

    updated = api.set_enrollment_rate(enrollment_id=ref.id, commission_bps=4000)
    assert updated.terms.commission_bps == 4000


# --- joining -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_joining_an_open_campaign_is_immediate_with_a_readable_coupon_and_a_token():
    make_app()
    make_campaign(commission_bps=3000)
    jane = make_affiliate()

    ref = api.join_campaign(affiliate_id=jane.id, campaign_slug="launch")

    assert ref.status == "active"
    assert ref.coupon_code == "JANE30-INVOICEPRO"
    assert len(ref.token) >= 10
    assert ref.terms == api.Terms(
        commission_bps=3000, recurring=True, recurring_months=None, hold_days=30, cookie_days=60
    )
    assert api.join_campaign(affiliate_id=jane.id, campaign_slug="launch").id == ref.id
    assert Enrollment.objects.count() == 1


@pytest.mark.django_db
def test_an_approval_campaign_waits_for_staff():
    make_app()
    make_campaign("vip", visibility="approval")
    jane = make_affiliate()

    pending = api.join_campaign(affiliate_id=jane.id, campaign_slug="vip")
    assert pending.status == "pending"
    assert api.approve_enrollment(enrollment_id=pending.id).status == "active"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("flags", "code"),
    [
        ({"verified": False}, "not_verified"),
        ({"approved": False}, "not_approved"),
        ({"banned": True}, "not_allowed"),
        ({"blocked": True}, "not_allowed"),
    ],
)
def test_only_verified_approved_and_allowed_affiliates_may_join(flags, code):
    make_app()
    make_campaign()
    user = make_affiliate(**flags)
    with pytest.raises(api.ProgramError) as exc:
        api.join_campaign(affiliate_id=user.id, campaign_slug="launch")
    assert exc.value.code == code
    assert not Enrollment.objects.exists()


@pytest.mark.django_db
def test_a_paused_campaign_cannot_be_joined():
    make_app()
    make_campaign(status="paused")
    jane = make_affiliate()
    with pytest.raises(api.ProgramError) as exc:
        api.join_campaign(affiliate_id=jane.id, campaign_slug="launch")
    assert exc.value.code == "campaign_closed"
    assert not Enrollment.objects.exists()


@pytest.mark.django_db
def test_coupon_collisions_get_a_numeric_suffix_and_lookup_ignores_case():
    make_app()
    make_campaign()
    first = make_affiliate("jane@example.com")
    second = make_affiliate("jane.other@example.com")

    a = api.join_campaign(affiliate_id=first.id, campaign_slug="launch")
    b = api.join_campaign(affiliate_id=second.id, campaign_slug="launch")

    assert (a.coupon_code, b.coupon_code) == ("JANE30-INVOICEPRO", "JANE30-INVOICEPRO-2")
    assert api.get_enrollment_by_coupon(code="jane30-invoicepro-2").id == b.id
    assert api.get_enrollment_by_coupon(code="  Jane30-InvoicePro ").id == a.id
    assert api.get_enrollment_by_coupon(code="nope\x00") is None


@pytest.mark.django_db
def test_the_database_refuses_a_coupon_that_differs_only_in_case():
    make_app()
    make_campaign()
    jane = make_affiliate()
    other = make_affiliate("other@example.com", first_name="Other")
    ref = api.join_campaign(affiliate_id=jane.id, campaign_slug="launch")
    mine = api.join_campaign(affiliate_id=other.id, campaign_slug="launch")
    with pytest.raises(IntegrityError), transaction.atomic():
        Enrollment.objects.filter(id=mine.id).update(coupon_code=ref.coupon_code.lower())
    assert Enrollment.objects.get(id=mine.id).coupon_code == "OTHER30-INVOICEPRO"


@pytest.mark.django_db(transaction=True)
def test_concurrent_joins_of_same_named_affiliates_get_distinct_coupons():
    if connection.vendor != "postgresql":
        pytest.skip("real concurrent writers need PostgreSQL")
    make_app()
    make_campaign()
    users = [make_affiliate(f"jane{i}@example.com") for i in range(6)]
    outcomes = run_at_once(
        *[partial(api.join_campaign, affiliate_id=u.id, campaign_slug="launch") for u in users]
    )

    assert outcomes.errors == []
    codes = sorted(r.coupon_code for r in outcomes.values)
    assert codes == sorted(["JANE30-INVOICEPRO"] + [f"JANE30-INVOICEPRO-{n}" for n in range(2, 7)])
    assert Enrollment.objects.count() == 6


@pytest.mark.django_db
def test_leaving_and_rejoining_keeps_the_same_code_and_link():
    make_app()
    make_campaign()
    jane = make_affiliate()
    joined = api.join_campaign(affiliate_id=jane.id, campaign_slug="launch")

    left = api.leave_campaign(affiliate_id=jane.id, campaign_slug="launch")
    assert left.status == "left"
    back = api.join_campaign(affiliate_id=jane.id, campaign_slug="launch")
    assert (back.id, back.status, back.coupon_code, back.token) == (
        joined.id,
        "active",
        joined.coupon_code,
        joined.token,
    )


@pytest.mark.django_db
def test_a_rejected_enrollment_cannot_rejoin_by_itself():
    make_app()
    make_campaign("vip", visibility="approval")
    jane = make_affiliate()
    pending = api.join_campaign(affiliate_id=jane.id, campaign_slug="vip")
    api.reject_enrollment(enrollment_id=pending.id)
    with pytest.raises(api.ProgramError) as exc:
        api.join_campaign(affiliate_id=jane.id, campaign_slug="vip")
    assert exc.value.code == "rejected"
    assert Enrollment.objects.get().status == "rejected"


def test_coupon_base_is_ascii_upper_case():
    assert (
        api.coupon_base(first_name="Zoë-Ann", email="z@x.io", rate_bps=3500, app_slug="mail-pilot")
        == "ZOEANN35-MAIL-PILOT"
    )
    assert api.coupon_base(first_name=None, email="bob+x@x.io", rate_bps=3000, app_slug="a") == (
        "BOB30-A"
    )
    assert api.coupon_base(first_name="李", email="li.wei@x.io", rate_bps=3000, app_slug="a") == (
        "LIWEI30-A"
    )
    assert api.coupon_base(first_name="李", email="李@x.io", rate_bps=3000, app_slug="a") == (
        "PARTNER30-A"
    )
