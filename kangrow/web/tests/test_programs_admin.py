"""The programs and tracking admin: pages render, saves go through the api, secrets stay masked."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.utils import timezone

from kangrow.programs import api
from kangrow.programs.models import App, Campaign, Enrollment
from kangrow.programs.tests.factories import make_affiliate, make_app, make_campaign
from kangrow.tracking import api as tracking

pytestmark = pytest.mark.django_db


@pytest.fixture
def programme():
    app = make_app()
    make_campaign(visibility="approval")
    jane = make_affiliate()
    enrollment = api.join_campaign(affiliate_id=jane.id, campaign_slug="launch")
    tracking.record_click(token=enrollment.token, ip="203.0.113.1")
    api.approve_enrollment(enrollment_id=enrollment.id)
    tracking.record_click(token=enrollment.token, ip="203.0.113.1")
    tracking.attribute_customer(
        app_id=app.id,
        customer_id="cus_1",
        email="buyer@example.com",
        coupon=enrollment.coupon_code,
        occurred_at=timezone.now(),
    )
    return app, enrollment


@pytest.mark.parametrize(
    "path",
    [
        "/admin/programs/companyprofile/",
        "/admin/programs/app/",
        "/admin/programs/app/add/",
        "/admin/programs/campaign/",
        "/admin/programs/campaign/add/",
        "/admin/programs/enrollment/",
        "/admin/tracking/click/",
        "/admin/tracking/referral/",
        "/admin/programs/campaign/?status__exact=active&q=launch",
        "/admin/programs/enrollment/?status__exact=active&q=jane",
        "/admin/tracking/referral/?self_referral__exact=0&q=cus_1",
    ],
)
def test_every_list_and_form_renders_for_staff(staff_client, programme, path):
    assert staff_client.get(path).status_code == 200


def test_the_signing_secret_is_masked_on_the_app_pages(staff_client, programme):
    app, _ = programme
    for path in ("/admin/programs/app/", f"/admin/programs/app/{app.id}/change/"):
        html = staff_client.get(path).content.decode()
        assert app.signing_secret not in html
        assert f"…{app.signing_secret[-4:]}" in html


def test_the_referral_email_is_masked(staff_client, programme):
    html = staff_client.get("/admin/tracking/referral/").content.decode()
    assert "buyer@example.com" not in html
    assert "bu***@example.com" in html


def test_adding_an_app_shows_its_generated_secret_once(staff_client):
    response = staff_client.post(
        "/admin/programs/app/add/",
        {
            "name": "MailPilot",
            "slug": "mailpilot",
            "currency": "EUR",
            "is_active": "on",
            "site_url": "https://mailpilot.example/",
        },
        follow=True,
    )
    app = App.objects.get()
    assert (app.slug, app.currency) == ("mailpilot", "EUR")
    assert app.signing_secret.startswith("whsec_")
    assert app.signing_secret in response.content.decode()
    assert app.signing_secret not in staff_client.get("/admin/programs/app/").content.decode()


def test_a_recurring_campaign_below_30_percent_gets_a_form_error(staff_client, programme):
    app, _ = programme
    response = staff_client.post(
        "/admin/programs/campaign/add/",
        {
            "app": str(app.id),
            "slug": "cheap",
            "name": "Cheap",
            "commission_bps": "2000",
            "recurring": "on",
            "cookie_days": "60",
            "hold_days": "30",
            "status": "active",
            "visibility": "open",
        },
    )
    assert response.status_code == 200
    assert "recurring campaigns pay at least 30%" in response.content.decode()
    assert not Campaign.objects.filter(slug="cheap").exists()


def test_staff_approve_pending_enrollments_with_an_action(staff_client):
    make_app()
    make_campaign(visibility="approval")
    jane = make_affiliate()
    pending = api.join_campaign(affiliate_id=jane.id, campaign_slug="launch")

    staff_client.post(
        "/admin/programs/enrollment/",
        {"action": "approve", ACTION_CHECKBOX_NAME: [str(pending.id)]},
    )

    assert Enrollment.objects.get().status == "active"


def test_staff_rate_below_the_floor_is_refused_in_the_form(staff_client, programme):
    _, enrollment = programme
    response = staff_client.post(
        f"/admin/programs/enrollment/{enrollment.id}/change/", {"commission_bps_override": "2500"}
    )
    assert response.status_code == 200
    assert "An enrollment rate must be between 30% and 100%." in response.content.decode()
    assert Enrollment.objects.get().commission_bps_override is None

    staff_client.post(
        f"/admin/programs/enrollment/{enrollment.id}/change/", {"commission_bps_override": "4500"}
    )
    assert Enrollment.objects.get().commission_bps_override == 4500
