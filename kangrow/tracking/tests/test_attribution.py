import hashlib
import hmac
import threading
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from kangrow.programs import api as programs
from kangrow.programs.tests.factories import make_affiliate, make_app, make_campaign
from kangrow.tracking import api
from kangrow.tracking.models import Click, Referral


@pytest.fixture
def setup(db):
    app = make_app("invoicepro")
    make_app("mailpilot")
    make_campaign("launch", app_slug="invoicepro", commission_bps=3000, cookie_days=30)
    make_campaign("vip", app_slug="invoicepro", commission_bps=4000, cookie_days=30)
    make_campaign("mail", app_slug="mailpilot", commission_bps=3500)
    jane = make_affiliate("jane@example.com", first_name="Jane")
    bob = make_affiliate("bob@example.com", first_name="Bob")
    jane_launch = programs.join_campaign(affiliate_id=jane.id, campaign_slug="launch")
    bob_vip = programs.join_campaign(affiliate_id=bob.id, campaign_slug="vip")
    jane_mail = programs.join_campaign(affiliate_id=jane.id, campaign_slug="mail")
    return {
        "app": app,
        "jane": jane,
        "bob": bob,
        "jane_launch": jane_launch,
        "bob_vip": bob_vip,
        "jane_mail": jane_mail,
    }


def click(enrollment, at):
    return api.record_click(token=enrollment.token, ip="203.0.113.9", clicked_at=at)


def test_a_coupon_attributes_and_beats_a_ref_token(setup):
    now = timezone.now()
    click(setup["bob_vip"], now - timedelta(days=1))

    referral = api.attribute_customer(
        app_id=setup["app"].id,
        customer_id="cus_1",
        email="Customer@Example.com",
        coupon="jane30-invoicepro",
        ref=setup["bob_vip"].token,
        occurred_at=now,
    )

    assert referral is not None
    assert (referral.enrollment_id, referral.affiliate_id, referral.attributed_by) == (
        setup["jane_launch"].id,
        setup["jane"].id,
        "coupon",
    )
    assert referral.customer_email_masked == "Cu***@Example.com"
    assert referral.terms == programs.Terms(
        commission_bps=3000, recurring=True, recurring_months=None, hold_days=30, cookie_days=30
    )
    assert (referral.status, referral.self_referral, referral.cancelled_at) == (
        "active",
        False,
        None,
    )


def test_a_ref_token_attributes_within_the_cookie_window(setup):
    now = timezone.now()
    click(setup["bob_vip"], now - timedelta(days=29))

    referral = api.attribute_customer(
        app_id=setup["app"].id, customer_id="cus_2", ref=setup["bob_vip"].token, occurred_at=now
    )

    assert referral is not None
    assert (referral.affiliate_id, referral.attributed_by, referral.terms.commission_bps) == (
        setup["bob"].id,
        "ref",
        4000,
    )


def test_a_ref_token_outside_the_cookie_window_does_not_attribute(setup):
    now = timezone.now()
    click(setup["bob_vip"], now - timedelta(days=31))

    result = api.attribute_customer(
        app_id=setup["app"].id, customer_id="cus_3", ref=setup["bob_vip"].token, occurred_at=now
    )

    assert result is None
    assert Referral.objects.count() == 0


def test_a_ref_token_without_any_click_does_not_attribute(setup):
    result = api.attribute_customer(
        app_id=setup["app"].id,
        customer_id="cus_4",
        ref=setup["bob_vip"].token,
        occurred_at=timezone.now(),
    )
    assert result is None
    assert Referral.objects.count() == 0


def test_a_coupon_of_another_app_does_not_attribute(setup):
    result = api.attribute_customer(
        app_id=setup["app"].id,
        customer_id="cus_5",
        coupon=setup["jane_mail"].coupon_code,
        occurred_at=timezone.now(),
    )
    assert result is None
    assert Referral.objects.count() == 0


def test_the_first_attribution_sticks_for_life(setup):
    now = timezone.now()
    first = api.attribute_customer(
        app_id=setup["app"].id, customer_id="cus_6", coupon="JANE30-INVOICEPRO", occurred_at=now
    )
    later = api.attribute_customer(
        app_id=setup["app"].id,
        customer_id="cus_6",
        coupon=setup["bob_vip"].coupon_code,
        occurred_at=now + timedelta(days=3),
    )
    assert later == first
    assert Referral.objects.count() == 1
    assert api.get_referral(app_id=setup["app"].id, customer_id="cus_6") == first
    assert api.get_referral_by_id(referral_id=first.id) == first


def test_terms_are_frozen_at_attribution(setup):
    now = timezone.now()
    first = api.attribute_customer(
        app_id=setup["app"].id, customer_id="cus_7", coupon="JANE30-INVOICEPRO", occurred_at=now
    )
    programs.set_enrollment_rate(enrollment_id=setup["jane_launch"].id, commission_bps=5000)
    programs.upsert_campaign(
        slug="launch", app_slug="invoicepro", fields={"hold_days": 60, "recurring_months": 6}
    )

    assert api.get_referral_by_id(referral_id=first.id).terms == first.terms
    second = api.attribute_customer(
        app_id=setup["app"].id, customer_id="cus_8", coupon="JANE30-INVOICEPRO", occurred_at=now
    )
    assert second.terms == programs.Terms(
        commission_bps=5000, recurring=True, recurring_months=6, hold_days=60, cookie_days=30
    )


