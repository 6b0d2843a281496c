"""What each JSON API operation does for the right caller, and how it refuses bad input."""

from datetime import timedelta

import pytest
from django.core import mail
from django.core.cache import cache
from django.utils import timezone

from kangrow.ledger import api as ledger_api
from kangrow.programs import api as programs_api
from kangrow.tracking import api as tracking_api
from kangrow.web.api.testing import (
    API,
    app_key,
    bearer,
    log_in_api,
    make_affiliate,
    make_program,
    staff_key,
)
from kangrow.webhooks_out import api as webhooks_api


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def world(db, client):
    program = make_program()
    jane = make_affiliate("jane@example.com")
    enrollment = programs_api.join_campaign(affiliate_id=jane.id, campaign_slug="launch")
    return {
        "program": program,
        "jane": jane,
        "enrollment": enrollment,
        "app": bearer(app_key(program.app.id)),
        "jane_token": bearer(log_in_api(client, "jane@example.com")["access_token"]),
    }


def post(client, path, body, headers):
    return client.post(API + path, body, content_type="application/json", **headers)


def put(client, path, body, headers):
    return client.put(API + path, body, content_type="application/json", **headers)


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    assert set(response.json()["error"]) == {"code", "message", "details"}
    assert response.json()["error"]["code"] == code


# --- app endpoints --------------------------------------------------------------------------


def test_a_signup_with_a_coupon_is_attributed_once(client, world):
    body = {"customer_id": "cus_1", "email": "buyer@example.org", "coupon": "jane30-invoicepro"}
    first = post(client, "/referrals", body, world["app"])
    again = post(client, "/referrals", {"customer_id": "cus_1"}, world["app"])
    assert first.status_code == again.status_code == 200
    referral = first.json()["referral"]
    assert first.json()["attributed"] is True
    assert again.json() == first.json()
    assert referral["customer_id"] == "cus_1"
    assert referral["attributed_by"] == "coupon"
    assert referral["affiliate_id"] == str(world["jane"].id)
    assert referral["commission_bps"] == 3000
    assert referral["customer_email_masked"] != "buyer@example.org"


def test_a_signup_nothing_attributes_answers_attributed_false(client, world):
    response = post(client, "/referrals", {"customer_id": "cus_2", "ref": "nope1234"}, world["app"])
    assert response.status_code == 200
    assert response.json() == {"attributed": False, "referral": None}
    assert tracking_api.get_referral(app_id=world["program"].app.id, customer_id="cus_2") is None


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"customer_id": ""},
        {"customer_id": "x" * 256},
        {"customer_id": 12},
        {"customer_id": "cus\x00"},
        {"customer_id": "cus_3", "coupon": "a\x00"},
    ],
)
def test_bad_signups_are_422_and_write_nothing(client, world, body):
    response = post(client, "/referrals", body, world["app"])
    assert response.status_code == 422
    assert set(response.json()["error"]) == {"code", "message", "details"}
    assert tracking_api.list_referrals(affiliate_id=world["jane"].id) == []


def test_a_coupon_of_the_app_is_valid_with_its_campaign_and_discount(client, world):
    response = client.get(f"{API}/coupons/jane30-invoicepro", **world["app"])
    assert response.json() == {
        "code": "JANE30-INVOICEPRO",
        "valid": True,
        "app": {"slug": "invoicepro", "name": "InvoicePro"},
        "campaign": {"slug": "launch", "name": "Launch"},
        "discount_bps": 2000,
        "discount_percent": 20.0,
    }


def test_unknown_or_left_coupons_are_not_valid(client, world):
    assert client.get(f"{API}/coupons/NOPE", **world["app"]).json()["valid"] is False
    programs_api.leave_campaign(affiliate_id=world["jane"].id, campaign_slug="launch")
    assert client.get(f"{API}/coupons/JANE30-INVOICEPRO", **world["app"]).json()["valid"] is False


# --- affiliate endpoints --------------------------------------------------------------------


