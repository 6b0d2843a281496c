"""Permission matrix over the account pages: who gets the page, who is sent where."""

import pytest
from django.contrib.messages.storage import default_storage
from django.core.cache import cache
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.utils import timezone

from kangrow.accounts import api
from kangrow.accounts.middleware import SessionTokenAuthMiddleware
from kangrow.accounts.models import UserToken
from kangrow.accounts.tests.helpers import PASSWORD, make_user
from kangrow.web.accounts.gates import approved_affiliate_required

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/log-in?next="
WAIT = "/onboarding/waiting"
DASH = "/dashboard/"
OK = 200

# page -> expected answer per person: 200, or where the redirect goes (prefix match for LOGIN).
MATRIX = {
    "/": {
        "anonymous": OK,
        "unverified": WAIT,
        "unapproved": WAIT,
        "rejected": WAIT,
        "approved": DASH,
        "banned": OK,
    },
    "/accounts/register": {
        "anonymous": OK,
        "unverified": WAIT,
        "unapproved": WAIT,
        "rejected": WAIT,
        "approved": DASH,
        "banned": OK,
    },
    "/accounts/log-in": {
        "anonymous": OK,
        "unverified": OK,
        "unapproved": OK,
        "rejected": OK,
        "approved": OK,
        "banned": OK,
    },
    "/accounts/reset-password": {
        "anonymous": OK,
        "unverified": OK,
        "unapproved": OK,
        "rejected": OK,
        "approved": OK,
        "banned": OK,
    },
    "/accounts/settings": {
        "anonymous": LOGIN,
        "unverified": OK,
        "unapproved": OK,
        "rejected": OK,
        "approved": OK,
        "banned": LOGIN,
    },
    "/onboarding/waiting": {
        "anonymous": LOGIN,
        "unverified": OK,
        "unapproved": OK,
        "rejected": OK,
        "approved": DASH,
        "banned": LOGIN,
    },
    "/dashboard/": {
        "anonymous": LOGIN,
        "unverified": WAIT,
        "unapproved": WAIT,
        "rejected": WAIT,
        "approved": OK,
        "banned": LOGIN,
    },
}
PEOPLE = ["anonymous", "unverified", "unapproved", "rejected", "approved", "banned"]


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    cache.clear()
    yield
    cache.clear()


def _client_for(person: str) -> Client:
    client = Client()
    if person == "anonymous":
        return client
    flags = {
        "unverified": {"verified": False, "approved": False},
        "unapproved": {"approved": False},
        "rejected": {"approved": False, "rejected_at": timezone.now(), "rejection_reason": "No"},
        "approved": {},
        "banned": {},
    }[person]
    user = make_user(f"{person}@example.com", **flags)
    response = client.post("/accounts/log-in", {"email": user.email, "password": PASSWORD})
    assert response.status_code == 302
    if person == "banned":
        api.ban_user(user_id=user.pk)
    return client


@pytest.mark.parametrize("person", PEOPLE)
@pytest.mark.parametrize("page", list(MATRIX))
def test_page_access(page, person):
    client = _client_for(person)
    response = client.get(page)
    expected = MATRIX[page][person]
    if expected == OK:
        assert response.status_code == 200
    elif expected == LOGIN:
        assert response.status_code == 302
        assert response["Location"] == "/accounts/log-in?next=" + page.replace("/", "%2F")
    else:
        assert (response.status_code, response["Location"]) == (302, expected)


@pytest.mark.parametrize(
    ("person", "status"),
    [
        ("unverified", "email not confirmed yet"),
        ("unapproved", "email confirmed, approval pending"),
        ("rejected", "rejected"),
    ],
)
def test_waiting_page_says_where_the_application_stands(person, status):
    client = _client_for(person)
    html = client.get(WAIT).content.decode()
    assert f"Status: <strong>{status}</strong>" in html
    assert ("Resend confirmation email" in html) is (person == "unverified")
    assert ("Reason: No" in html) is (person == "rejected")


@pytest.mark.parametrize("person", ["anonymous", "banned"])
@pytest.mark.parametrize(
    "path",
    [
        "/accounts/log-out-everywhere",
        "/accounts/settings/email",
        "/accounts/settings/password",
        "/accounts/settings/profile",
        "/onboarding/waiting/resend",
    ],
)
def test_account_actions_need_a_live_login_and_change_nothing(path, person):
    client = _client_for(person)
    before = UserToken.objects.count()
    response = client.post(
        path, {"email": "x@example.com", "password": "a long new password", "first_name": "X"}
    )
    assert response.status_code == 302
    assert response["Location"] == "/accounts/log-in?next=" + path.replace("/", "%2F")
    assert UserToken.objects.count() == before


@pytest.mark.parametrize("path", ["/accounts/log-out", "/accounts/log-out-everywhere"])
def test_log_out_pages_refuse_get(path):
    client = _client_for("approved")
    assert client.get(path).status_code == 405
    assert UserToken.objects.filter(context="session").count() == 1


def test_the_gates_can_be_reused_by_other_pages():
    # given a page of another area behind the gate
    @approved_affiliate_required
    def page(request):
        return HttpResponse(f"hello {request.user.email}")

    approved = _client_for("approved")
    waiting = _client_for("unapproved")
    # when the middleware has resolved each visitor
    answers = []
    for client in (approved, waiting, Client()):
        request = RequestFactory().get("/elsewhere")
        request.session = client.session
        request._messages = default_storage(request)
        SessionTokenAuthMiddleware(lambda r: None).process_request(request)
        answers.append(page(request))
    # then
    assert answers[0].content == b"hello approved@example.com"
    assert answers[1]["Location"] == WAIT
    assert answers[2]["Location"] == "/accounts/log-in?next=%2Felsewhere"
