"""Permission matrix of the portal's onboarding, catalog and enrollment pages: anonymous,
unverified, unapproved, approved affiliate, another affiliate, staff. The enrollment pages
belong to `approved`; `another` is approved too but never joined, so they are a 404 for them."""

import uuid

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile

from kangrow.onboarding.models import BriefRead, OnboardingProgress
from kangrow.programs import api as programs
from kangrow.programs.models import CampaignAsset, Enrollment

from .portal_fixtures import PEOPLE, client_for, make_person, make_programs

pytestmark = pytest.mark.django_db

LOGIN = "/accounts/log-in?next="
WAIT = "/onboarding/waiting"
OK = 200
NOT_FOUND = 404
ASSET_ID = uuid.UUID("01900000-0000-7000-8000-000000000001")


def _row(anonymous, unverified, unapproved, approved, another, staff):  # type: ignore[no-untyped-def]
    answers = (anonymous, unverified, unapproved, approved, another, staff)
    return dict(zip(PEOPLE, answers, strict=True))


READ_ANYONE = _row(LOGIN, OK, OK, OK, OK, OK)
APPROVED_ONLY = _row(LOGIN, WAIT, WAIT, OK, OK, WAIT)
OWNER_ONLY = _row(LOGIN, WAIT, WAIT, OK, NOT_FOUND, WAIT)

MATRIX = {
    "/onboarding/": READ_ANYONE,
    "/onboarding/apps/invoicepro/": READ_ANYONE,
    "/campaigns/": APPROVED_ONLY,
    "/campaigns/?app=taskflow": APPROVED_ONLY,
    "/campaigns/launch/": OWNER_ONLY,
    "/campaigns/launch/leave": OWNER_ONLY,
    "/campaigns/launch/qr.svg": OWNER_ONLY,
    "/campaigns/launch/qr.png": OWNER_ONLY,
    "/campaigns/launch/banners/300x250.png": OWNER_ONLY,
    "/campaigns/launch/assets/{asset}": OWNER_ONLY,
}


@pytest.fixture(autouse=True)
def _clean_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def world(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    programs_ = make_programs()
    CampaignAsset.objects.create(
        id=ASSET_ID,
        campaign=programs_["launch"],
        title="Logo pack",
        file=SimpleUploadedFile("logos.zip", b"PK logos"),
    )
    owner = make_person("approved")
    programs.join_campaign(affiliate_id=owner.pk, campaign_slug="launch")
    return owner


def _expect(response, expected) -> None:  # type: ignore[no-untyped-def]
    if expected in (OK, NOT_FOUND):
        assert response.status_code == expected
    else:
        assert response.status_code == 302
        assert response["Location"].startswith(expected)


@pytest.mark.parametrize("person", PEOPLE)
@pytest.mark.parametrize("path", list(MATRIX))
def test_page_access(world, path, person):
    # given a person of each kind (the owner is `approved`, already enrolled in `launch`)
    user = world if person == "approved" else make_person(person)
    client = client_for(user)
    # when they open the page
    response = client.get(path.format(asset=ASSET_ID))
    # then they get it, are sent to log in or to the waiting page, or get a 404
    _expect(response, MATRIX[path][person])


POSTS = {
    "/campaigns/flow/join": _row(LOGIN, WAIT, WAIT, 302, 302, WAIT),
    "/campaigns/launch/leave": _row(LOGIN, WAIT, WAIT, 302, NOT_FOUND, WAIT),
    "/onboarding/shared/launch": _row(LOGIN, WAIT, WAIT, OK, NOT_FOUND, WAIT),
    "/onboarding/apps/invoicepro/read": _row(LOGIN, 302, 302, 302, 302, 302),
}


@pytest.mark.parametrize("person", PEOPLE)
@pytest.mark.parametrize("path", list(POSTS))
def test_actions_are_gated_and_denied_ones_write_nothing(world, path, person):
    # given a person of each kind and the state before
    user = world if person == "approved" else make_person(person)
    client = client_for(user)
    before = (
        list(Enrollment.objects.values_list("id", "status", "affiliate_id").order_by("id")),
        BriefRead.objects.count(),
        OnboardingProgress.objects.filter(first_link_shared_at__isnull=False).count(),
    )
    # when they post the action
    response = client.post(path)
    # then the answer matches the matrix
    expected = POSTS[path][person]
    if expected == 302:
        assert response.status_code == 302
    else:
        _expect(response, expected)
    after = (
        list(Enrollment.objects.values_list("id", "status", "affiliate_id").order_by("id")),
        BriefRead.objects.count(),
        OnboardingProgress.objects.filter(first_link_shared_at__isnull=False).count(),
    )
    # and a denied action changed nothing
    if expected not in (OK, 302):
        assert after == before


def test_another_affiliate_cannot_reach_the_owners_banner_even_with_their_own_enrollment(world):
    # given another affiliate enrolled in a different campaign
    other = make_person("another")
    programs.join_campaign(affiliate_id=other.pk, campaign_slug="flow")
    client = client_for(other)
    # when they ask for banners and QR codes of the owner's campaign and of their own
    theirs = client.get("/campaigns/flow/banners/728x90.png")
    owners = client.get("/campaigns/launch/banners/728x90.png")
    # then only their own enrollment answers
    assert theirs.status_code == 200
    assert theirs["Content-Type"] == "image/png"
    assert owners.status_code == 404


def test_unknown_sizes_slugs_and_nul_characters_are_404s_not_500s(world):
    client = client_for(world)
    assert client.get("/campaigns/launch/banners/999x999.png").status_code == 404
    assert client.get("/campaigns/nope/").status_code == 404
    assert client.get("/campaigns/?app=%00").status_code == 200
    assert client.get("/onboarding/apps/nope/").status_code == 404
    assert client.post("/onboarding/apps/nope/read").status_code == 404
    assert client.post("/campaigns/nope/join").status_code == 404
    assert BriefRead.objects.count() == 0


@pytest.mark.parametrize(
    ("person", "location"),
    [("anonymous", "/accounts/log-in?next=%2Fcampaigns%2Fflow%2Fjoin"), ("unapproved", WAIT)],
)
def test_htmx_requests_denied_by_a_gate_navigate_instead_of_swapping_a_page(
    world, person, location
):
    # given someone who may not join, on a stale catalog page
    client = client_for(make_person(person))
    # when their HTMX join arrives
    response = client.post("/campaigns/flow/join", HTTP_HX_REQUEST="true")
    # then htmx is told to navigate to the gate's page, and nothing was written
    assert (response.status_code, response["HX-Redirect"]) == (204, location)
    assert Enrollment.objects.filter(campaign__slug="flow").count() == 0
