"""Staff API (staff API keys with scopes): wire apps, campaigns, affiliates and enrollments by
script, read money events and retry a failed one. Every write goes through the same api
functions as `manage.py provision` and /admin.

| operation | scope |
|---|---|
| PUT /staff/apps/<slug>, POST /staff/apps/<slug>/webhook-endpoints | apps:write |
| PUT /staff/campaigns/<slug> | campaigns:write |
| POST /staff/affiliates/<id>/approve | affiliates:write |
| POST /staff/enrollments | enrollments:write |
| GET /staff/events | events:read |
| POST /staff/events/<id>/retry | events:write |
"""

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from django.http import HttpRequest
from ninja import Field, Path, Query, Router, Schema, Status
from ninja.pagination import paginate

from kangrow.accounts import api as accounts_api
from kangrow.ledger import api as ledger_api
from kangrow.programs import api as programs_api
from kangrow.webhooks_out import api as webhooks_api

from .auth import CredentialThrottle, StaffKey, errors
from .base import ApiError
from .campaigns import program_error
from .me import Pagination, link_for

router = Router(tags=["staff"], throttle=[CredentialThrottle()])

Slug = Annotated[str, Path(max_length=60, pattern=r"^[-a-zA-Z0-9_]+$")]


def _no_nul(fields: dict[str, Any]) -> None:
    for name, value in fields.items():
        if isinstance(value, str) and "\x00" in value:
            raise ApiError(422, "invalid", f"{name} contains a NUL character.", {"field": name})


# --- apps -----------------------------------------------------------------------------------


class AppIn(Schema):
    name: str | None = Field(None, min_length=1, max_length=120)
    site_url: str | None = Field(None, max_length=500)
    landing_url: str | None = Field(None, max_length=500)
    currency: str | None = Field(None, min_length=3, max_length=3)
    signing_secret: str | None = Field(None, max_length=200)
    goals: str | None = Field(None, max_length=10_000)
    value_proposition: str | None = Field(None, max_length=10_000)
    brand_color: str | None = Field(None, max_length=7)
    is_active: bool | None = None


class AppOut(Schema):
    id: UUID
    slug: str
    created: bool
    signing_secret: str | None = Field(
        description="Set only when KanGrow generated the secret now: shown once"
    )


@router.put(
    "/apps/{slug}",
    auth=StaffKey("apps:write"),
    response={200: AppOut, **errors(401, 403)},
    summary="Create an app or update the given fields (a generated secret is returned once)",
)
def put_app(request: HttpRequest, slug: Slug, body: AppIn) -> AppOut:
    fields = body.dict(exclude_unset=True)
    _no_nul(fields)
    fields = {k: v for k, v in fields.items() if v is not None}
    if not fields.get("name") and programs_api.get_app_by_slug(slug=slug) is None:
        raise ApiError(422, "invalid", "name is required for a new app.", {"field": "name"})
    try:
        app, created, secret = programs_api.upsert_app(slug=slug, fields=fields)
    except programs_api.ProgramError as exc:
        raise program_error(exc)
    return AppOut(id=app.id, slug=app.slug, created=created, signing_secret=secret)


class EndpointIn(Schema):
    url: str = Field(..., min_length=1, max_length=500)
    event_types: list[Literal[webhooks_api.EVENT_TYPES]] = Field(  # type: ignore[valid-type]
        default_factory=list, description="Empty: every type"
    )


class EndpointOut(Schema):
    id: UUID
    url: str
    event_types: list[str]
    secret: str = Field(description="Standard Webhooks secret (whsec_…): shown once")


@router.post(
    "/apps/{slug}/webhook-endpoints",
    auth=StaffKey("apps:write"),
    response={201: EndpointOut, **errors(401, 403, 404)},
    summary="Register an outbound webhook endpoint for an app (its secret is returned once)",
)
def add_endpoint(request: HttpRequest, slug: Slug, body: EndpointIn) -> Status[EndpointOut]:
    app = programs_api.get_app_by_slug(slug=slug)
    if app is None:
        raise ApiError(404, "unknown_app", f"No app with slug {slug!r}.")
    try:
        ref, secret = webhooks_api.create_endpoint(
            app_id=app.id, url=body.url, event_types=list(body.event_types)
        )
    except webhooks_api.WebhookError as exc:
        raise ApiError(422, exc.code, exc.message, {"field": exc.field})
    return Status(
        201, EndpointOut(id=ref.id, url=ref.url, event_types=list(ref.event_types), secret=secret)
    )


# --- campaigns ------------------------------------------------------------------------------


class CampaignIn(Schema):
    app: str = Field(..., min_length=1, max_length=60, description="The app's slug")
    name: str | None = Field(None, min_length=1, max_length=120)
    description: str | None = Field(None, max_length=10_000)
    landing_url: str | None = Field(None, max_length=500)
    commission_bps: int | None = Field(None, ge=0, le=10_000, description="3000 = 30%")
    recurring: bool | None = None
    recurring_months: int | None = Field(None, ge=1, le=1200)
    cookie_days: int | None = Field(None, ge=1, le=3650)
    customer_discount_bps: int | None = Field(None, ge=0, le=10_000)
    hold_days: int | None = Field(None, ge=0, le=3650)
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    status: str | None = Field(None, max_length=20)
    visibility: str | None = Field(None, max_length=20)


