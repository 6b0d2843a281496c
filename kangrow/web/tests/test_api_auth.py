"""Affiliate tokens: issue, refuse, rotate, detect reuse, revoke, expire; bans stop at once;
rate limits answer 429 in the error format with Retry-After."""

from datetime import timedelta
from functools import partial

import pytest
import time_machine
from django.core.cache import cache
from django.test import override_settings
from django.utils import timezone

from kangrow.accounts import api as accounts_api
from kangrow.accounts.models import RefreshToken
from kangrow.core.testing import run_at_once
from kangrow.web.api.testing import API, PASSWORD, bearer, log_in_api, make_affiliate


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


def post(client, path, body, **headers):
    return client.post(API + path, body, content_type="application/json", **headers)


def assert_error(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["code"] == code


def me(client, access):
    return client.get(f"{API}/me/balance", **bearer(access))


@pytest.mark.django_db
def test_token_issues_an_access_and_a_hashed_refresh_token(client):
    # given
    jane = make_affiliate("jane@example.com")
    # when
    response = post(
        client,
        "/auth/token",
        {"email": "Jane@Example.com", "password": PASSWORD, "device_info": "iPhone 15"},
    )
    # then
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    row = RefreshToken.objects.get(user=jane)
    assert row.token != body["refresh_token"]
    assert len(row.token) == 64  # SHA-256 hex
    assert row.device_info == "iPhone 15"
    assert row.revoked is False
    assert timedelta(days=29) < row.expires_at - timezone.now() <= timedelta(days=30)
    assert me(client, body["access_token"]).json() == {"balances": []}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("verified", "approved", "flag", "status", "code"),
    [
        (False, False, None, 403, "email_not_verified"),
        (True, False, None, 403, "not_approved"),
        (True, True, "banned", 403, "account_disabled"),
        (True, True, "blocked", 403, "account_disabled"),
    ],
)
def test_unverified_unapproved_banned_or_blocked_users_get_no_tokens(
    client, verified, approved, flag, status, code
):
    # given
    user = make_affiliate("jane@example.com", verified=verified, approved=approved)
    if flag == "banned":
        accounts_api.ban_user(user_id=user.id)
    if flag == "blocked":
        accounts_api.block_user(user_id=user.id)
    # when
    response = post(client, "/auth/token", {"email": "jane@example.com", "password": PASSWORD})
    # then
    assert_error(response, status, code)
    assert RefreshToken.objects.count() == 0


@pytest.mark.django_db
def test_wrong_password_and_unknown_email_are_the_same_401(client):
    make_affiliate("jane@example.com")
    wrong = post(client, "/auth/token", {"email": "jane@example.com", "password": "x" * 12})
    unknown = post(client, "/auth/token", {"email": "who@example.com", "password": PASSWORD})
    assert_error(wrong, 401, "invalid_credentials")
    assert_error(unknown, 401, "invalid_credentials")
    assert wrong.json() == unknown.json()
    assert RefreshToken.objects.count() == 0


@pytest.mark.django_db
def test_failures_go_through_axes_and_lock_the_account_out(client):
    # given five failed attempts (AXES_FAILURE_LIMIT)
    make_affiliate("jane@example.com")
    for _ in range(5):
        post(client, "/auth/token", {"email": "jane@example.com", "password": "x" * 12})
    # when the right password comes next
    response = post(client, "/auth/token", {"email": "jane@example.com", "password": PASSWORD})
    # then
    assert_error(response, 429, "locked_out")
    assert RefreshToken.objects.count() == 0


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        {},
        {"email": "jane@example.com"},
        {"email": 5, "password": PASSWORD},
        {"email": "jane\x00@example.com", "password": PASSWORD},
        {"email": "jane@example.com", "password": PASSWORD, "device_info": "a\x00b"},
    ],
)
def test_malformed_token_requests_are_4xx_json(client, body):
    make_affiliate("jane@example.com")
    response = post(client, "/auth/token", body)
    assert response.status_code in (401, 422)
    assert set(response.json()["error"]) == {"code", "message", "details"}
    assert RefreshToken.objects.count() == 0


@pytest.mark.django_db
def test_refresh_rotates_and_reuse_revokes_the_whole_family(client):
    # given
    jane = make_affiliate("jane@example.com")
    first = log_in_api(client, "jane@example.com")
    # when the refresh token is rotated
    second = post(client, "/auth/refresh", {"refresh_token": first["refresh_token"]}).json()
    # then the old one is revoked and the new pair works
    assert second["refresh_token"] != first["refresh_token"]
    assert me(client, second["access_token"]).status_code == 200
    rows = list(RefreshToken.objects.filter(user=jane).order_by("created_at"))
    assert [r.revoked for r in rows] == [True, False]
    assert rows[0].family_id == rows[1].family_id
    assert rows[0].last_used_at is not None
    # when the old (revoked) one is presented again
    reuse = post(client, "/auth/refresh", {"refresh_token": first["refresh_token"]})
    # then the whole family is revoked: the newest refresh and access tokens stop too
    assert_error(reuse, 401, "token_reused")
    assert RefreshToken.objects.filter(user=jane, revoked=False).count() == 0
    assert_error(
        post(client, "/auth/refresh", {"refresh_token": second["refresh_token"]}),
        401,
        "token_reused",
    )
    assert_error(me(client, second["access_token"]), 401, "unauthorized")


@pytest.mark.django_db
def test_reuse_in_one_family_leaves_other_logins_alone(client):
    make_affiliate("jane@example.com")
    phone = log_in_api(client, "jane@example.com")
    laptop = log_in_api(client, "jane@example.com")
    post(client, "/auth/refresh", {"refresh_token": phone["refresh_token"]})
    post(client, "/auth/refresh", {"refresh_token": phone["refresh_token"]})  # reuse
    assert me(client, laptop["access_token"]).status_code == 200
    assert (
        post(client, "/auth/refresh", {"refresh_token": laptop["refresh_token"]}).status_code == 200
    )


