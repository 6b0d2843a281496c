"""Affiliates join and leave campaigns (access token): POST /campaigns/<slug>/join|leave."""

from typing import Annotated

from django.http import HttpRequest
from ninja import Path, Router

from kangrow.programs import api as programs_api

from .auth import AffiliateToken, CredentialThrottle, errors
from .base import ApiError
from .me import EnrollmentOut, enrollment_out

router = Router(tags=["me"], auth=AffiliateToken(), throttle=[CredentialThrottle()])

_STATUS = {
    "unknown_campaign": 404,
    "not_enrolled": 404,
    "unknown_affiliate": 403,
    "not_allowed": 403,
    "not_verified": 403,
    "not_approved": 403,
    "rejected": 409,
    "campaign_closed": 409,
}

Slug = Annotated[str, Path(max_length=64)]


def program_error(exc: programs_api.ProgramError) -> ApiError:
    return ApiError(_STATUS.get(exc.code, 422), exc.code, exc.message, {"field": exc.field})


@router.post(
    "/{slug}/join",
    response={200: EnrollmentOut, **errors(401, 403, 404, 409)},
    summary="Join a campaign (open: active at once; approval: pending); idempotent",
)
def join(request: HttpRequest, slug: Slug) -> EnrollmentOut:
    try:
        e = programs_api.join_campaign(affiliate_id=request.auth.user.pk, campaign_slug=slug)  # type: ignore[attr-defined]
    except programs_api.ProgramError as exc:
        raise program_error(exc)
    return enrollment_out(e)


@router.post(
    "/{slug}/leave",
    response={200: EnrollmentOut, **errors(401, 403, 404, 409)},
    summary="Leave a campaign: no new attribution; existing referrals keep their terms",
)
def leave(request: HttpRequest, slug: Slug) -> EnrollmentOut:
    try:
        e = programs_api.leave_campaign(affiliate_id=request.auth.user.pk, campaign_slug=slug)  # type: ignore[attr-defined]
    except programs_api.ProgramError as exc:
        raise program_error(exc)
    return enrollment_out(e)
