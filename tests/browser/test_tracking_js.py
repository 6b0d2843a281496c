"""kangrow.js in a real browser (Debian's chromium through Playwright), on a fake SaaS page.

Every request is answered by Playwright's router (no network): the SaaS page includes the
script exactly as an app would, served from this repository's file."""

from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

SCRIPT = Path(__file__).resolve().parents[2] / "kangrow" / "static" / "kangrow.js"
PAGE = """<!doctype html><html><head>
<script src="https://kangrow.example/static/kangrow.js" {attrs}></script></head><body>
<form><input name="email"><input type="hidden" name="kangrow_ref"></form></body></html>"""


def open_saas_page(browser, path, attrs='data-cookie-days="30"', context=None):
    context = context or browser.new_context()

    def answer(route):
        url = route.request.url
        if url == "https://kangrow.example/static/kangrow.js":
            route.fulfill(body=SCRIPT.read_text(), content_type="application/javascript")
        elif url.startswith("https://app.example/"):
            route.fulfill(body=PAGE.format(attrs=attrs), content_type="text/html")
        else:
            route.abort()

    context.route("**/*", answer)
    page = context.new_page()
    page.goto("https://app.example" + path)
    return context, page


def cookie(context):
    return {c["name"]: c for c in context.cookies()}.get("kangrow_ref")


def test_ref_is_kept_in_a_first_party_cookie_for_the_window_and_fills_the_form(browser):
    context, page = open_saas_page(browser, "/landing?plan=pro&ref=k7Qx2abcdEFG")

    assert page.evaluate("window.KanGrow.ref()") == "k7Qx2abcdEFG"
    assert page.input_value("input[name=kangrow_ref]") == "k7Qx2abcdEFG"
    stored = cookie(context)
    assert (stored["value"], stored["domain"], stored["path"]) == (
        "k7Qx2abcdEFG",
        "app.example",
        "/",
    )
    days = (stored["expires"] - page.evaluate("Date.now() / 1000")) / 86400
    assert 29.9 < days <= 30

    # a later page of the same site, without ref in the URL, still knows it
    page.goto("https://app.example/signup")
    assert page.evaluate("window.KanGrow.ref()") == "k7Qx2abcdEFG"
    assert page.input_value("input[name=kangrow_ref]") == "k7Qx2abcdEFG"
    context.close()


def test_the_cookie_window_defaults_to_60_days(browser):
    context, page = open_saas_page(browser, "/?ref=abcdefgh1234", attrs="")
    days = (cookie(context)["expires"] - page.evaluate("Date.now() / 1000")) / 86400
    assert 59.9 < days <= 60
    context.close()


def test_a_junk_ref_is_ignored(browser):
    context, page = open_saas_page(browser, "/?ref=%3Cscript%3E")
    assert page.evaluate("window.KanGrow.ref()") is None
    assert page.input_value("input[name=kangrow_ref]") == ""
    assert cookie(context) is None
    context.close()
