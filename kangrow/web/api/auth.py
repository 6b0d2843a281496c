"""Who calls the API, and how often: bearer credentials, rate limits, and /api/v1/auth/*.

Three kinds of bearer credential, told apart by their form:

* `kg_app_…`: an app key (acts for one app: report signups, check coupons);
* `kg_staff_…`: a staff key with scopes (provisioning);
* anything else: an affiliate access token from POST /auth/token (15 minutes).

No, unknown, expired or revoked credential: 401 `unauthorized`. A valid credential of the wrong
kind: 403 `wrong_credential`. A staff key without the operation's scope: 403 `missing_scope`.
Rate limits: per credential on every authenticated operation (KANGROW_API_RATE), per client IP
on /auth/* (KANGROW_API_AUTH_RATE); over the limit: 429 `rate_limited` with Retry-After.
"""

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja import Field, Router, Schema
from ninja.security import HttpBearer
from ninja.throttling import SimpleRateThrottle

from kangrow.accounts import api as accounts_api
from kangrow.apikeys import api as apikeys_api

from .base import ApiError

# --- credentials ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    kind: str  # "app", "staff" or "affiliate"
    ident: str  # stable id for rate limits
    key: apikeys_api.ApiKeyRef | None = None
    user: Any = None  # the affiliate (accounts User) for kind "affiliate"


def resolve_credential(token: str) -> Principal | None:
    if apikeys_api.looks_like_api_key(token):
        key = apikeys_api.authenticate_api_key(raw=token)
        return None if key is None else Principal(kind=key.kind, ident=f"key:{key.id}", key=key)
    user = accounts_api.get_user_by_access_token(token=token)
    return None if user is None else Principal(kind="affiliate", ident=f"user:{user.pk}", user=user)


_KIND_NAMES = {"app": "an app API key", "staff": "a staff API key", "affiliate": "an access token"}


class _Bearer(HttpBearer):
    kind = ""

    def authenticate(self, request: HttpRequest, token: str) -> Principal | None:
        principal = resolve_credential(token)
        if principal is None:
            return None
        if principal.kind != self.kind:
            raise ApiError(
                403,
                "wrong_credential",
                f"This operation needs {_KIND_NAMES[self.kind]}.",
                {"needs": self.kind, "got": principal.kind},
            )
        return principal


class AppKey(_Bearer):
    """`Authorization: Bearer kg_app_…`"""

    kind = "app"


class AffiliateToken(_Bearer):
    """`Authorization: Bearer <access_token from POST /api/v1/auth/token>`"""

    kind = "affiliate"


class StaffKey(_Bearer):
    """`Authorization: Bearer kg_staff_…` with the operation's scope."""

    kind = "staff"

    def __init__(self, scope: str) -> None:
        super().__init__()
        self.scope = scope

    def authenticate(self, request: HttpRequest, token: str) -> Principal | None:
        principal = super().authenticate(request, token)
        if principal is not None and not principal.key.has_scope(self.scope):  # type: ignore[union-attr]
            raise ApiError(
                403,
                "missing_scope",
                f"This key lacks the {self.scope!r} scope.",
                {"scope": self.scope},
            )
        return principal


# --- rate limits ----------------------------------------------------------------------------


class _SettingsRateThrottle(SimpleRateThrottle):
    """A ninja throttle whose rate is read from settings at each request (tests may change it)."""

    setting = ""

    def __init__(self) -> None:
        self.rate = None
        self.num_requests = self.duration = None

    def allow_request(self, request: HttpRequest) -> bool:
        self.rate = getattr(settings, self.setting)
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request)


class CredentialThrottle(_SettingsRateThrottle):
    setting = "KANGROW_API_RATE"

    def get_cache_key(self, request: HttpRequest) -> str | None:
        principal = getattr(request, "auth", None)
        ident = principal.ident if isinstance(principal, Principal) else self.get_ident(request)
        return f"kangrow:throttle:api:{ident}"


