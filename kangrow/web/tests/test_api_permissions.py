"""Permission matrix of every JSON API operation: no credential, revoked credential, the wrong
kind of credential, a staff key without the scope, and another affiliate's token."""

import uuid

import pytest
from django.core.cache import cache

from kangrow.apikeys import api as apikeys_api
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

ALL_SCOPES = apikeys_api.SCOPES

# (method, path, json body, kind of credential it needs, scope for staff operations)
OPERATIONS = [
    ("post", "/referrals", {"customer_id": "cus_1", "coupon": "JANE30-INVOICEPRO"}, "app", None),
    ("get", "/coupons/JANE30-INVOICEPRO", None, "app", None),
    ("get", "/me/balance", None, "affiliate", None),
    ("get", "/me/enrollments", None, "affiliate", None),
    ("get", "/me/referrals", None, "affiliate", None),
    ("get", "/me/commissions", None, "affiliate", None),
    ("get", "/me/payouts", None, "affiliate", None),
    ("get", "/me/notifications", None, "affiliate", None),
    ("get", "/me/stats", None, "affiliate", None),
    ("post", "/campaigns/launch/join", None, "affiliate", None),
    ("post", "/campaigns/launch/leave", None, "affiliate", None),
    ("put", "/staff/apps/newapp", {"name": "New app"}, "staff", "apps:write"),
    (
        "post",
        "/staff/apps/invoicepro/webhook-endpoints",
        {"url": "https://hooks.example/kangrow"},
        "staff",
        "apps:write",
    ),
    (
        "put",
        "/staff/campaigns/newcampaign",
        {"app": "invoicepro", "name": "New", "commission_bps": 3000},
        "staff",
        "campaigns:write",
    ),
    ("post", "/staff/affiliates/{bob}/approve", None, "staff", "affiliates:write"),
    (
        "post",
        "/staff/enrollments",
        {"affiliate": "carol@example.com", "campaign": "launch"},
        "staff",
        "enrollments:write",
    ),
    ("get", "/staff/events", None, "staff", "events:read"),
    ("post", f"/staff/events/{uuid.UUID(int=1)}/retry", None, "staff", "events:write"),
]
IDS = [f"{m.upper()} {p}" for m, p, *_ in OPERATIONS]


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def world(db, client):
    program = make_program()
    jane = make_affiliate("jane@example.com")
    bob = make_affiliate("bob@example.com", approved=False)
    carol = make_affiliate("carol@example.com")
    programs_api.join_campaign(affiliate_id=jane.id, campaign_slug="launch")
    credentials = {
        "app": app_key(program.app.id),
        "staff": staff_key(*ALL_SCOPES),
        "affiliate": log_in_api(client, "jane@example.com")["access_token"],
    }
    return {
        "program": program,
        "jane": jane,
        "bob": bob,
        "carol": carol,
        "credentials": credentials,
    }


def call(client, method, path, body, headers, world):
    path = path.format(bob=world["bob"].id)
    kwargs = {"content_type": "application/json"} if method != "get" else {}
    data = body if body is not None else ({} if method != "get" else None)
    return getattr(client, method)(API + path, data, **kwargs, **headers)


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]


def assert_nothing_written(world):
    assert programs_api.get_app_by_slug(slug="newapp") is None
    assert sorted(c.slug for c in programs_api.list_campaigns()) == ["launch", "mail-launch"]
    assert tracking_api.get_referral(app_id=world["program"].app.id, customer_id="cus_1") is None
    assert programs_api.list_enrollments(affiliate_id=world["bob"].id) == []
    assert programs_api.list_enrollments(affiliate_id=world["carol"].id) == []
    assert [e.status for e in programs_api.list_enrollments(affiliate_id=world["jane"].id)] == [
        "active"
    ]
    world["bob"].refresh_from_db()
    assert world["bob"].approved_affiliate is False


@pytest.mark.parametrize(("method", "path", "body", "kind", "scope"), OPERATIONS, ids=IDS)
def test_no_credential_is_401(client, world, method, path, body, kind, scope):
    # when
    response = call(client, method, path, body, {}, world)
    # then
    assert_error(response, 401, "unauthorized")
    assert_nothing_written(world)


@pytest.mark.parametrize(("method", "path", "body", "kind", "scope"), OPERATIONS, ids=IDS)
def test_garbage_credential_is_401(client, world, method, path, body, kind, scope):
    for token in ("kg_app_nope", "kg_staff_nope", "not-a-token", "eyJ.forged:1:sig"):
        response = call(client, method, path, body, bearer(token), world)
        assert_error(response, 401, "unauthorized")
    assert_nothing_written(world)


