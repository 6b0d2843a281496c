"""The tracking link /r/<token>: parse the request, call kangrow.tracking.api, redirect."""
