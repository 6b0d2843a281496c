"""API keys: shown once, stored hashed, revocable, last use recorded at most once a minute;
created in /admin and by `manage.py create_api_key`."""

from datetime import timedelta
from types import SimpleNamespace

import pytest
import time_machine
from django.utils import timezone

from kangrow.apikeys import api
from kangrow.apikeys.models import ApiKey
from kangrow.programs import api as programs_api


@pytest.fixture
def program(db):
    app, _, _ = programs_api.upsert_app(
        slug="invoicepro", fields={"name": "InvoicePro", "currency": "USD"}
    )
    return SimpleNamespace(app=app)


def test_a_key_is_returned_once_and_only_its_hash_is_stored(program):
    # when
    ref, raw = api.create_api_key(kind="app", name="InvoicePro backend", app_id=program.app.id)
    # then
    row = ApiKey.objects.get()
    assert raw.startswith("kg_app_") and len(raw) > 40
    assert row.key_hash == api.hash_key(raw) != raw
    assert raw not in {row.prefix, row.name, str(row.scopes)}
    assert raw.startswith(row.prefix)
    assert (ref.kind, ref.app_id, ref.scopes) == ("app", program.app.id, ())
    assert api.authenticate_api_key(raw=raw).id == ref.id


def test_staff_keys_carry_scopes(db):
    ref, raw = api.create_api_key(kind="staff", name="ci", scopes=["events:read", "apps:write"])
    assert raw.startswith("kg_staff_")
    assert ref.scopes == ("apps:write", "events:read")
    assert ref.has_scope("apps:write") and not ref.has_scope("events:write")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"kind": "app", "name": "x"}, "app"),
        ({"kind": "app", "name": "x", "app_id": "APP", "scopes": ["apps:write"]}, "scopes"),
        ({"kind": "staff", "name": "x", "scopes": ["root"]}, "scopes"),
        ({"kind": "staff", "name": "x", "app_id": "APP"}, "app"),
        ({"kind": "staff", "name": ""}, "name"),
        ({"kind": "staff", "name": "a\x00b"}, "name"),
        ({"kind": "admin", "name": "x"}, "kind"),
    ],
)
def test_bad_keys_are_refused_and_nothing_is_written(program, kwargs, field):
    if kwargs.get("app_id") == "APP":
        kwargs = {**kwargs, "app_id": program.app.id}
    with pytest.raises(api.ApiKeyError) as caught:
        api.create_api_key(**kwargs)
    assert caught.value.field == field
    assert ApiKey.objects.count() == 0


def test_revoked_and_unknown_keys_authenticate_nothing(program):
    ref, raw = api.create_api_key(kind="app", name="k", app_id=program.app.id)
    assert api.revoke_api_key(key_id=ref.id) is True
    assert api.revoke_api_key(key_id=ref.id) is False
    assert api.authenticate_api_key(raw=raw) is None
    assert api.authenticate_api_key(raw=raw[:-1] + ("A" if raw[-1] != "A" else "B")) is None
    assert api.authenticate_api_key(raw="kg_app_" + "x" * 200) is None
    assert api.authenticate_api_key(raw="kg_app_\x00") is None
    assert ApiKey.objects.get().revoked_at is not None


def test_last_use_is_recorded_at_most_once_a_minute(program):
    ref, raw = api.create_api_key(kind="app", name="k", app_id=program.app.id)
    start = timezone.now()
    with time_machine.travel(start, tick=False) as traveller:
        api.authenticate_api_key(raw=raw)
        assert ApiKey.objects.get().last_used_at == start
        traveller.shift(timedelta(seconds=59))
        api.authenticate_api_key(raw=raw)
        assert ApiKey.objects.get().last_used_at == start
        traveller.shift(timedelta(seconds=2))
        api.authenticate_api_key(raw=raw)
        assert ApiKey.objects.get().last_used_at == start + timedelta(seconds=61)
