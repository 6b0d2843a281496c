"""Portal pages, tracking links, webhooks and /admin. Each area keeps its own urls module."""

from django.urls import include, path

urlpatterns = [
    path("", include("kangrow.web.accounts.urls")),
]
