"""Banners: real PNGs of the standard sizes with the affiliate's own code and link, from the
app's brand colour or from a template staff upload; only for the enrollment's owner."""

import io

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image, ImageChops, ImageDraw

from kangrow.programs import api as programs
from kangrow.programs import banners
from kangrow.programs.models import AppBranding, BannerTemplate

from .portal_fixtures import client_for, make_person, make_programs

pytestmark = pytest.mark.django_db
SIZES = {"300x250": (300, 250), "728x90": (728, 90), "1200x628": (1200, 628)}


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.KANGROW_BASE_URL = "https://go.kangrow.test"
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def two_affiliates():
    make_programs()
    jane, otto = make_person("approved"), make_person("another")
    for user in (jane, otto):
        programs.join_campaign(affiliate_id=user.pk, campaign_slug="launch")
    return jane, otto


def _png(response) -> Image.Image:  # type: ignore[no-untyped-def]
    assert response.status_code == 200
    assert response["Content-Type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.format == "PNG"
    return image.convert("RGB")


@pytest.mark.parametrize("size", list(SIZES))
def test_each_size_is_a_png_of_that_size_and_differs_between_affiliates(two_affiliates, size):
    jane, otto = two_affiliates
    # when each affiliate downloads the banner of the same campaign
    mine = _png(client_for(jane).get(f"/campaigns/launch/banners/{size}.png"))
    theirs = _png(client_for(otto).get(f"/campaigns/launch/banners/{size}.png"))
    # then both have the exact size, the brand colour, and their pixels differ (own code)
    assert mine.size == theirs.size == SIZES[size]
    assert mine.getpixel((2, 2)) == theirs.getpixel((2, 2)) == (0x1E, 0x40, 0xAF)
    assert ImageChops.difference(mine, theirs).getbbox() is not None


def test_the_code_is_drawn_where_the_layout_puts_it():
    # given two banners that differ only by the coupon code
    def text(code: str) -> banners.BannerText:
        return banners.BannerText(
            app_name="InvoicePro",
            headline="InvoicePro: save 20% with code",
            coupon_code=code,
            link="https://go.kangrow.test/r/abcdefgh",
            brand_color="#1E40AF",
        )

    a = Image.open(io.BytesIO(banners.render(size="300x250", text=text("JANE30-X"), template=None)))
    b = Image.open(io.BytesIO(banners.render(size="300x250", text=text("OTTO30-X"), template=None)))
    # then the pixels that differ lie inside the code's box of the default layout
    x, y, font_size = banners._default_layout(300, 250)["code"]
    draw = ImageDraw.Draw(Image.new("RGB", (300, 250)))
    boxes = [
        draw.textbbox((x, y), code, font=banners._fit_text(draw, code, font_size, 300 - x - 24))
        for code in ("JANE30-X", "OTTO30-X")
    ]
    # the rounded box around the code reaches 8 px left/right and 6 px above/below the text
    code_area = (
        min(b[0] for b in boxes) - 8,
        min(b[1] for b in boxes) - 6,
        max(b[2] for b in boxes) + 9,  # getbbox() ends are exclusive
        max(b[3] for b in boxes) + 7,
    )
    diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB")).getbbox()
    assert diff is not None
    assert code_area[0] <= diff[0] and code_area[1] <= diff[1]
    assert diff[2] <= code_area[2] and diff[3] <= code_area[3]


def test_a_staff_template_sets_the_background_and_a_change_is_not_served_stale(two_affiliates):
    jane, _ = two_affiliates
    client = client_for(jane)
    before = _png(client.get("/campaigns/launch/banners/728x90.png"))
    # given staff upload a red background template for InvoicePro's leaderboard
    background = io.BytesIO()
    Image.new("RGB", (1456, 180), (200, 10, 10)).save(background, format="PNG")
    app = programs.get_app_brief(slug="invoicepro")
    template = BannerTemplate.objects.create(
        app=app,
        size="728x90",
        name="Red",
        background=SimpleUploadedFile("red.png", background.getvalue()),
        code_x=300,
        code_y=20,
        headline_x=10,
        headline_y=10,
        link_x=10,
        link_y=60,
    )
    # when jane asks again, then the template is used at once
    after = _png(client.get("/campaigns/launch/banners/728x90.png"))
    assert after.size == (728, 90)
    assert after.getpixel((720, 85)) == (200, 10, 10)
    assert before.getpixel((720, 85)) == (0x1E, 0x40, 0xAF)
    # and a template edit gives a new banner, not the cached one
    template.text_color = "#000000"
    template.save()
    edited = _png(client.get("/campaigns/launch/banners/728x90.png"))
    assert ImageChops.difference(after, edited).getbbox() is not None


def test_the_download_variant_is_an_attachment(two_affiliates):
    jane, _ = two_affiliates
    response = client_for(jane).get("/campaigns/launch/banners/1200x628.png?download=1")
    assert response["Content-Disposition"] == ('attachment; filename="kangrow-launch-1200x628.png"')


def test_a_left_enrollment_has_no_banner(two_affiliates):
    jane, _ = two_affiliates
    programs.leave_campaign(affiliate_id=jane.pk, campaign_slug="launch")
    assert client_for(jane).get("/campaigns/launch/banners/300x250.png").status_code == 404


def test_a_template_cannot_pair_an_app_with_another_apps_campaign():
    from django.core.exceptions import ValidationError

    world = make_programs()
    template = BannerTemplate(app=world["taskflow"], campaign=world["launch"], size="300x250")
    template.name = "Wrong"
    with pytest.raises(ValidationError) as error:
        template.full_clean()
    assert error.value.message_dict["campaign"] == ["This campaign belongs to another app."]


@pytest.mark.parametrize(("size", "inside_logo"), [("300x250", (263, 37)), ("728x90", (688, 45))])
def test_without_a_template_the_apps_logo_sits_top_right_on_the_brand_colour(
    two_affiliates, size, inside_logo
):
    # given staff upload InvoicePro's logo (a green square)
    logo = io.BytesIO()
    Image.new("RGBA", (200, 200), (0, 160, 60, 255)).save(logo, format="PNG")
    AppBranding.objects.create(
        app=programs.get_app_brief(slug="invoicepro"),
        logo=SimpleUploadedFile("logo.png", logo.getvalue()),
    )
    jane, _ = two_affiliates
    # when jane's banner is rendered
    image = _png(client_for(jane).get(f"/campaigns/launch/banners/{size}.png"))
    # then the logo is drawn in the top-right corner and the rest keeps the brand colour
    assert image.getpixel(inside_logo) == (0, 160, 60)
    assert image.getpixel((2, 2)) == (0x1E, 0x40, 0xAF)


def test_positions_outside_the_banner_and_a_broken_upload_still_render(two_affiliates):
    # given a template whose boxes lie outside the banner and whose images are not images
    jane, _ = two_affiliates
    BannerTemplate.objects.create(
        app=programs.get_app_brief(slug="invoicepro"),
        size="300x250",
        name="Broken",
        background=SimpleUploadedFile("bg.png", b"not a png"),
        logo=SimpleUploadedFile("logo.png", b"nor this"),
        code_x=5000,
        code_y=5000,
        headline_x=900,
        link_y=4000,
        logo_height=10_000,
    )
    # when jane's banner is rendered, then it is still a 300x250 PNG on the brand colour
    image = _png(client_for(jane).get("/campaigns/launch/banners/300x250.png"))
    assert image.size == (300, 250)
    assert image.getpixel((150, 125)) == (0x1E, 0x40, 0xAF)