def _commission(world, invoice="in_1", amount=4900):
    tracking_api.attribute_customer(
        app_id=world["program"].app.id,
        customer_id="cus_1",
        coupon="JANE30-INVOICEPRO",
        occurred_at=timezone.now() - timedelta(minutes=5),
    )
    now = timezone.now()
    event_id, _ = ledger_api.ingest_event(
        source="test",
        external_id=f"evt_{invoice}",
        app_id=world["program"].app.id,
        type="invoice.paid",
        payload={
            "customer_id": "cus_1",
            "invoice_id": invoice,
            "amount": amount,
            "currency": "USD",
            "occurred_at": now.isoformat(),
        },
        occurred_at=now,
    )
    assert ledger_api.process_event(event_id=event_id) == "processed"


def test_balance_has_the_contract_shape(client, world):
    _commission(world)
    response = client.get(f"{API}/me/balance", **world["jane_token"])
    assert response.json() == {
        "balances": [{"currency": "USD", "pending": 1470, "payable": 0, "paid": 0}]
    }


def test_enrollments_show_coupon_code_and_link(client, world):
    body = client.get(f"{API}/me/enrollments", **world["jane_token"]).json()
    assert body["count"] == 1
    item = body["items"][0]
    assert item["coupon_code"] == "JANE30-INVOICEPRO"
    assert item["link"].endswith(f"/r/{world['enrollment'].token}")
    assert (item["status"], item["live"], item["commission_bps"]) == ("active", True, 3000)


def test_lists_are_paginated_with_a_maximum(client, world):
    _commission(world, "in_1")
    _commission(world, "in_2", 1000)
    first = client.get(f"{API}/me/commissions?limit=1", **world["jane_token"]).json()
    second = client.get(f"{API}/me/commissions?limit=1&offset=1", **world["jane_token"]).json()
    assert first["count"] == second["count"] == 2
    assert len(first["items"]) == len(second["items"]) == 1
    assert {first["items"][0]["invoice_id"], second["items"][0]["invoice_id"]} == {"in_1", "in_2"}
    for bad in ("limit=101", "limit=0", "offset=-1", "limit=x"):
        response = client.get(f"{API}/me/referrals?{bad}", **world["jane_token"])
        assert_error(response, 422, "invalid_request")


def test_referrals_commissions_and_notifications_are_listed(client, world):
    _commission(world)
    referrals = client.get(f"{API}/me/referrals", **world["jane_token"]).json()
    commissions = client.get(f"{API}/me/commissions", **world["jane_token"]).json()
    notifications = client.get(f"{API}/me/notifications", **world["jane_token"]).json()
    payouts = client.get(f"{API}/me/payouts", **world["jane_token"]).json()
    assert [r["status"] for r in referrals["items"]] == ["active"]
    assert [(c["amount"], c["status"]) for c in commissions["items"]] == [(1470, "pending")]
    assert isinstance(notifications["count"], int)
    assert payouts == {"items": [], "count": 0}


def test_stats_cover_the_period_and_refuse_bad_ones(client, world):
    today = timezone.now().date()
    ok = client.get(
        f"{API}/me/stats?from={today - timedelta(days=6)}&to={today}", **world["jane_token"]
    )
    assert ok.status_code == 200
    assert len(ok.json()["days"]) == 7
    assert_error(
        client.get(
            f"{API}/me/stats?from={today}&to={today - timedelta(days=1)}", **world["jane_token"]
        ),
        422,
        "invalid_period",
    )
    assert_error(
        client.get(f"{API}/me/stats?from=0001-01-01", **world["jane_token"]), 422, "invalid_period"
    )
    assert_error(
        client.get(f"{API}/me/stats?to=9999-12-31", **world["jane_token"]), 422, "invalid_period"
    )
    # a 'to' so early that the default 'from' (29 days before) is no date at all
    assert_error(
        client.get(f"{API}/me/stats?to=0001-01-05", **world["jane_token"]), 422, "invalid_period"
    )


