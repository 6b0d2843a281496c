"""The framework floor: the same 302 as /r/<token>, through the same middleware, no database."""

from django.http import HttpRequest, HttpResponseRedirect
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe


@never_cache
@require_safe
def floor(request: HttpRequest, token: str) -> HttpResponseRedirect:
    response = HttpResponseRedirect(f"https://app00.example/start?ref={token}")
    response["Referrer-Policy"] = "no-referrer-when-downgrade"
    return response
