from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.cache import cache

from kangrow.programs import api as programs
from kangrow.programs.tests.factories import make_affiliate, make_app, make_campaign
from kangrow.tracking.models import Click


@pytest.fixture
def enrollment(db):
    cache.clear()
    make_app("invoicepro", landing_url="https://invoicepro.example/start?plan=pro&ref=old")
    make_campaign("launch")
    jane = make_affiliate()
    return programs.join_campaign(affiliate_id=jane.id, campaign_slug="launch")


def test_a_live_link_records_one_click_and_redirects_with_ref(client, enrollment):
    response = client.get(
        f"/r/{enrollment.token}?utm_source=newsletter&utm_medium=email",
        HTTP_USER_AGENT="Mozilla/5.0 test",
        HTTP_REFERER="https://blog.example/post",
        REMOTE_ADDR="198.51.100.7",
    )

    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert (location.scheme, location.netloc, location.path) == (
        "https",
        "invoicepro.example",
        "/start",
    )
    assert parse_qs(location.query) == {
        "plan": ["pro"],
        "utm_source": ["newsletter"],
        "utm_medium": ["email"],
        "ref": [enrollment.token],
    }
    click = Click.objects.get()
    assert (click.enrollment_id, click.campaign_id, click.app_id) == (
        enrollment.id,
        enrollment.campaign_id,
        enrollment.app_id,
    )
    assert (click.user_agent, click.referrer, click.utm_source, click.utm_medium) == (
        "Mozilla/5.0 test",
        "https://blog.example/post",
        "newsletter",
        "email",
    )
    assert len(click.ip_hash) == 64 and "198.51.100.7" not in click.ip_hash
    assert click.landing_url == response["Location"]


def test_the_same_ip_hashes_the_same_and_differs_from_another(client, enrollment):
    client.get(f"/r/{enrollment.token}", REMOTE_ADDR="198.51.100.7")
    client.get(f"/r/{enrollment.token}", REMOTE_ADDR="198.51.100.7")
    client.get(f"/r/{enrollment.token}", REMOTE_ADDR="198.51.100.8")
    hashes = list(Click.objects.order_by("clicked_at").values_list("ip_hash", flat=True))
    assert hashes[0] == hashes[1] != hashes[2]


def test_a_campaign_landing_url_overrides_the_apps(client, enrollment):
    programs.upsert_campaign(
        slug="launch", app_slug="invoicepro", fields={"landing_url": "https://promo.example/x"}
    )
    response = client.get(f"/r/{enrollment.token}")
    assert response["Location"] == f"https://promo.example/x?ref={enrollment.token}"
    assert Click.objects.count() == 1


@pytest.mark.parametrize(
    "token",
    ["unknownToken123", "x" * 5000, "%00abc", "abc%00defghijk", "%E2%98%83snowman", "..", "a b"],
)
def test_unknown_or_junk_tokens_land_on_home_and_record_nothing(client, db, settings, token):
    cache.clear()
    settings.KANGROW_BASE_URL = "https://kangrow.example"
    response = client.get(f"/r/{token}")
    assert response.status_code == 302
    assert response["Location"] == "https://kangrow.example/"
    assert Click.objects.count() == 0


def test_a_left_enrollment_lands_on_the_app_site_and_records_nothing(client, enrollment):
    client.get(f"/r/{enrollment.token}")  # warm the cache
    programs.leave_campaign(affiliate_id=enrollment.affiliate_id, campaign_slug="launch")

    response = client.get(f"/r/{enrollment.token}")

    assert response.status_code == 302
    assert response["Location"] == "https://invoicepro.example/"
    assert Click.objects.count() == 1


def test_a_paused_campaign_records_nothing(client, enrollment):
    programs.upsert_campaign(slug="launch", app_slug="invoicepro", fields={"status": "paused"})
    response = client.get(f"/r/{enrollment.token}")
    assert response["Location"] == "https://invoicepro.example/"
    assert Click.objects.count() == 0


def test_a_post_is_refused_and_records_nothing(client, enrollment):
    response = client.post(f"/r/{enrollment.token}")
    assert response.status_code == 405
    assert Click.objects.count() == 0


def test_the_link_costs_one_insert_once_cached(client, enrollment, django_assert_num_queries):
    client.get(f"/r/{enrollment.token}")  # first visit fills the cache
    with django_assert_num_queries(1):
        client.get(f"/r/{enrollment.token}")
    assert Click.objects.count() == 2


def test_kangrow_js_is_served_as_a_static_file(client, settings):
    # production serves it from collectstatic's folder; here whitenoise finds it in place
    settings.WHITENOISE_USE_FINDERS = True
    settings.WHITENOISE_AUTOREFRESH = True
    response = client.get("/static/kangrow.js")
    body = b"".join(response.streaming_content) if response.streaming else response.content
    assert response.status_code == 200
    assert b"window.KanGrow" in body
    assert b"data-cookie-days" in body


@pytest.mark.parametrize(
    ("query", "stored"),
    [
        ("utm_source=a&utm_source=b", ("b", "")),  # the last of a repeat, as request.GET gives
        ("utm_source=caf%C3%A9&utm_medium=e+mail", ("café", "e mail")),
        ("utm_source=%FF", ("\ufffd", "")),  # not UTF-8: replaced, not refused
        ("utm_source=&other=1", ("", "")),
        ("&".join(f"f{n}=1" for n in range(1001)) + "&utm_source=x", ("", "")),  # too many
    ],
)
def test_utm_parameters_are_read_like_django_reads_a_query(client, enrollment, query, stored):
    response = client.get(f"/r/{enrollment.token}?{query}")
    assert response.status_code == 302
    assert (Click.objects.values_list("utm_source", "utm_medium").get()) == stored


def test_raw_utf8_in_a_query_string_is_read_as_utf8(client, enrollment):
    # a link shared with unescaped non-ASCII text: WSGI hands the bytes over as latin-1
    raw = "utm_campaign=été".encode().decode("latin-1")
    response = client.get(f"/r/{enrollment.token}", QUERY_STRING=raw)
    assert response.status_code == 302
    assert Click.objects.values_list("utm_campaign", flat=True).get() == "été"
