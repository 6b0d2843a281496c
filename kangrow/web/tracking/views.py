from urllib.parse import parse_qsl

from django.conf import settings
from django.core.handlers.wsgi import get_str_from_wsgi
from django.http import HttpRequest, HttpResponseRedirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from kangrow.tracking import api as tracking

UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


def _utm(request: HttpRequest) -> dict[str, str]:
    """The UTM parameters of the query string (the last of a repeated one, raw bytes decoded as
    UTF-8, as request.GET would give). parse_qsl directly: building request.GET costs 6.6 µs a
    redirect against 1.5 µs. A query string with more fields than Django accepts anywhere
    yields none, not an error."""
    query = get_str_from_wsgi(request.META, "QUERY_STRING", "")  # WSGI gives latin-1
    if not query:
        return {}
    try:
        pairs = parse_qsl(
            query,
            keep_blank_values=True,
            encoding=settings.DEFAULT_CHARSET,
            errors="replace",
            max_num_fields=settings.DATA_UPLOAD_MAX_NUMBER_FIELDS,
        )
    except ValueError:
        return {}
    return {key: value for key, value in pairs if key in UTM_KEYS}


@never_cache
@require_safe
def follow_link(request: HttpRequest, token: str) -> HttpResponseRedirect:
    """Record the click (for a live link) and send the visitor on with ref=<token>."""
    location = tracking.record_click(
        token=token,
        ip=request.META.get("REMOTE_ADDR", ""),
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
        referrer=request.META.get("HTTP_REFERER", ""),
        utm=_utm(request),
    )
    response = HttpResponseRedirect(location)
    response["Referrer-Policy"] = "no-referrer-when-downgrade"
    return response