def test_join_and_leave_a_campaign(client, world):
    jane = world["jane_token"]
    left = post(client, "/campaigns/launch/leave", {}, jane)
    assert (left.status_code, left.json()["status"]) == (200, "left")
    rejoined = post(client, "/campaigns/launch/join", {}, jane)
    assert (rejoined.status_code, rejoined.json()["status"]) == (200, "active")
    assert rejoined.json()["coupon_code"] == "JANE30-INVOICEPRO"
    assert_error(post(client, "/campaigns/nope/join", {}, jane), 404, "unknown_campaign")
    assert_error(post(client, "/campaigns/mail-launch/leave", {}, jane), 404, "not_enrolled")


# --- staff endpoints ------------------------------------------------------------------------


def test_staff_create_and_update_an_app_secret_shown_once(client, world):
    staff = bearer(staff_key("apps:write"))
    created = put(client, "/staff/apps/newapp", {"name": "New", "currency": "eur"}, staff)
    updated = put(client, "/staff/apps/newapp", {"landing_url": "https://new.example/"}, staff)
    assert created.status_code == updated.status_code == 200
    assert created.json()["created"] is True
    assert created.json()["signing_secret"].startswith("whsec_")
    assert updated.json()["created"] is False
    assert updated.json()["signing_secret"] is None
    app = programs_api.get_app_by_slug(slug="newapp")
    assert (app.currency, app.landing_url, app.signing_secret) == (
        "EUR",
        "https://new.example/",
        created.json()["signing_secret"],
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [({"name": "X", "currency": "EURO"}, None), ({"currency": "USD"}, "name")],
)
def test_staff_bad_apps_are_422_and_write_nothing(client, world, body, field):
    response = put(client, "/staff/apps/newapp", body, bearer(staff_key("apps:write")))
    assert response.status_code == 422
    assert programs_api.get_app_by_slug(slug="newapp") is None


def test_staff_create_campaigns_with_the_rate_rules(client, world):
    staff = bearer(staff_key("campaigns:write"))
    ok = put(
        client,
        "/staff/campaigns/summer",
        {"app": "invoicepro", "name": "Summer", "commission_bps": 4000, "visibility": "approval"},
        staff,
    )
    low = put(
        client,
        "/staff/campaigns/cheap",
        {"app": "invoicepro", "name": "Cheap", "commission_bps": 1000, "recurring": True},
        staff,
    )
    unknown = put(
        client, "/staff/campaigns/x", {"app": "nope", "name": "X", "commission_bps": 3000}, staff
    )
    assert (ok.status_code, ok.json()["created"]) == (200, True)
    assert_error(low, 422, "below_floor")
    assert_error(unknown, 404, "unknown_app")
    assert sorted(c.slug for c in programs_api.list_campaigns()) == [
        "launch",
        "mail-launch",
        "summer",
    ]


def test_staff_approve_affiliates(client, world, django_capture_on_commit_callbacks):
    staff = bearer(staff_key("affiliates:write"))
    bob = make_affiliate("bob@example.com", approved=False)
    ann = make_affiliate("ann@example.com", verified=False, approved=False)
    with django_capture_on_commit_callbacks(execute=True):
        ok = post(client, f"/staff/affiliates/{bob.id}/approve", {}, staff)
    again = post(client, f"/staff/affiliates/{bob.id}/approve", {}, staff)
    assert ok.json() == again.json() == {"id": str(bob.id), "approved": True}
    assert [m.to for m in mail.outbox] == [["bob@example.com"]]
    assert_error(
        post(client, f"/staff/affiliates/{ann.id}/approve", {}, staff), 409, "not_approvable"
    )
    assert_error(
        post(client, "/staff/affiliates/00000000-0000-0000-0000-000000000000/approve", {}, staff),
        404,
        "unknown_affiliate",
    )
    ann.refresh_from_db()
    assert ann.approved_affiliate is False


