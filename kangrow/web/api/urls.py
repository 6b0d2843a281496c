"""Collects the API routers. Each web module registers its router here, in one place."""

from django.urls import re_path

from .base import api, not_found, with_json_405

ROUTERS: list[tuple[str, str]] = [
    # (prefix, "dotted.path.to.router"), e.g. ("/events", "kangrow.web.api.events.router")
    ("/events", "kangrow.web.api.events.router"),
    ("/auth", "kangrow.web.api.auth.router"),
    ("", "kangrow.web.api.apps.router"),
    ("/me", "kangrow.web.api.me.router"),
    ("/campaigns", "kangrow.web.api.campaigns.router"),
    ("/staff", "kangrow.web.api.staff.router"),
]

for _prefix, _path in ROUTERS:
    _module, _name = _path.rsplit(".", 1)
    api.add_router(_prefix, getattr(__import__(_module, fromlist=[_name]), _name))

# Every answer under /api/v1/ is JSON: a wrong method gets the error format, an unknown path too.
_patterns, _app_name, _namespace = api.urls
for _pattern in _patterns:
    if hasattr(_pattern, "callback"):
        _pattern.callback = with_json_405(_pattern.callback)
urls = ([*_patterns, re_path(r"^(?P<unmatched>.*)$", not_found)], _app_name, _namespace)