def test_leaving_stops_new_attribution_but_existing_referrals_keep_their_terms(setup):
    now = timezone.now()
    kept = api.attribute_customer(
        app_id=setup["app"].id, customer_id="cus_9", coupon="JANE30-INVOICEPRO", occurred_at=now
    )
    click(setup["jane_launch"], now - timedelta(hours=1))

    programs.leave_campaign(affiliate_id=setup["jane"].id, campaign_slug="launch")

    by_coupon = api.attribute_customer(
        app_id=setup["app"].id, customer_id="cus_10", coupon="JANE30-INVOICEPRO", occurred_at=now
    )
    by_ref = api.attribute_customer(
        app_id=setup["app"].id,
        customer_id="cus_11",
        ref=setup["jane_launch"].token,
        occurred_at=now,
    )
    assert (by_coupon, by_ref) == (None, None)
    assert api.get_referral(app_id=setup["app"].id, customer_id="cus_9") == kept
    assert Referral.objects.count() == 1


@pytest.mark.parametrize(
    ("affiliate_email", "customer_email"),
    [
        ("jane@example.com", "JANE@EXAMPLE.COM"),
        ("jane@example.com", "jane+promo@example.com"),
        ("jane.doe@gmail.com", "janedoe@gmail.com"),
        ("janedoe@gmail.com", "J.A.N.E.D.O.E+x@googlemail.com"),
    ],
)
def test_self_referral_is_flagged_after_normalising_the_email(db, affiliate_email, customer_email):
    app = make_app()
    make_campaign()
    me = make_affiliate(affiliate_email, first_name="Jane")
    enrollment = programs.join_campaign(affiliate_id=me.id, campaign_slug="launch")

    referral = api.attribute_customer(
        app_id=app.id,
        customer_id="cus_me",
        email=customer_email,
        coupon=enrollment.coupon_code,
        occurred_at=timezone.now(),
    )

    assert referral.self_referral is True
    assert Referral.objects.get().self_referral is True


def test_dots_only_matter_outside_gmail(db):
    assert api.normalize_email("jane.doe@example.com") != api.normalize_email("janedoe@example.com")
    assert api.normalize_email("Jane.Doe+x@GMail.com") == "janedoe@gmail.com"


def test_cancel_referral_is_idempotent_and_reports_who_cancelled(setup):
    now = timezone.now()
    referral = api.attribute_customer(
        app_id=setup["app"].id, customer_id="cus_12", coupon="JANE30-INVOICEPRO", occurred_at=now
    )

    cancelled, first = api.cancel_referral(referral_id=referral.id, cancelled_at=now)
    again, second = api.cancel_referral(
        referral_id=referral.id, cancelled_at=now + timedelta(days=1)
    )

    assert (first, second) == (True, False)
    assert (cancelled.status, cancelled.cancelled_at) == ("cancelled", now)
    assert again == cancelled


def test_bad_input_is_refused_and_writes_nothing(setup):
    for kwargs in (
        {"customer_id": ""},
        {"customer_id": "cus\x00"},
        {"customer_id": "x" * 256},
        {"customer_id": "ok", "coupon": "JANE\x0030"},
    ):
        with pytest.raises(api.TrackingError):
            api.attribute_customer(app_id=setup["app"].id, occurred_at=timezone.now(), **kwargs)
    assert Referral.objects.count() == 0


def test_the_database_keeps_one_referral_per_app_customer(setup):
    now = timezone.now()
    referral = api.attribute_customer(
        app_id=setup["app"].id, customer_id="cus_13", coupon="JANE30-INVOICEPRO", occurred_at=now
    )
    row = Referral.objects.get(id=referral.id)
    columns = {
        f.attname: getattr(row, f.attname)
        for f in Referral._meta.concrete_fields
        if f.attname != "id"
    }
    with pytest.raises(IntegrityError), transaction.atomic():
        Referral.objects.create(**columns)
    assert Referral.objects.count() == 1
    assert Click.objects.count() == 0


def test_the_ip_hash_uses_the_configured_salt(settings):
    settings.KANGROW_IP_HASH_SALT = ""
    derived = api.hash_ip("203.0.113.9")
    settings.KANGROW_IP_HASH_SALT = "another-secret-salt"
    salted = api.hash_ip("203.0.113.9")
    assert len(derived) == len(salted) == 64
    assert derived != salted
    assert api.hash_ip("203.0.113.9") == salted
    assert api.hash_ip("") == ""
    # plain HMAC-SHA256 of the address (rows stored before stay comparable), the keyed state
    # reused without carrying one click's address into the next
    expected = hmac.new(b"another-secret-salt", b"203.0.113.10", hashlib.sha256).hexdigest()
    assert api.hash_ip("203.0.113.10") == expected != salted
    assert api.hash_ip("203.0.113.9") == salted


@pytest.mark.django_db(transaction=True)
def test_concurrent_first_attributions_of_one_customer_make_one_referral():
    if connection.vendor != "postgresql":
        pytest.skip("real concurrent writers need PostgreSQL")
    app = make_app()
    make_campaign()
    coupons = []
    for name in ("ann", "ben", "cat", "dan"):
        user = make_affiliate(f"{name}@example.com", first_name=name)
        coupons.append(programs.join_campaign(affiliate_id=user.id, campaign_slug="launch"))
    barrier = threading.Barrier(len(coupons))
    results, errors = [], []

    def attribute(code):
        try:
            barrier.wait()
            results.append(
                api.attribute_customer(
                    app_id=app.id, customer_id="cus_race", coupon=code, occurred_at=timezone.now()
                )
            )
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=attribute, args=(e.coupon_code,)) for e in coupons]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    assert Referral.objects.count() == 1
    assert {r.id for r in results} == {Referral.objects.get().id}
