"""The enrollment page: tracking link and coupon code with copy buttons, QR code, share texts,
banners and marketing assets, only for the enrollment's owner."""

import io
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from kangrow.onboarding.models import OnboardingProgress
from kangrow.programs import api as programs
from kangrow.programs.models import CampaignAsset

from .portal_fixtures import client_for, make_person, make_programs

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.KANGROW_BASE_URL = "https://go.kangrow.test"
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def jane():
    make_programs()
    user = make_person("approved")
    programs.join_campaign(affiliate_id=user.pk, campaign_slug="launch")
    return user


def _token(user) -> str:  # type: ignore[no-untyped-def]
    return programs.get_affiliate_enrollment(affiliate_id=user.pk, campaign_slug="launch").token


def test_the_page_shows_the_link_and_code_with_copy_buttons_and_a_nonced_script(jane):
    response = client_for(jane).get("/campaigns/launch/")
    html = response.content.decode()
    link = f"https://go.kangrow.test/r/{_token(jane)}"
    assert response.status_code == 200
    assert f'value="{link}"' in html
    assert 'value="JANE30-INVOICEPRO"' in html
    assert 'data-copy="tracking-link"' in html and 'data-copy="coupon-code"' in html
    nonce = re.search(r'<script src="/static/portal/portal\.js" nonce="([^"]+)"', html)
    assert nonce is not None
    assert f"'nonce-{nonce.group(1)}'" in response["Content-Security-Policy"]
    assert " onclick=" not in html


def test_share_texts_carry_the_value_proposition_discount_code_and_link(jane):
    response = client_for(jane).get("/campaigns/launch/")
    share = response.context["share"]
    link = f"https://go.kangrow.test/r/{_token(jane)}"
    pitch = "Send invoices that get paid twice as fast."
    offer = "Use my code JANE30-INVOICEPRO for 20% off."
    assert share.email_subject == "You should try InvoicePro"
    assert share.email_body == (
        f"Hi,\n\nI've been recommending InvoicePro. {pitch}\n\n{offer}\n"
        f"Start here: {link}\n\nCheers"
    )
    assert share.tweet == f"InvoicePro: {pitch} {offer} {link}"
    assert parse_qs(urlsplit(share.tweet_url).query)["text"] == [share.tweet]
    assert parse_qs(urlsplit(share.linkedin_url).query)["url"] == [link]
    assert share.linkedin == f"I recommend InvoicePro. {pitch}\n\n{offer}\n{link}"


def test_the_qr_code_is_an_svg_and_a_png_download_of_the_link(jane):
    client = client_for(jane)
    svg = client.get("/campaigns/launch/qr.svg")
    png = client.get("/campaigns/launch/qr.png")
    assert svg.status_code == 200 and svg["Content-Type"] == "image/svg+xml"
    assert svg.content.startswith(b"<svg") and b"<path" in svg.content
    assert png["Content-Disposition"] == 'attachment; filename="kangrow-launch-qr.png"'
    image = Image.open(io.BytesIO(png.content))
    assert image.format == "PNG"
    assert image.size[0] == image.size[1] > 100


def test_marketing_assets_are_listed_and_downloadable_by_the_owner_only(jane):
    # given one visible and one hidden asset on launch
    campaign = programs.list_catalog(campaign_slug="launch")[0]
    shown = CampaignAsset.objects.create(
        campaign=campaign,
        title="Logo pack",
        description="PNG and SVG logos.",
        file=SimpleUploadedFile("logos.zip", b"PK\x03\x04 logos"),
    )
    hidden = CampaignAsset.objects.create(
        campaign=campaign, title="Old", file=SimpleUploadedFile("old.txt", b"old"), is_active=False
    )
    client = client_for(jane)
    # when jane opens her page and downloads the asset
    html = client.get("/campaigns/launch/").content.decode()
    download = client.get(f"/campaigns/launch/assets/{shown.id}")
    # then only the visible asset is listed and its bytes come back as an attachment
    assert "Logo pack" in html and "PNG and SVG logos." in html and "Old" not in html
    assert download.status_code == 200
    assert b"".join(download.streaming_content) == b"PK\x03\x04 logos"
    assert download["Content-Disposition"].startswith("attachment;")
    assert client.get(f"/campaigns/launch/assets/{hidden.id}").status_code == 404
    # and another affiliate, even enrolled elsewhere, gets a 404
    other = make_person("another")
    programs.join_campaign(affiliate_id=other.pk, campaign_slug="flow")
    assert client_for(other).get(f"/campaigns/launch/assets/{shown.id}").status_code == 404
    assert client_for(other).get(f"/campaigns/flow/assets/{shown.id}").status_code == 404


def test_a_pending_enrollment_shows_no_link_code_or_banners(jane):
    programs.join_campaign(affiliate_id=jane.pk, campaign_slug="vip")
    client = client_for(jane)
    response = client.get("/campaigns/vip/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "waiting for staff approval" in html
    assert "/r/" not in html and "JANE40-INVOICEPRO" not in html
    assert client.get("/campaigns/vip/banners/300x250.png").status_code == 404
    assert client.get("/campaigns/vip/qr.svg").status_code == 404


def test_copy_and_share_clicks_record_the_first_share_once(jane):
    client = client_for(jane)
    first = client.post("/onboarding/shared/launch", HTTP_HX_REQUEST="true")
    shared_at = OnboardingProgress.objects.get(affiliate_id=jane.pk).first_link_shared_at
    client.post("/onboarding/shared/launch", HTTP_HX_REQUEST="true")
    assert first.status_code == 200
    assert 'id="onboarding-progress" hx-swap-oob="true"' in first.content.decode()
    assert shared_at is not None
    assert OnboardingProgress.objects.get(affiliate_id=jane.pk).first_link_shared_at == shared_at


def test_enrollment_page_queries_do_not_grow_with_assets(jane, django_assert_max_num_queries):
    campaign = programs.list_catalog(campaign_slug="launch")[0]
    for n in range(8):
        CampaignAsset.objects.create(
            campaign=campaign, title=f"Asset {n}", file=SimpleUploadedFile(f"a{n}.txt", b"x")
        )
    client = client_for(jane)
    client.get("/campaigns/launch/")
    with django_assert_max_num_queries(10):
        response = client.get("/campaigns/launch/")
    assert len(response.context["assets"]) == 8
