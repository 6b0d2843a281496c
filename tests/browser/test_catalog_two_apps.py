"""Joining two campaigns of two apps in a real browser gives two different coupon codes; the
catalog's app filter updates the list in place (HTMX)."""

import re

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from kangrow.accounts.tests.helpers import PASSWORD, make_user
from kangrow.programs.models import Enrollment
from kangrow.web.tests.portal_fixtures import make_programs

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_join_two_campaigns_of_two_apps_and_see_two_codes(page, live_server):
    # Given two apps with campaigns, and Jane, an approved affiliate
    cache.clear()
    make_programs()
    make_user("jane@example.com", first_name="Jane")
    page.goto("/accounts/log-in")
    page.get_by_label("Email", exact=True).fill("jane@example.com")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log in", exact=True).click()

    # When she opens the catalog and filters it to TaskFlow
    page.goto("/campaigns/")
    expect(page.locator(".campaign-card")).to_have_count(3)
    page.get_by_label("App").select_option(label="TaskFlow")
    # Then the list alone is replaced and the URL follows the filter
    expect(page.locator(".campaign-card")).to_have_count(1)
    expect(page).to_have_url(re.compile(r"/campaigns/\?app=taskflow$"))
    expect(page.locator("#card-flow")).to_contain_text("35% for life")

    # When she joins TaskFlow's campaign, then InvoicePro's, each in one click
    page.get_by_role("button", name="Join TaskFlow Flow").click()
    expect(page.locator("#card-flow")).to_contain_text("JANE35-TASKFLOW")
    page.get_by_label("App").select_option(label="All apps")
    expect(page.locator(".campaign-card")).to_have_count(3)
    page.get_by_role("button", name="Join InvoicePro Launch").click()
    expect(page.locator("#card-launch")).to_contain_text("JANE30-INVOICEPRO")

    # Then each enrollment page shows its own code and link, QR code and banners
    codes = {}
    for slug in ("flow", "launch"):
        page.goto(f"/campaigns/{slug}/")
        codes[slug] = page.get_by_label("Coupon code", exact=True).input_value()
        link = page.get_by_label("Tracking link", exact=True).input_value()
        assert link.startswith(f"{live_server.url}/r/")
        expect(page.get_by_role("img", name="QR code of your tracking link")).to_be_visible()
        banner = page.get_by_role("img", name=re.compile(r"banner 300x250"))
        banner.scroll_into_view_if_needed()  # banners load lazily
        expect(banner).to_be_visible()
        page.wait_for_function(
            "img => img.complete && img.naturalWidth > 0", arg=banner.element_handle()
        )
        assert banner.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [300, 250]
    assert codes == {"flow": "JANE35-TASKFLOW", "launch": "JANE30-INVOICEPRO"}
    assert sorted(Enrollment.objects.values_list("coupon_code", flat=True)) == [
        "JANE30-INVOICEPRO",
        "JANE35-TASKFLOW",
    ]
