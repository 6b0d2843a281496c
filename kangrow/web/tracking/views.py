from django.http import HttpRequest, HttpResponseRedirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from kangrow.tracking import api as tracking

UTM_KEYS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")


@never_cache
@require_safe
def follow_link(request: HttpRequest, token: str) -> HttpResponseRedirect:
    """Record the click (for a live link) and send the visitor on with ref=<token>."""
    location = tracking.record_click(
        token=token,
        ip=request.META.get("REMOTE_ADDR", ""),
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
        referrer=request.META.get("HTTP_REFERER", ""),
        utm={key: request.GET.get(key, "") for key in UTM_KEYS},
    )
    response = HttpResponseRedirect(location)
    response["Referrer-Policy"] = "no-referrer-when-downgrade"
    return response
