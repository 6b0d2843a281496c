"""Onboarding pages: the company and app briefs, "I've read this", and the progress bar that
every page shows to affiliates until the checklist is complete."""

import pytest
from django.core.cache import cache

from kangrow.onboarding.models import BriefRead, OnboardingProgress
from kangrow.programs import api as programs

from .portal_fixtures import client_for, make_person, make_programs

pytestmark = pytest.mark.django_db
BAR = 'aria-label="Onboarding progress"'


@pytest.fixture(autouse=True)
def _world():
    cache.clear()
    make_programs()
    yield
    cache.clear()


@pytest.mark.parametrize("path", ["/onboarding/", "/accounts/settings", "/campaigns/"])
def test_affiliates_see_their_progress_on_every_page(path):
    client = client_for(make_person("approved"))
    html = client.get(path).content.decode()
    assert BAR in html
    assert '<strong data-testid="onboarding-count">0 of 5</strong>' in html
    assert '<progress max="5" value="0"' in html


def test_the_waiting_page_links_to_the_briefs_and_shows_progress():
    client = client_for(make_person("unapproved"))
    html = client.get("/onboarding/waiting").content.decode()
    assert 'href="/onboarding/"' in html
    assert BAR in html


def test_staff_and_anonymous_visitors_see_no_progress_bar():
    staff = client_for(make_person("staff")).get("/onboarding/").content.decode()
    anonymous = client_for(None).get("/").content.decode()
    assert BAR not in staff and BAR not in anonymous


def test_unapproved_affiliates_read_the_company_and_briefs_but_are_not_offered_to_join():
    client = client_for(make_person("unapproved"))
    page = client.get("/onboarding/").content.decode()
    brief = client.get("/onboarding/apps/invoicepro/").content.decode()
    assert "Make small businesses calm." in page and "Grow to 10k customers." in page
    assert 'href="/onboarding/apps/invoicepro/"' in page
    assert "Join your first campaign" in page
    assert '<a href="/campaigns/">Join your first campaign</a>' not in page
    assert "You can join campaigns once an admin approves you." in page
    for text in (
        "Invoices in one minute.",
        "Freelancers.",
        "Send invoices that get paid twice as fast.",
        "$19/month.",
        "Automatic reminders.",
        "Do not promise tax advice.",
        "I've read this",
    ):
        assert text in brief


def test_ive_read_this_marks_the_brief_and_refreshes_the_progress_bar():
    # given jane in a taskflow campaign
    jane = make_person("approved")
    programs.join_campaign(affiliate_id=jane.pk, campaign_slug="flow")
    client = client_for(jane)
    assert "1 of 5" in client.get("/onboarding/").content.decode()
    # when she marks the TaskFlow brief read through HTMX
    response = client.post("/onboarding/apps/taskflow/read", HTTP_HX_REQUEST="true")
    # then it is stored, the button becomes a "Read" status and the bar says 2 of 5
    html = response.content.decode()
    assert BriefRead.objects.filter(affiliate_id=jane.pk).count() == 1
    assert "✔ Read." in html
    assert 'id="onboarding-progress" hx-swap-oob="true"' in html
    assert "2 of 5" in html
    assert "read" in client.get("/onboarding/").content.decode()


def test_marking_read_without_javascript_redirects_back():
    jane = make_person("approved")
    response = client_for(jane).post("/onboarding/apps/taskflow/read")
    assert (response.status_code, response["Location"]) == (302, "/onboarding/")
    assert BriefRead.objects.filter(affiliate_id=jane.pk).count() == 1


def test_a_completed_onboarding_hides_the_bar_and_says_so():
    jane = make_person("approved")
    OnboardingProgress.objects.create(affiliate_id=jane.pk, completed_at="2026-11-01T00:00:00Z")
    client = client_for(jane)
    assert BAR not in client.get("/campaigns/").content.decode()
    assert "All done." in client.get("/onboarding/").content.decode()


def test_onboarding_page_queries_stay_fixed(django_assert_max_num_queries):
    jane = make_person("approved")
    for slug in ("launch", "flow"):
        programs.join_campaign(affiliate_id=jane.pk, campaign_slug=slug)
    client = client_for(jane)
    client.get("/onboarding/")
    with django_assert_max_num_queries(12):
        client.get("/onboarding/")


def test_each_open_checklist_item_links_to_where_it_is_done():
    html = client_for(make_person("approved")).get("/onboarding/").content.decode()
    assert '<a href="/accounts/settings">Complete your profile' in html
    assert '<a href="/payouts/settings">Set and confirm your PayPal email</a>' in html
    assert '<a href="/campaigns/">Join your first campaign</a>' in html
    assert '<a href="/campaigns/">Share your first link</a>' in html
    assert '<a href="#briefs-title">Read the brief of every app you promote</a>' in html
