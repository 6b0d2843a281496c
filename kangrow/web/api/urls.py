"""Collects the API routers. Each web module registers its router here, in one place."""

from .base import api

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

urls = api.urls
