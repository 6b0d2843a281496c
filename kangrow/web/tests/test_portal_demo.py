"""Every portal page of this area answers for the demo affiliate with the demo data: no 500."""

import io

import pytest
from django.core.cache import cache
from django.core.management import call_command
from PIL import Image

from kangrow.accounts.api import get_user_by_email
from kangrow.programs import api as programs

from .portal_fixtures import client_for

pytestmark = pytest.mark.django_db


def test_the_demo_affiliate_walks_every_page(settings, tmp_path):
    # given the demo data
    settings.MEDIA_ROOT = tmp_path
    cache.clear()
    call_command("demo", stdout=io.StringIO())
    user = get_user_by_email(email="affiliate@kangrow.local")
    waiting = get_user_by_email(email="pending@kangrow.local")
    enrollments = [e for e in programs.list_enrollments(affiliate_id=user.pk) if e.is_live()]
    assert enrollments
    client = client_for(user)
    # when the approved affiliate opens each page, then each answers
    for path in ("/onboarding/", "/campaigns/"):
        assert client.get(path).status_code == 200
    for app in programs.list_active_apps():
        assert client.get(f"/onboarding/apps/{app.slug}/").status_code == 200
    for e in enrollments:
        page = client.get(f"/campaigns/{e.campaign_slug}/")
        assert page.status_code == 200
        assert e.coupon_code in page.content.decode()
        for size, dims in (("300x250", (300, 250)), ("728x90", (728, 90))):
            banner = client.get(f"/campaigns/{e.campaign_slug}/banners/{size}.png")
            assert Image.open(io.BytesIO(banner.content)).size == dims
        assert client.get(f"/campaigns/{e.campaign_slug}/qr.svg").status_code == 200
    # and the affiliate waiting for approval reads the briefs but not the catalog
    waiting_client = client_for(waiting)
    assert waiting_client.get("/onboarding/").status_code == 200
    assert waiting_client.get("/campaigns/")["Location"] == "/onboarding/waiting"
    cache.clear()
