"""The campaign catalog: terms in words, the app filter (HTMX partial), join and leave."""

import pytest
from django.core.cache import cache

from kangrow.programs import api as programs
from kangrow.programs.models import Enrollment
from kangrow.programs.tests.factories import make_campaign

from .portal_fixtures import client_for, make_person, make_programs

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def jane():
    make_programs()
    return make_person("approved")


def test_catalog_lists_every_active_campaign_with_its_terms(jane):
    # given a paused campaign and an ended one besides the three active ones
    make_campaign("paused", app_slug="taskflow", status="paused")
    make_campaign("over", app_slug="taskflow", status="ended")
    # when jane opens the catalog
    response = client_for(jane).get("/campaigns/")
    # then she sees the three active campaigns with rate, recurrence, discount, cookie, hold
    html = response.content.decode()
    assert response.status_code == 200
    assert [c.slug for c in response.context["cards"]] == ["launch", "vip", "flow"]
    launch = response.context["cards"][0]
    assert (launch.terms, launch.discount, launch.cookie_days, launch.hold_days) == (
        "30% for 12 months",
        "20%",
        60,
        30,
    )
    assert response.context["cards"][2].terms == "35% for life"
    assert "30% for 12 months" in html and "20% off with your code" in html
    assert "by approval" in html and "Request to join" in html
    assert "paused" not in [c.slug for c in response.context["cards"]]


def test_one_time_campaigns_say_so(jane):
    make_campaign("once", app_slug="taskflow", commission_bps=2000, recurring=False)
    response = client_for(jane).get("/campaigns/?app=taskflow")
    assert [c.terms for c in response.context["cards"]] == ["35% for life", "20% one-time"]


def test_the_app_filter_answers_an_htmx_partial(jane):
    # when the filter select asks for one app's campaigns through HTMX
    response = client_for(jane).get(
        "/campaigns/?app=taskflow", HTTP_HX_TARGET="campaign-list", **HTMX
    )
    # then only the list comes back, with that app's campaigns
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="campaign-list"')
    assert "<html" not in html
    assert [c.slug for c in response.context["cards"]] == ["flow"]


def test_join_in_one_click_swaps_the_card_and_shows_the_code(jane):
    # when jane joins an open campaign through HTMX
    response = client_for(jane).post("/campaigns/launch/join", **HTMX)
    # then the enrollment is active and the card shows her code
    e = Enrollment.objects.get(affiliate=jane, campaign__slug="launch")
    assert e.status == "active"
    assert e.coupon_code == "JANE30-INVOICEPRO"
    html = response.content.decode()
    assert 'id="card-launch"' in html
    assert "JANE30-INVOICEPRO" in html
    assert 'hx-swap-oob="true"' in html  # the progress bar refreshes too


def test_join_without_javascript_redirects_to_the_enrollment_page(jane):
    response = client_for(jane).post("/campaigns/flow/join")
    assert response.status_code == 302
    assert response["Location"] == "/campaigns/flow/"
    assert Enrollment.objects.get(affiliate=jane).status == "active"


def test_joining_twice_keeps_one_enrollment(jane):
    client = client_for(jane)
    client.post("/campaigns/launch/join", **HTMX)
    client.post("/campaigns/launch/join", **HTMX)
    assert Enrollment.objects.filter(affiliate=jane).count() == 1


def test_approval_campaigns_take_a_request(jane):
    response = client_for(jane).post("/campaigns/vip/join", **HTMX)
    assert Enrollment.objects.get(affiliate=jane, campaign__slug="vip").status == "pending"
    assert "waiting for staff approval" in response.content.decode()


def test_a_declined_request_shows_the_reason_on_the_card_and_writes_nothing(jane):
    # given jane's request to vip was rejected
    e = programs.join_campaign(affiliate_id=jane.pk, campaign_slug="vip")
    programs.reject_enrollment(enrollment_id=e.id)
    before = list(Enrollment.objects.values_list("id", "status", "updated_at"))
    # when she tries to join again
    response = client_for(jane).post("/campaigns/vip/join", **HTMX)
    # then the card says why and nothing changed
    assert "Your request to join this campaign was declined." in response.content.decode()
    assert list(Enrollment.objects.values_list("id", "status", "updated_at")) == before


def test_leave_asks_for_confirmation_then_leaves(jane):
    # given jane in launch
    programs.join_campaign(affiliate_id=jane.pk, campaign_slug="launch")
    client = client_for(jane)
    # when she opens "leave", nothing changes yet
    page = client.get("/campaigns/launch/leave")
    assert page.status_code == 200
    assert "Yes, leave the campaign" in page.content.decode()
    assert Enrollment.objects.get(affiliate=jane).status == "active"
    # when she confirms
    response = client.post("/campaigns/launch/leave")
    # then the enrollment is left, and the catalog offers to join again with the same code
    assert response.status_code == 302
    e = Enrollment.objects.get(affiliate=jane)
    assert (e.status, e.left_at is not None) == ("left", True)
    catalog = client.get("/campaigns/").content.decode()
    assert "Join again" in catalog
    client.post("/campaigns/launch/join")
    e.refresh_from_db()
    assert (e.status, e.coupon_code) == ("active", "JANE30-INVOICEPRO")


def test_catalog_queries_do_not_grow_with_the_number_of_campaigns(
    jane, django_assert_max_num_queries
):
    # given jane enrolled in two campaigns and twelve more campaigns in the catalog
    programs.join_campaign(affiliate_id=jane.pk, campaign_slug="launch")
    programs.join_campaign(affiliate_id=jane.pk, campaign_slug="flow")
    for n in range(12):
        make_campaign(f"extra-{n}", app_slug="taskflow", commission_bps=3000 + n)
    client = client_for(jane)
    client.get("/campaigns/")  # warm the session
    # when she opens the catalog, then a fixed handful of queries answers it
    with django_assert_max_num_queries(12):
        response = client.get("/campaigns/")
    assert len(response.context["cards"]) == 15


def test_joining_a_campaign_closed_meanwhile_reloads_the_catalog_with_the_reason(jane):
    # given the campaign was paused after jane loaded the catalog
    make_campaign("flow", app_slug="taskflow", commission_bps=3500, status="paused")
    client = client_for(jane)
    # when her HTMX join arrives
    response = client.post("/campaigns/flow/join", **HTMX)
    # then htmx is told to reload the page, the reason waits as a message, nothing is written
    assert (response.status_code, response["HX-Refresh"]) == (204, "true")
    assert Enrollment.objects.count() == 0
    page = client.get("/campaigns/").content.decode()
    assert "This campaign is not open for joining." in page