class IpThrottle(_SettingsRateThrottle):
    setting = "KANGROW_API_AUTH_RATE"

    def get_cache_key(self, request: HttpRequest) -> str | None:
        return f"kangrow:throttle:auth:{self.get_ident(request)}"


# --- /auth ----------------------------------------------------------------------------------

router = Router(tags=["auth"], auth=None, throttle=[IpThrottle()])


def _text(max_length: int) -> Any:
    return Field(..., min_length=1, max_length=max_length)


class TokenIn(Schema):
    email: str = _text(255)
    password: str = _text(1024)
    device_info: str | None = Field(None, max_length=255)


class RefreshIn(Schema):
    refresh_token: str = _text(255)
    device_info: str | None = Field(None, max_length=255)


class RevokeIn(Schema):
    refresh_token: str = _text(255)


class TokenOut(Schema):
    access_token: str
    token_type: str = "Bearer"
    expires_in: int
    refresh_token: str


class RevokeOut(Schema):
    revoked: bool


class ErrorBody(Schema):
    code: str
    message: str
    details: Any = None


class ErrorOut(Schema):
    """Every error: {"error": {"code", "message", "details"}}."""

    error: ErrorBody


def errors(*codes: int) -> dict[int, type[ErrorOut]]:
    """Response declarations for the error statuses an operation may answer."""
    return {code: ErrorOut for code in (*codes, 422, 429)}


_TOKEN_STATUS = {
    "invalid_credentials": 401,
    "invalid_token": 401,
    "token_reused": 401,
    "locked_out": 429,
    "account_disabled": 403,
    "email_not_verified": 403,
    "not_approved": 403,
    "invalid": 422,
}


def _token_error(exc: accounts_api.ApiTokenError) -> ApiError:
    return ApiError(_TOKEN_STATUS.get(exc.code, 400), exc.code, exc.message)


def _token_out(tokens: accounts_api.ApiTokens) -> TokenOut:
    return TokenOut(
        access_token=tokens.access_token,
        expires_in=tokens.expires_in,
        refresh_token=tokens.refresh_token,
    )


@router.post(
    "/token",
    response={200: TokenOut, **errors(401, 403, 415)},
    summary="Log in: an access token (15 minutes) and a refresh token",
)
def issue_token(request: HttpRequest, body: TokenIn) -> TokenOut:
    if request.content_type != "application/json":
        # django-axes reads request.POST on a failed log-in: a form or multipart body is refused
        # here rather than parsed twice.
        raise ApiError(415, "unsupported_media_type", "Send the body as application/json.")
    try:
        tokens = accounts_api.issue_api_tokens(
            request=request, email=body.email, password=body.password, device_info=body.device_info
        )
    except accounts_api.ApiTokenError as exc:
        # axes' middleware would swap our JSON 429 for its HTML lockout page: answer it here.
        request.axes_locked_out = False  # type: ignore[attr-defined]
        raise _token_error(exc)
    return _token_out(tokens)


@router.post(
    "/refresh",
    response={200: TokenOut, **errors(401, 403)},
    summary="Rotate a refresh token (reuse of a revoked one revokes the whole log-in)",
)
def refresh_token(request: HttpRequest, body: RefreshIn) -> TokenOut:
    try:
        tokens = accounts_api.rotate_refresh_token(
            token=body.refresh_token, device_info=body.device_info
        )
    except accounts_api.ApiTokenError as exc:
        raise _token_error(exc)
    return _token_out(tokens)


@router.post(
    "/revoke",
    response={200: RevokeOut, **errors()},
    summary="Log out: revoke the refresh token, its rotations and their access tokens",
)
def revoke_token(request: HttpRequest, body: RevokeIn) -> RevokeOut:
    return RevokeOut(revoked=accounts_api.revoke_refresh_token(token=body.refresh_token))