@pytest.mark.django_db
def test_unknown_or_expired_refresh_tokens_are_invalid(client):
    make_affiliate("jane@example.com")
    tokens = log_in_api(client, "jane@example.com")
    assert_error(post(client, "/auth/refresh", {"refresh_token": "kgr_nope"}), 401, "invalid_token")
    RefreshToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = post(client, "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert_error(expired, 401, "invalid_token")
    assert RefreshToken.objects.count() == 1


@pytest.mark.django_db
def test_revoke_ends_the_login_at_once(client):
    make_affiliate("jane@example.com")
    tokens = log_in_api(client, "jane@example.com")
    response = post(client, "/auth/revoke", {"refresh_token": tokens["refresh_token"]})
    assert response.status_code == 200
    assert response.json() == {"revoked": True}
    assert_error(me(client, tokens["access_token"]), 401, "unauthorized")
    assert post(client, "/auth/revoke", {"refresh_token": "kgr_unknown"}).json() == {
        "revoked": False
    }


@pytest.mark.django_db
@pytest.mark.parametrize("action", ["ban_user", "block_user", "soft_delete_user"])
def test_banning_stops_access_and_refresh_tokens_at_once(client, action):
    # given
    jane = make_affiliate("jane@example.com")
    tokens = log_in_api(client, "jane@example.com")
    assert me(client, tokens["access_token"]).status_code == 200
    # when
    getattr(accounts_api, action)(user_id=jane.id)
    # then
    assert_error(me(client, tokens["access_token"]), 401, "unauthorized")
    refresh = post(client, "/auth/refresh", {"refresh_token": tokens["refresh_token"]})
    assert refresh.status_code == 401
    assert RefreshToken.objects.filter(user=jane, revoked=False).count() == 0


@pytest.mark.django_db
def test_an_unapproved_affiliate_loses_api_access_at_once(client):
    jane = make_affiliate("jane@example.com")
    tokens = log_in_api(client, "jane@example.com")
    accounts_api.upsert_affiliate(
        email="jane@example.com", password=None, verified=True, approved=False
    )
    assert jane.pk
    assert_error(me(client, tokens["access_token"]), 401, "unauthorized")


@pytest.mark.django_db
def test_access_tokens_expire_after_15_minutes(client):
    make_affiliate("jane@example.com")
    with time_machine.travel(timezone.now(), tick=False) as traveller:
        tokens = log_in_api(client, "jane@example.com")
        traveller.shift(timedelta(minutes=14, seconds=59))
        assert me(client, tokens["access_token"]).status_code == 200
        traveller.shift(timedelta(seconds=2))
        assert_error(me(client, tokens["access_token"]), 401, "unauthorized")


@pytest.mark.django_db
def test_auth_is_rate_limited_per_ip(client):
    make_affiliate("jane@example.com")
    with override_settings(KANGROW_API_AUTH_RATE="3/min"):
        codes = [
            post(client, "/auth/revoke", {"refresh_token": "kgr_x"}).status_code for _ in range(4)
        ]
        other_ip = post(client, "/auth/revoke", {"refresh_token": "kgr_x"}, REMOTE_ADDR="10.0.0.9")
        limited = post(client, "/auth/revoke", {"refresh_token": "kgr_x"})
    assert codes == [200, 200, 200, 429]
    assert other_ip.status_code == 200
    assert_error(limited, 429, "rate_limited")
    assert 1 <= int(limited["Retry-After"]) <= 60


@pytest.mark.django_db
def test_authenticated_calls_are_rate_limited_per_credential(client):
    make_affiliate("jane@example.com")
    make_affiliate("carol@example.com")
    jane = log_in_api(client, "jane@example.com")["access_token"]
    carol = log_in_api(client, "carol@example.com")["access_token"]
    with override_settings(KANGROW_API_RATE="2/min"):
        codes = [me(client, jane).status_code for _ in range(3)]
        carol_code = me(client, carol).status_code
        limited = me(client, jane)
    assert codes == [200, 200, 429]
    assert carol_code == 200
    assert_error(limited, 429, "rate_limited")
    assert "Retry-After" in limited


@pytest.mark.django_db
def test_token_requests_must_be_json(client):
    make_affiliate("jane@example.com")
    response = client.post(
        f"{API}/auth/token",
        data=b'{"email": "jane@example.com", "password": "x"}',
        content_type="multipart/form-data",
    )
    assert_error(response, 415, "unsupported_media_type")
    assert RefreshToken.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_refreshes_of_one_token_let_one_win_and_revoke_the_family():

    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("real concurrent writers need PostgreSQL")
    # given
    jane = make_affiliate("jane@example.com")
    from django.test import RequestFactory

    tokens = accounts_api.issue_api_tokens(
        request=RequestFactory().post("/"),
        email="jane@example.com",
        password=PASSWORD,
        device_info=None,
    )
    outcomes = run_at_once(
        *[partial(accounts_api.rotate_refresh_token, token=tokens.refresh_token)] * 4
    )
    won = outcomes.values
    refused = [e.code for e in outcomes.errors if isinstance(e, accounts_api.ApiTokenError)]
    assert len(won) + len(refused) == 4
    # then one rotation won; the others count as reuse and revoke the family, winner included
    assert len(won) == 1
    assert refused == ["token_reused"] * 3
    assert RefreshToken.objects.filter(user=jane, revoked=False).count() == 0
    assert accounts_api.get_user_by_access_token(token=won[0].access_token) is None
