"""App endpoints (app API key): report a signup, check a coupon.

A coupon is valid for an app only when it belongs to a live enrollment of *that* app's
campaigns: a coupon of another app answers `valid: false` and reveals nothing about it.
"""

from datetime import datetime
from typing import Annotated
from uuid import UUID

from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Path, Router, Schema

from kangrow.programs import api as programs_api
from kangrow.tracking import api as tracking_api

from .auth import AppKey, CredentialThrottle, Principal, errors
from .base import ApiError

router = Router(tags=["apps"], auth=AppKey(), throttle=[CredentialThrottle()])


class ReferralIn(Schema):
    customer_id: str = Field(..., min_length=1, max_length=255)
    email: str | None = Field(None, max_length=320)
    ref: str | None = Field(None, max_length=64)
    coupon: str | None = Field(None, max_length=64)


class ReferralOut(Schema):
    id: UUID
    customer_id: str
    customer_email_masked: str
    affiliate_id: UUID
    campaign_id: UUID
    enrollment_id: UUID
    attributed_by: str
    commission_bps: int
    recurring: bool
    recurring_months: int | None
    status: str
    self_referral: bool
    referred_at: datetime


class AttributionOut(Schema):
    attributed: bool
    referral: ReferralOut | None


def referral_out(r: tracking_api.ReferralRef) -> ReferralOut:
    return ReferralOut(
        id=r.id,
        customer_id=r.customer_id,
        customer_email_masked=r.customer_email_masked,
        affiliate_id=r.affiliate_id,
        campaign_id=r.campaign_id,
        enrollment_id=r.enrollment_id,
        attributed_by=r.attributed_by,
        commission_bps=r.terms.commission_bps,
        recurring=r.terms.recurring,
        recurring_months=r.terms.recurring_months,
        status=r.status,
        self_referral=r.self_referral,
        referred_at=r.referred_at,
    )


@router.post(
    "/referrals",
    response={200: AttributionOut, **errors(401, 403)},
    summary="Report a signup; attributes it by coupon or ref (first attribution sticks)",
)
def report_signup(request: HttpRequest, body: ReferralIn) -> AttributionOut:
    principal: Principal = request.auth  # type: ignore[attr-defined]
    try:
        referral = tracking_api.attribute_customer(
            app_id=principal.key.app_id,  # type: ignore[union-attr,arg-type]
            customer_id=body.customer_id,
            email=body.email or None,
            coupon=body.coupon or None,
            ref=body.ref or None,
            occurred_at=timezone.now(),
        )
    except tracking_api.TrackingError as exc:
        raise ApiError(422, exc.code, exc.message, {"field": exc.field})
    if referral is None:
        return AttributionOut(attributed=False, referral=None)
    return AttributionOut(attributed=True, referral=referral_out(referral))


class NamedRef(Schema):
    slug: str
    name: str


class CouponOut(Schema):
    code: str
    valid: bool
    app: NamedRef | None
    campaign: NamedRef | None
    discount_bps: int | None = Field(description="Customer discount in basis points (2000 = 20%)")
    discount_percent: float | None


@router.get(
    "/coupons/{code}",
    response={200: CouponOut, **errors(401, 403)},
    summary="Is this coupon valid for the calling app, for which campaign, what discount",
)
def check_coupon(request: HttpRequest, code: Annotated[str, Path(max_length=64)]) -> CouponOut:
    principal: Principal = request.auth  # type: ignore[attr-defined]
    enrollment = programs_api.get_enrollment_by_coupon(code=code)
    if (
        enrollment is None
        or enrollment.app_id != principal.key.app_id  # type: ignore[union-attr]
        or not enrollment.is_live()
    ):
        return CouponOut(
            code=code,
            valid=False,
            app=None,
            campaign=None,
            discount_bps=None,
            discount_percent=None,
        )
    bps = enrollment.customer_discount_bps
    return CouponOut(
        code=enrollment.coupon_code,
        valid=True,
        app=NamedRef(slug=enrollment.app_slug, name=enrollment.app_name),
        campaign=NamedRef(slug=enrollment.campaign_slug, name=enrollment.campaign_name),
        discount_bps=bps,
        discount_percent=None if bps is None else bps / 100,
    )
