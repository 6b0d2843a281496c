"""Authentication from the users_tokens session token (replaces Django's session auth).

The raw token lives in Django's signed session (and, with "remember me", in a signed cookie
for 14 days); the database holds only its digest. Every request re-checks the user, so a ban,
block or soft delete ends a live session at once.
"""

from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.auth.models import AnonymousUser
from django.utils.functional import SimpleLazyObject

from . import api

SESSION_KEY = "user_token"
REMEMBER_ME_COOKIE = "_kangrow_remember_me"
REMEMBER_ME_SALT = "kangrow.remember_me"
REMEMBER_ME_MAX_AGE = int(api.SESSION_VALIDITY.total_seconds())


def _load_user(request):  # type: ignore[no-untyped-def]
    token = request.session.get(SESSION_KEY)
    from_cookie = False
    if not token:
        token = request.get_signed_cookie(
            REMEMBER_ME_COOKIE, default=None, salt=REMEMBER_ME_SALT, max_age=REMEMBER_ME_MAX_AGE
        )
        from_cookie = bool(token)
    found = api.get_user_by_session_token(token=token) if token else None
    if found is None:
        if token and not from_cookie:
            request.session.pop(SESSION_KEY, None)
        request.user_token = None
        return AnonymousUser()
    user, row = found
    if from_cookie:
        request.session.cycle_key()
        request.session[SESSION_KEY] = token
    request.user_token = row
    return user


def current_token(request):  # type: ignore[no-untyped-def]
    """The users_tokens row of this request's session (None when anonymous)."""
    _ = request.user.is_authenticated  # resolve the lazy user, which sets user_token
    return getattr(request, "user_token", None)


class SessionTokenAuthMiddleware(AuthenticationMiddleware):
    """Takes AuthenticationMiddleware's place (the admin checks for it by class)."""

    def process_request(self, request):  # type: ignore[no-untyped-def]
        request.user_token = None
        request.user = SimpleLazyObject(lambda: _load_user(request))
