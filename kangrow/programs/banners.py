"""Banner PNGs rendered with Pillow, per enrollment: the affiliate's own coupon code and link
drawn on a staff-uploaded template (background image, logo, text-box positions) or, when the
app has none for that size, on the app's brand colour with its name as a wordmark.

Only Pillow's bundled font is used (ImageFont.load_default(size=...)), so no system font is
needed. Called through kangrow.programs.api.render_banner (which caches the bytes).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageColor, ImageDraw, ImageFont, ImageOps

from .marketing_models import BANNER_SIZES, BannerTemplate

DEFAULT_BRAND = "#0B6E4F"


@dataclass(frozen=True)
class BannerText:
    app_name: str
    headline: str
    coupon_code: str
    link: str
    brand_color: str


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=max(6, size))


def _rgb(value: str, fallback: str = DEFAULT_BRAND) -> tuple[int, int, int]:
    try:
        return ImageColor.getrgb(value or fallback)[:3]  # type: ignore[return-value]
    except ValueError:
        return ImageColor.getrgb(fallback)[:3]  # type: ignore[return-value]


def _contrast(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    r, g, b = rgb
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return (17, 24, 39) if luminance > 150 else (255, 255, 255)


def _fit_text(
    draw: ImageDraw.ImageDraw, text: str, size: int, max_width: int
) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    """The largest font no bigger than `size` that keeps `text` within `max_width`."""
    while size > 8:
        font = _font(size)
        if draw.textlength(text, font=font) <= max_width:
            return font
        size -= 1
    return _font(8)


def _open_image(field) -> Image.Image | None:  # type: ignore[no-untyped-def]
    if not field:
        return None
    try:
        with field.open("rb") as fh:
            image = Image.open(fh)
            image.load()
        return image.convert("RGBA")
    except (OSError, ValueError, Image.DecompressionBombError):
        return None  # a missing, broken or oversized upload falls back to the brand colour


def _default_layout(w: int, h: int) -> dict[str, tuple[int, int, int]]:
    """(x, y, font size) of headline, code and link for a banner without a template."""
    if h <= 120:  # leaderboard: one row
        return {
            "headline": (16, 10, 20),
            "code": (16, 36, 30),
            "link": (w // 2 + 40, 40, 14),
        }
    pad = max(16, w // 24)
    return {
        "headline": (pad, int(h * 0.12), max(18, h // 11)),
        "code": (pad, int(h * 0.42), max(26, h // 7)),
        "link": (pad, int(h * 0.78), max(12, h // 22)),
    }


def _brand_logo(canvas: Image.Image, logo: Image.Image) -> tuple[int, int]:
    """Draw the app's logo in the top-right corner; returns the width it takes (with its
    margins) and its bottom edge, so texts beside it stay clear of it."""
    w, h = canvas.size
    pad = 10 if h <= 120 else max(12, w // 40)
    height = max(1, min(h - 2 * pad, 60 if h <= 120 else h // 5))
    width = max(1, round(logo.width * height / logo.height))
    width = min(width, w // 3)
    logo = logo.copy()
    logo.thumbnail((width, height))
    top = (h - logo.height) // 2 if h <= 120 else pad
    canvas.alpha_composite(logo, (w - pad - logo.width, top))
    return logo.width + 2 * pad, top + logo.height


def render(
    *,
    size: str,
    text: BannerText,
    template: BannerTemplate | None,
    brand_logo: Any = None,
) -> bytes:
    """The PNG bytes of one banner. `size` is a key of BANNER_SIZES. Without a template the
    banner is the brand colour with `brand_logo` (an image file field, optional) top right."""
    w, h = BANNER_SIZES[size]
    logo_width, logo_bottom = 0, 0
    brand = _rgb(text.brand_color)
    canvas = Image.new("RGBA", (w, h), brand + (255,))
    background = _open_image(template.background) if template else None
    if background is not None:
        canvas = ImageOps.fit(background, (w, h)).convert("RGBA")
    draw = ImageDraw.Draw(canvas)
    if template is not None:
        colour = _rgb(template.text_color, "#FFFFFF")
        layout = {
            "headline": (template.headline_x, template.headline_y, template.headline_size),
            "code": (template.code_x, template.code_y, template.code_size),
            "link": (template.link_x, template.link_y, template.link_size),
        }
        headline = template.headline or text.headline
        logo = _open_image(template.logo)
        if logo is not None and logo.height:
            height = max(1, min(template.logo_height, h))
            width = max(1, round(logo.width * height / logo.height))
            logo = logo.resize((width, height))
            canvas.alpha_composite(logo, (min(template.logo_x, w - 1), min(template.logo_y, h - 1)))
    else:
        colour = _contrast(brand)
        layout = _default_layout(w, h)
        headline = text.headline
        logo = _open_image(brand_logo)
        if logo is not None and logo.height:
            logo_width, logo_bottom = _brand_logo(canvas, logo)
            if h > 120:  # tall banners: the headline goes below the logo, full width
                hx, _, hs = layout["headline"]
                layout["headline"] = (hx, logo_bottom + 6, hs)

    # A contrasting box behind the code makes it readable on any background.
    def right_margin(top: int) -> int:
        return max(8, logo_width) if top < logo_bottom else 8

    x, y, s = layout["code"]
    code_font = _fit_text(draw, text.coupon_code, s, w - x - max(24, right_margin(y)))
    left, top, right, bottom = draw.textbbox((x, y), text.coupon_code, font=code_font)
    box = (left - 8, top - 6, right + 8, bottom + 6)
    draw.rounded_rectangle(box, radius=6, fill=colour + (255,))
    draw.text((x, y), text.coupon_code, font=code_font, fill=_contrast(colour) + (255,))
    hx, hy, hs = layout["headline"]
    fit = _fit_text(draw, headline, hs, w - hx - right_margin(hy))
    draw.text((hx, hy), headline, font=fit, fill=colour)
    lx, ly, ls = layout["link"]
    fit = _fit_text(draw, text.link, ls, w - lx - right_margin(ly))
    draw.text((lx, ly), text.link, font=fit, fill=colour)
    out = io.BytesIO()
    canvas.convert("RGB").save(out, format="PNG", optimize=True)
    return out.getvalue()
