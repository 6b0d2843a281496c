"""Property-based tests of the JSON API against its own OpenAPI document (schemathesis).

Every operation is called with generated inputs, authenticated with a real credential of the
kind it needs (built through `api` in a fixture): zero server errors, and every response
conforms to the documented schema. CI sets KANGROW_SCHEMATHESIS_MAX_EXAMPLES to a few hundred
cases per operation; the default keeps a local run short.
"""

import os

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from kangrow.accounts import api as accounts_api
from kangrow.apikeys import api as apikeys_api
from kangrow.programs import api as programs_api
from kangrow.web.api.testing import make_affiliate, make_program

MAX_EXAMPLES = int(os.environ.get("KANGROW_SCHEMATHESIS_MAX_EXAMPLES", "25"))


def _load_schema():  # type: ignore[no-untyped-def]
    from config.wsgi import application

    return schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)


schema = _load_schema()


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """Like Django's test client: the WSGI app must not close the test's database connection
    at the end of each request (the test runs inside one transaction)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def _no_rate_limits(settings):
    settings.KANGROW_API_RATE = "1000000/min"
    settings.KANGROW_API_AUTH_RATE = "1000000/min"


@pytest.fixture
def credentials(db):
    program = make_program()
    jane = make_affiliate("jane@example.com")
    programs_api.join_campaign(affiliate_id=jane.id, campaign_slug="launch")
    make_affiliate("bob@example.com", approved=False)

    from django.test import RequestFactory

    tokens = accounts_api.issue_api_tokens(
        request=RequestFactory().post("/api/v1/auth/token"),
        email="jane@example.com",
        password="correct horse battery staple",
        device_info="schemathesis",
    )
    return {
        "app": apikeys_api.create_api_key(kind="app", name="st", app_id=program.app.id)[1],
        "staff": apikeys_api.create_api_key(kind="staff", name="st", scopes=apikeys_api.SCOPES)[1],
        "affiliate": tokens.access_token,
    }


def _kind(path: str) -> str | None:
    if path.startswith(("/api/v1/referrals", "/api/v1/coupons")):
        return "app"
    if path.startswith(("/api/v1/me", "/api/v1/campaigns")):
        return "affiliate"
    if path.startswith("/api/v1/staff"):
        return "staff"
    return None  # /auth/* and /events authenticate otherwise


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_api_conforms_to_its_schema(case, credentials):
    cache.clear()  # rate-limit counters and cached link targets start empty
    kind = _kind(case.path)
    headers = {"Authorization": f"Bearer {credentials[kind]}"} if kind else {}
    case.call_and_validate(
        headers=headers, checks=[not_a_server_error, response_schema_conformance]
    )