class CampaignOut(Schema):
    id: UUID
    slug: str
    app: str
    created: bool


@router.put(
    "/campaigns/{slug}",
    auth=StaffKey("campaigns:write"),
    response={200: CampaignOut, **errors(401, 403, 404)},
    summary="Create a campaign or update the given fields",
)
def put_campaign(request: HttpRequest, slug: Slug, body: CampaignIn) -> CampaignOut:
    fields = body.dict(exclude_unset=True)
    _no_nul(fields)
    app_slug = fields.pop("app")
    for name in ("name", "description", "landing_url", "status", "visibility", "recurring"):
        if fields.get(name, "") is None:
            fields.pop(name)
    try:
        campaign, created = programs_api.upsert_campaign(
            slug=slug, app_slug=app_slug, fields=fields
        )
    except programs_api.ProgramError as exc:
        if exc.code == "unknown_app":
            raise ApiError(404, exc.code, exc.message, {"field": exc.field})
        raise program_error(exc)
    return CampaignOut(id=campaign.id, slug=campaign.slug, app=app_slug, created=created)


# --- affiliates and enrollments -------------------------------------------------------------


class ApprovedOut(Schema):
    id: UUID
    approved: bool


@router.post(
    "/affiliates/{affiliate_id}/approve",
    auth=StaffKey("affiliates:write"),
    response={200: ApprovedOut, **errors(401, 403, 404, 409)},
    summary="Approve a verified affiliate (idempotent); they get the approval email",
)
def approve_affiliate(request: HttpRequest, affiliate_id: UUID) -> ApprovedOut:
    if accounts_api.approve_affiliates(user_ids=[affiliate_id]):
        return ApprovedOut(id=affiliate_id, approved=True)
    user = accounts_api.get_user(user_id=affiliate_id)
    if user is None or user.deleted_at is not None:
        raise ApiError(404, "unknown_affiliate", "No such affiliate.")
    if user.approved_affiliate and user.is_active:
        return ApprovedOut(id=affiliate_id, approved=True)
    reason = "is banned or blocked" if not user.is_active else "has not verified the email"
    raise ApiError(409, "not_approvable", f"This affiliate {reason}.")


class EnrollIn(Schema):
    affiliate: str = Field(..., min_length=3, max_length=255, description="The affiliate's email")
    campaign: str = Field(..., min_length=1, max_length=60, description="The campaign's slug")


class StaffEnrollmentOut(Schema):
    id: UUID
    affiliate: str
    campaign: str
    status: str
    coupon_code: str
    token: str
    link: str


@router.post(
    "/enrollments",
    auth=StaffKey("enrollments:write"),
    response={200: StaffEnrollmentOut, **errors(401, 403, 404, 409)},
    summary="Enroll an affiliate in a campaign (active at once); idempotent",
)
def enroll(request: HttpRequest, body: EnrollIn) -> StaffEnrollmentOut:
    _no_nul({"affiliate": body.affiliate, "campaign": body.campaign})
    user = accounts_api.get_user_by_email(email=body.affiliate)
    if user is None:
        raise ApiError(404, "unknown_affiliate", "No affiliate with this email.")
    try:
        ref = programs_api.join_campaign(affiliate_id=user.pk, campaign_slug=body.campaign)
        if ref.status == "pending":
            ref = programs_api.approve_enrollment(enrollment_id=ref.id)
    except programs_api.ProgramError as exc:
        raise program_error(exc)
    return StaffEnrollmentOut(
        id=ref.id,
        affiliate=ref.affiliate_email,
        campaign=ref.campaign_slug,
        status=ref.status,
        coupon_code=ref.coupon_code,
        token=ref.token,
        link=link_for(ref.token),
    )


# --- events ---------------------------------------------------------------------------------


class EventOut(Schema):
    id: UUID
    source: str
    external_id: str
    app_id: UUID
    type: str
    customer_id: str
    invoice_id: str
    status: str
    outcome: str
    attempts: int
    last_error: str
    occurred_at: datetime
    created_at: datetime
    processed_at: datetime | None


class EventFilter(Schema):
    status: Literal["received", "processed", "waiting", "failed"] | None = None
    app_id: UUID | None = None


@router.get(
    "/events",
    auth=StaffKey("events:read"),
    response={200: list[EventOut], **errors(401, 403)},
    summary="Stored money events, newest first",
)
@paginate(Pagination)
def list_events(request: HttpRequest, filters: Query[EventFilter]) -> Any:
    return ledger_api.list_events(status=filters.status, app_id=filters.app_id)


class RetryOut(Schema):
    id: UUID
    status: str


@router.post(
    "/events/{event_id}/retry",
    auth=StaffKey("events:write"),
    response={200: RetryOut, **errors(401, 403, 404)},
    summary="Process a waiting or failed event now",
)
def retry_event(request: HttpRequest, event_id: UUID) -> RetryOut:
    if not ledger_api.get_event(event_id=event_id):
        raise ApiError(404, "unknown_event", "No such event.")
    return RetryOut(id=event_id, status=ledger_api.retry_event(event_id=event_id))
