import json
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from kangrow.payouts import api as payouts
from kangrow.payouts.models import PayPalAccount
from kangrow.programs.models import App, Campaign, Enrollment

PASSWORD = "correct horse battery staple"


def spec(**overrides):
    data = {
        "apps": [
            {
                "slug": "invoicepro",
                "name": "InvoicePro",
                "landing_url": "https://invoicepro.example/",
                "currency": "USD",
            }
        ],
        "campaigns": [
            {
                "app": "invoicepro",
                "slug": "launch",
                "name": "Launch",
                "commission_percent": 30,
                "recurring_months": 12,
                "cookie_days": 60,
                "hold_days": 30,
                "customer_discount_percent": 20,
                "visibility": "open",
            }
        ],
        "affiliates": [
            {
                "email": "jane@example.com",
                "password": PASSWORD,
                "verified": True,
                "approved": True,
                "paypal_email": "jane-pp@example.com",
            }
        ],
        "enrollments": [{"affiliate": "jane@example.com", "campaign": "launch"}],
    }
    data.update(overrides)
    return data


def run(tmp_path, data):
    path = tmp_path / "programs.json"
    path.write_text(json.dumps(data))
    out = StringIO()
    call_command("provision", str(path), stdout=out)
    return json.loads(out.getvalue())


def counts():
    return (
        App.objects.count(),
        Campaign.objects.count(),
        get_user_model().objects.count(),
        Enrollment.objects.count(),
    )


@pytest.mark.django_db
def test_provision_creates_everything_and_prints_it(tmp_path, settings):
    settings.KANGROW_BASE_URL = "https://kangrow.example"

    out = run(tmp_path, spec())

    app = App.objects.get()
    campaign = Campaign.objects.get()
    user = get_user_model().objects.get()
    enrollment = Enrollment.objects.get()
    assert out["apps"] == {
        "invoicepro": {"id": str(app.id), "created": True, "signing_secret": app.signing_secret}
    }
    assert app.signing_secret.startswith("whsec_")
    assert out["campaigns"] == {"launch": {"id": str(campaign.id), "created": True}}
    assert out["affiliates"] == {"jane@example.com": {"id": str(user.id), "created": True}}
    assert out["enrollments"] == [
        {
            "affiliate": "jane@example.com",
            "campaign": "launch",
            "coupon_code": "JANE30-INVOICEPRO",
            "token": enrollment.token,
            "link": f"https://kangrow.example/r/{enrollment.token}",
        }
    ]
    assert (
        campaign.commission_bps,
        campaign.recurring,
        campaign.recurring_months,
        campaign.customer_discount_bps,
    ) == (3000, True, 12, 2000)
    assert (user.email_verified, user.verified, user.approved_affiliate) == (True, True, True)
    assert user.confirmed_at is not None
    assert user.check_password(PASSWORD)
    assert enrollment.status == "active"
    paypal = payouts.get_paypal_email(user_id=user.id)
    assert (paypal.email, paypal.confirmed) == ("jane-pp@example.com", True)


@pytest.mark.django_db
def test_provision_twice_doubles_nothing_and_updates_changed_fields(tmp_path):
    first = run(tmp_path, spec())
    data = spec()
    data["campaigns"][0]["commission_percent"] = 35
    data["apps"][0]["name"] = "InvoicePro 2"

    second = run(tmp_path, data)

    assert counts() == (1, 1, 1, 1)
    assert PayPalAccount.objects.count() == 1
    assert Campaign.objects.get().commission_bps == 3500
    assert App.objects.get().name == "InvoicePro 2"
    assert second["apps"]["invoicepro"] == {
        "id": first["apps"]["invoicepro"]["id"],
        "created": False,
    }
    assert second["enrollments"] == first["enrollments"]


