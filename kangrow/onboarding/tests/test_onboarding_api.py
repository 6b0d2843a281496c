"""The onboarding checklist: five items, each done by the affiliate's real actions."""

import pytest
from django.core.cache import cache

from kangrow.accounts.tests.helpers import make_user
from kangrow.onboarding import api
from kangrow.onboarding.models import BriefRead, OnboardingProgress
from kangrow.payouts import api as payouts
from kangrow.programs import api as programs
from kangrow.programs.tests.factories import make_app, make_campaign
from kangrow.tracking import api as tracking

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def jane():
    programs.update_company_profile(name="Acme Software", mission="Calm.", goals="Grow.")
    make_app("invoicepro", name="InvoicePro")
    make_app("taskflow", name="TaskFlow")
    make_campaign("launch", app_slug="invoicepro", commission_bps=3000)
    make_campaign("vip", app_slug="invoicepro", commission_bps=4000, visibility="approval")
    make_campaign("flow", app_slug="taskflow", commission_bps=3500)
    return make_user("jane@example.com", first_name="Jane")


def _done(user) -> dict[str, bool]:  # type: ignore[no-untyped-def]
    user.refresh_from_db()
    return {item.key: item.done for item in api.get_checklist(user=user).items}


def test_a_new_affiliate_has_nothing_done_but_the_first_name(jane):
    checklist = api.get_checklist(user=jane)
    assert [(i.key, i.done) for i in checklist.items] == [
        ("profile", False),
        ("paypal", False),
        ("campaign", False),
        ("shared", False),
        ("briefs", False),
    ]
    assert (checklist.done_count, checklist.total, checklist.percent) == (0, 5, 0)
    assert checklist.completed is False
    assert OnboardingProgress.objects.count() == 0  # reading writes nothing


def test_each_item_follows_the_affiliates_actions_then_completion_is_stored(jane):
    # profile: first and last name
    jane.last_name = "Doe"
    jane.save()
    assert _done(jane)["profile"] is True
    # PayPal: an unconfirmed address is not enough; a confirmed one is
    payouts.request_paypal_email_change(user_id=jane.pk, email="jane-pp@example.com")
    assert _done(jane)["paypal"] is False
    payouts.set_confirmed_paypal_email(user_id=jane.pk, email="jane-pp@example.com")
    assert _done(jane)["paypal"] is True
    # first campaign: a pending request is not a campaign joined; an active one is
    programs.join_campaign(affiliate_id=jane.pk, campaign_slug="vip")
    assert _done(jane)["campaign"] is False
    programs.join_campaign(affiliate_id=jane.pk, campaign_slug="flow")
    assert _done(jane)["campaign"] is True
    # briefs: every joined app (invoicepro via the pending vip request, and taskflow)
    api.mark_brief_read(affiliate_id=jane.pk, app_slug="taskflow")
    assert _done(jane)["briefs"] is False
    api.mark_brief_read(affiliate_id=jane.pk, app_slug="invoicepro")
    assert _done(jane)["briefs"] is True
    # shared: a first click on one of her links counts
    token = programs.get_affiliate_enrollment(affiliate_id=jane.pk, campaign_slug="flow").token
    tracking.record_click(token=token, ip="203.0.113.9")
    checklist = api.get_checklist(user=jane)
    # then everything is done and the moment is stored
    assert checklist.completed is True
    assert checklist.done_count == 5
    progress = OnboardingProgress.objects.get(affiliate_id=jane.pk)
    assert progress.first_link_shared_at is not None and progress.completed_at is not None


def test_once_complete_the_checklist_costs_one_query(jane, django_assert_num_queries):
    OnboardingProgress.objects.create(affiliate_id=jane.pk, completed_at="2026-11-01T00:00:00Z")
    with django_assert_num_queries(1):
        checklist = api.get_checklist(user=jane)
    assert checklist.completed is True


def test_reading_a_brief_twice_writes_one_row(jane):
    assert api.mark_brief_read(affiliate_id=jane.pk, app_slug="invoicepro") is True
    assert api.mark_brief_read(affiliate_id=jane.pk, app_slug="invoicepro") is False
    assert BriefRead.objects.filter(affiliate_id=jane.pk).count() == 1


def test_unknown_apps_and_foreign_campaigns_are_refused_and_write_nothing(jane):
    with pytest.raises(api.OnboardingError) as unknown:
        api.mark_brief_read(affiliate_id=jane.pk, app_slug="nope\x00")
    with pytest.raises(api.OnboardingError) as foreign:
        api.record_link_shared(affiliate_id=jane.pk, campaign_slug="launch")
    assert (unknown.value.code, foreign.value.code) == ("unknown_app", "not_enrolled")
    assert BriefRead.objects.count() == 0
    assert OnboardingProgress.objects.count() == 0


def test_the_first_share_time_stays_the_first(jane):
    programs.join_campaign(affiliate_id=jane.pk, campaign_slug="launch")
    api.record_link_shared(affiliate_id=jane.pk, campaign_slug="launch")
    first = OnboardingProgress.objects.get(affiliate_id=jane.pk).first_link_shared_at
    api.record_link_shared(affiliate_id=jane.pk, campaign_slug="launch")
    assert OnboardingProgress.objects.get(affiliate_id=jane.pk).first_link_shared_at == first
    assert OnboardingProgress.objects.count() == 1


def test_overview_lists_joined_apps_first_with_read_marks(jane):
    programs.join_campaign(affiliate_id=jane.pk, campaign_slug="flow")
    api.mark_brief_read(affiliate_id=jane.pk, app_slug="taskflow")
    overview = api.get_overview(user=jane)
    assert overview.company.name == "Acme Software"
    assert [(b.app.slug, b.joined, b.read) for b in overview.briefs] == [
        ("taskflow", True, True),
        ("invoicepro", False, False),
    ]


def test_a_click_on_a_link_of_a_campaign_left_since_still_counts_as_shared(jane):
    # given jane's link was clicked, then she left the campaign
    e = programs.join_campaign(affiliate_id=jane.pk, campaign_slug="flow")
    tracking.record_click(token=e.token, ip="203.0.113.9")
    programs.leave_campaign(affiliate_id=jane.pk, campaign_slug="flow")
    # when her checklist is read, then "shared" is done and remembered
    assert _done(jane)["shared"] is True
    assert OnboardingProgress.objects.get(affiliate_id=jane.pk).first_link_shared_at is not None


def test_without_any_click_or_share_nothing_is_recorded(jane):
    programs.join_campaign(affiliate_id=jane.pk, campaign_slug="flow")
    assert _done(jane)["shared"] is False
    assert OnboardingProgress.objects.count() == 0
