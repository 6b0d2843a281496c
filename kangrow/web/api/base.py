"""The NinjaAPI object and its error format: {"error": {"code", "message", "details"}}."""

import functools
import logging

from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, Throttled, ValidationError

api = NinjaAPI(
    title="KanGrow API",
    version="1",
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
)


class ApiError(Exception):
    """Raise from an endpoint to answer with a coded JSON error."""

    def __init__(self, status: int, code: str, message: str, details: object = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details


def error_response(
    request: HttpRequest, status: int, code: str, message: str, details: object = None
) -> HttpResponse:
    return api.create_response(
        request,
        {"error": {"code": code, "message": message, "details": details}},
        status=status,
    )


@api.exception_handler(ApiError)
def _api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    return error_response(request, exc.status, exc.code, exc.message, exc.details)


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    return error_response(request, 422, "invalid_request", "The request is not valid.", exc.errors)


@api.exception_handler(AuthenticationError)
def _auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return error_response(request, 401, "unauthorized", "Missing or invalid credentials.")


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    return error_response(request, exc.status_code, "http_error", str(exc))


@api.exception_handler(Throttled)
def _throttled(request: HttpRequest, exc: Throttled) -> HttpResponse:
    return error_response(request, 429, "rate_limited", "Too many requests; retry later.")


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    """A bug still answers in the error format (and is logged with its traceback)."""
    logging.getLogger("kangrow.api").exception("unhandled API error on %s", request.path)
    return error_response(request, 500, "server_error", "Something went wrong on our side.")


def not_found(request: HttpRequest, unmatched: str = "") -> HttpResponse:
    """Any /api/v1/ path no operation matches."""
    return error_response(request, 404, "not_found", "No such API endpoint.")


def with_json_405(view):  # type: ignore[no-untyped-def]
    """ninja answers a wrong method with a plain-text 405: give it the error format."""

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):  # type: ignore[no-untyped-def]
        response = view(request, *args, **kwargs)
        if response.status_code == 405 and not response.get("Content-Type", "").startswith(
            "application/json"
        ):
            allowed = response.get("Allow", "")
            json_response = error_response(
                request,
                405,
                "method_not_allowed",
                "This endpoint does not accept this method.",
                {"allowed": [m.strip() for m in allowed.split(",") if m.strip()]},
            )
            json_response["Allow"] = allowed
            return json_response
        return response

    return wrapped