@pytest.mark.django_db
def test_an_approval_campaign_is_enrolled_active_by_the_operator(tmp_path):
    data = spec()
    data["campaigns"][0]["visibility"] = "approval"
    run(tmp_path, data)
    assert Enrollment.objects.get().status == "active"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: d["campaigns"].append(
                {"app": "invoicepro", "slug": "cheap", "name": "Cheap", "commission_percent": 20}
            ),
            "campaigns[1].commission_percent: recurring campaigns pay at least 30%",
        ),
        (
            lambda d: d["campaigns"][0].update(app="nope"),
            "campaigns[0].app: no app with slug 'nope'",
        ),
        (
            lambda d: d["apps"][0].update(currency="dollars"),
            "apps[0].currency: not an ISO 4217 currency code: 'dollars'",
        ),
        (
            lambda d: d["campaigns"][0].update(cookie_days="sixty"),
            "campaigns[0].cookie_days: must be a whole number",
        ),
        (
            lambda d: d["enrollments"].append(
                {"affiliate": "ghost@example.com", "campaign": "launch"}
            ),
            "enrollments[1].affiliate: no affiliate with email 'ghost@example.com'",
        ),
        (
            lambda d: d["affiliates"][0].update(approved=False, email="new@example.com"),
            "enrollments[0].affiliate: no affiliate with email 'jane@example.com'",
        ),
        (
            lambda d: d["apps"][0].update(name="Invoice\x00Pro"),
            "apps[0].name: contains a NUL character, which is not allowed",
        ),
        (
            lambda d: d["campaigns"][0].update(commission_percent=30.001),
            "campaigns[0].commission_percent: must have at most two decimals",
        ),
        (
            lambda d: d["campaigns"][0].update(colour="red"),
            "campaigns[0].colour: is not a known field",
        ),
        (
            lambda d: d["affiliates"][0].update(paypal_email="not-an-email"),
            "affiliates[0].paypal_email: Enter a valid email address.",
        ),
        (
            lambda d: d["affiliates"][0].update(email="jane at example"),
            "affiliates[0].email: Enter a valid email address.",
        ),
        (
            lambda d: d["apps"][0].update(signing_secret="secret"),
            "apps[0].signing_secret: must be whsec_ followed by base64 of at least 24 bytes",
        ),
    ],
)
def test_a_bad_file_names_entry_and_field_and_changes_nothing(tmp_path, mutate, message):
    data = spec()
    mutate(data)
    with pytest.raises(CommandError) as exc:
        run(tmp_path, data)
    assert str(exc.value) == message
    assert counts() == (0, 0, 0, 0)


@pytest.mark.django_db
def test_an_unapproved_affiliate_cannot_be_enrolled(tmp_path):
    data = spec()
    data["affiliates"][0]["approved"] = False
    with pytest.raises(CommandError) as exc:
        run(tmp_path, data)
    assert str(exc.value) == (
        "enrollments[0].affiliate: your affiliate application is waiting for approval"
    )
    assert counts() == (0, 0, 0, 0)


@pytest.mark.django_db
def test_a_failure_late_in_the_file_rolls_back_an_earlier_update(tmp_path):
    run(tmp_path, spec())
    data = spec()
    data["apps"][0]["name"] = "Renamed"
    data["enrollments"][0]["campaign"] = "missing"

    with pytest.raises(CommandError) as exc:
        run(tmp_path, data)

    assert str(exc.value) == "enrollments[0].campaign: no such campaign"
    assert App.objects.get().name == "InvoicePro"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON (line 1, column 2)"),
        ("[]", "the top level must be an object"),
    ],
)
def test_an_unreadable_file_is_refused(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(CommandError) as exc:
        call_command("provision", str(path), stdout=StringIO())
    assert str(exc.value) == f"{path}: {message}"
    assert counts() == (0, 0, 0, 0)


@pytest.mark.django_db
def test_a_given_signing_secret_is_kept_and_not_printed(tmp_path):
    data = spec()
    data["apps"][0]["signing_secret"] = "whsec_" + "A" * 44
    out = run(tmp_path, data)
    assert "signing_secret" not in out["apps"]["invoicepro"]
    assert App.objects.get().signing_secret == "whsec_" + "A" * 44