def test_staff_enroll_returns_coupon_and_link_even_in_approval_campaigns(client, world):
    programs_api.upsert_campaign(
        slug="vip",
        app_slug="invoicepro",
        fields={"name": "VIP", "commission_bps": 5000, "visibility": "approval"},
    )
    make_affiliate("bob@example.com")
    staff = bearer(staff_key("enrollments:write"))
    response = post(
        client, "/staff/enrollments", {"affiliate": "bob@example.com", "campaign": "vip"}, staff
    )
    again = post(
        client, "/staff/enrollments", {"affiliate": "bob@example.com", "campaign": "vip"}, staff
    )
    body = response.json()
    assert response.status_code == 200
    assert again.json() == body
    assert (body["status"], body["coupon_code"], body["campaign"]) == (
        "active",
        "BOB50-INVOICEPRO",
        "vip",
    )
    assert body["link"].endswith(f"/r/{body['token']}")
    assert_error(
        post(
            client, "/staff/enrollments", {"affiliate": "who@example.com", "campaign": "vip"}, staff
        ),
        404,
        "unknown_affiliate",
    )


def test_staff_list_events_and_retry_one(client, world):
    _commission(world)
    reader = bearer(staff_key("events:read", "events:write"))
    events = client.get(f"{API}/staff/events?status=processed", **reader).json()
    assert events["count"] == 1
    event = events["items"][0]
    assert (event["type"], event["invoice_id"], event["status"]) == (
        "invoice.paid",
        "in_1",
        "processed",
    )
    retried = post(client, f"/staff/events/{event['id']}/retry", {}, reader)
    assert retried.json() == {"id": event["id"], "status": "processed"}
    assert client.get(f"{API}/staff/events?status=failed", **reader).json() == {
        "items": [],
        "count": 0,
    }
    assert (
        ledger_api.sum_ledger(
            referral_id=tracking_api.list_referrals(affiliate_id=world["jane"].id)[0].id
        )
        == 1470
    )


def test_staff_register_a_webhook_endpoint(client, world):
    staff = bearer(staff_key("apps:write"))
    response = post(
        client,
        "/staff/apps/invoicepro/webhook-endpoints",
        {"url": "https://pay.example/kangrow", "event_types": ["coupon.created"]},
        staff,
    )
    assert response.status_code == 201
    assert response.json()["secret"].startswith("whsec_")
    assert [
        (e.url, e.event_types) for e in webhooks_api.list_endpoints(app_id=world["program"].app.id)
    ] == [("https://pay.example/kangrow", ("coupon.created",))]
    bad = post(client, "/staff/apps/invoicepro/webhook-endpoints", {"url": "ftp://x"}, staff)
    unknown = post(
        client, "/staff/apps/nope/webhook-endpoints", {"url": "https://x.example/"}, staff
    )
    assert bad.status_code == 422
    assert_error(unknown, 404, "unknown_app")
    assert len(webhooks_api.list_endpoints()) == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("get", "/nope", 404, "not_found"),
        ("get", "/me/nope/deeper", 404, "not_found"),
        ("delete", "/me/balance", 405, "method_not_allowed"),
        ("get", "/auth/token", 405, "method_not_allowed"),
    ],
)
def test_unknown_paths_and_methods_answer_in_the_error_format(client, method, path, status, code):
    response = getattr(client, method)(API + path)
    assert_error(response, status, code)


@pytest.mark.django_db
def test_the_openapi_document_and_docs_are_served(client):
    document = client.get(f"{API}/openapi.json")
    assert document.status_code == 200
    paths = set(document.json()["paths"])
    assert {"/api/v1/referrals", "/api/v1/coupons/{code}", "/api/v1/me/balance"} <= paths
    assert {"/api/v1/auth/token", "/api/v1/staff/events", "/api/v1/campaigns/{slug}/join"} <= paths
    assert client.get(f"{API}/docs").status_code == 200
