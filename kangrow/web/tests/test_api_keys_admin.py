"""API keys from outside: created in /admin (shown once) and revoked there, and printed once
by `manage.py create_api_key`."""

import io
import re

import pytest
from django.core.management import CommandError, call_command

from kangrow.apikeys import api
from kangrow.apikeys.models import ApiKey
from kangrow.web.api.testing import make_program


@pytest.fixture
def program(db):
    return make_program()


def test_create_api_key_command_prints_the_key_once(program):
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "create_api_key",
        "--kind",
        "app",
        "--app",
        "invoicepro",
        "--name",
        "be",
        stdout=out,
        stderr=err,
    )
    raw = out.getvalue().strip()
    assert api.authenticate_api_key(raw=raw).app_id == program.app.id
    assert raw not in err.getvalue()
    out = io.StringIO()
    call_command(
        "create_api_key",
        "--kind",
        "staff",
        "--scopes",
        "apps:write, events:read",
        "--name",
        "ci",
        stdout=out,
        stderr=io.StringIO(),
    )
    assert api.authenticate_api_key(raw=out.getvalue().strip()).scopes == (
        "apps:write",
        "events:read",
    )


@pytest.mark.parametrize(
    "args",
    [
        ["--kind", "app", "--app", "nope", "--name", "x"],
        ["--kind", "app", "--name", "x"],
        ["--kind", "staff", "--scopes", "root", "--name", "x"],
    ],
)
def test_create_api_key_command_refuses_bad_input(program, args):
    with pytest.raises(CommandError):
        call_command("create_api_key", *args, stdout=io.StringIO(), stderr=io.StringIO())
    assert ApiKey.objects.count() == 0


def test_staff_create_a_key_in_admin_and_see_it_once(program, staff_client):
    # when
    response = staff_client.post(
        "/admin/apikeys/apikey/add/",
        {"name": "InvoicePro backend", "kind": "app", "app": str(program.app.id)},
        follow=True,
    )
    # then the next page shows the key, which works; the change page never shows it again
    assert response.status_code == 200
    text = response.content.decode()
    raw = re.search(r"kg_app_[A-Za-z0-9_-]+", text).group(0)
    row = ApiKey.objects.get()
    assert api.authenticate_api_key(raw=raw).id == row.id
    again = staff_client.get(f"/admin/apikeys/apikey/{row.id}/change/").content.decode()
    assert raw not in again
    assert row.prefix in again


def test_staff_revoke_keys_in_admin(program, staff_client):
    ref, raw = api.create_api_key(kind="app", name="k", app_id=program.app.id)
    staff_client.post(
        "/admin/apikeys/apikey/",
        {"action": "revoke", "_selected_action": [str(ref.id)]},
    )
    assert api.authenticate_api_key(raw=raw) is None


def test_admin_refuses_an_app_key_without_an_app(program, staff_client):
    response = staff_client.post("/admin/apikeys/apikey/add/", {"name": "x", "kind": "app"})
    assert response.status_code == 200
    assert "An app key needs an app." in response.content.decode()
    assert ApiKey.objects.count() == 0


def test_staff_add_a_webhook_endpoint_in_admin_and_see_its_secret_once(program, staff_client):
    from kangrow.webhooks_out.models import Endpoint

    response = staff_client.post(
        "/admin/webhooks_out/endpoint/add/",
        {
            "url": "https://pay.example/hooks",
            "app": str(program.app.id),
            "types": ["coupon.created"],
        },
        follow=True,
    )
    assert response.status_code == 200
    secret = re.search(r"whsec_[A-Za-z0-9+/=]+", response.content.decode()).group(0)
    row = Endpoint.objects.get()
    assert (row.secret, row.app_id, row.event_types) == (secret, program.app.id, ["coupon.created"])
    assert (
        secret
        not in staff_client.get(f"/admin/webhooks_out/endpoint/{row.id}/change/").content.decode()
    )


def test_staff_retry_a_failed_delivery_from_the_log(program, staff_client):
    from kangrow.webhooks_out import api as webhooks_api
    from kangrow.webhooks_out.models import Delivery

    webhooks_api.create_endpoint(app_id=program.app.id, url="http://127.0.0.1:9/closed")
    webhooks_api.emit(app_id=program.app.id, type="payout.paid", data={})
    Delivery.objects.update(status="failed", attempts=8)
    row = Delivery.objects.get()
    page = staff_client.get("/admin/webhooks_out/delivery/")
    assert page.status_code == 200
    staff_client.post(
        "/admin/webhooks_out/delivery/", {"action": "retry", "_selected_action": [str(row.id)]}
    )
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_status_code) == ("pending", 1, None)
    assert row.last_error