@pytest.mark.parametrize(("method", "path", "body", "kind", "scope"), OPERATIONS, ids=IDS)
def test_wrong_kind_of_credential_is_403(client, world, method, path, body, kind, scope):
    for other, token in world["credentials"].items():
        if other == kind:
            continue
        # when
        response = call(client, method, path, body, bearer(token), world)
        # then
        assert_error(response, 403, "wrong_credential")
        assert response.json()["error"]["details"] == {"needs": kind, "got": other}
    assert_nothing_written(world)


@pytest.mark.parametrize(("method", "path", "body", "kind", "scope"), OPERATIONS, ids=IDS)
def test_revoked_credential_is_401(client, world, method, path, body, kind, scope):
    # given a fresh credential of the right kind, revoked
    if kind == "affiliate":
        tokens = log_in_api(client, "carol@example.com")
        client.post(
            f"{API}/auth/revoke",
            {"refresh_token": tokens["refresh_token"]},
            content_type="application/json",
        )
        token = tokens["access_token"]
    else:
        token = app_key(world["program"].app.id) if kind == "app" else staff_key(*ALL_SCOPES)
        key = apikeys_api.authenticate_api_key(raw=token)
        assert apikeys_api.revoke_api_key(key_id=key.id) is True
    # when
    response = call(client, method, path, body, bearer(token), world)
    # then
    assert_error(response, 401, "unauthorized")
    assert_nothing_written(world)


STAFF_OPERATIONS = [op for op in OPERATIONS if op[3] == "staff"]


@pytest.mark.parametrize(
    ("method", "path", "body", "kind", "scope"),
    STAFF_OPERATIONS,
    ids=[f"{m.upper()} {p}" for m, p, *_ in STAFF_OPERATIONS],
)
def test_staff_key_without_the_scope_is_403(client, world, method, path, body, kind, scope):
    # given a key with every scope but this one
    token = staff_key(*(s for s in ALL_SCOPES if s != scope))
    # when
    response = call(client, method, path, body, bearer(token), world)
    # then
    assert_error(response, 403, "missing_scope")
    assert response.json()["error"]["details"] == {"scope": scope}
    assert_nothing_written(world)


@pytest.mark.parametrize(("method", "path", "body", "kind", "scope"), OPERATIONS, ids=IDS)
def test_the_right_credential_is_let_in(client, world, method, path, body, kind, scope):
    # when
    response = call(client, method, path, body, bearer(world["credentials"][kind]), world)
    # then: the operation ran (404 for the retry of an event that does not exist)
    expected = 404 if path.endswith("/retry") else (201 if "webhook-endpoints" in path else 200)
    assert response.status_code == expected, response.content


def test_another_affiliates_token_sees_only_its_own_data(client, world):
    # given jane has an enrollment and a referral; carol has neither
    jane_enrollment = programs_api.list_enrollments(affiliate_id=world["jane"].id)[0]
    tracking_api.attribute_customer(
        app_id=world["program"].app.id,
        customer_id="cus_jane",
        coupon=jane_enrollment.coupon_code,
        occurred_at=jane_enrollment.campaign_starts_at or world["jane"].created_at,
    )
    carol = bearer(log_in_api(client, "carol@example.com")["access_token"])
    jane = bearer(world["credentials"]["affiliate"])
    # when / then
    assert client.get(f"{API}/me/enrollments", **carol).json() == {"items": [], "count": 0}
    assert client.get(f"{API}/me/referrals", **carol).json() == {"items": [], "count": 0}
    assert client.get(f"{API}/me/enrollments", **jane).json()["count"] == 1
    assert client.get(f"{API}/me/referrals", **jane).json()["count"] == 1
    # and carol cannot leave jane's campaign on her behalf
    response = client.post(f"{API}/campaigns/launch/leave", **carol)
    assert_error(response, 404, "not_enrolled")
    assert [e.status for e in programs_api.list_enrollments(affiliate_id=world["jane"].id)] == [
        "active"
    ]


def test_an_app_key_only_attributes_to_its_own_app(client, world):
    # given a key of the other app and jane's coupon of invoicepro
    other_key = app_key(world["program"].other_app.id)
    # when
    response = client.post(
        f"{API}/referrals",
        {"customer_id": "cus_1", "coupon": "JANE30-INVOICEPRO"},
        content_type="application/json",
        **bearer(other_key),
    )
    coupon = client.get(f"{API}/coupons/JANE30-INVOICEPRO", **bearer(other_key))
    # then
    assert response.status_code == 200
    assert response.json() == {"attributed": False, "referral": None}
    assert coupon.json() == {
        "code": "JANE30-INVOICEPRO",
        "valid": False,
        "app": None,
        "campaign": None,
        "discount_bps": None,
        "discount_percent": None,
    }
    assert (
        tracking_api.get_referral(app_id=world["program"].other_app.id, customer_id="cus_1") is None
    )
