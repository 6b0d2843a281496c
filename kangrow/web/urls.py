"""Portal pages, webhooks and /admin (tracking links are mounted first, in config/urls.py).
Each area keeps its own urls module."""

from django.urls import include, path

from kangrow.web.admin.site import admin_site

urlpatterns = [
    path("admin/", admin_site.urls),
    path("webhooks/stripe/", include("kangrow.web.webhooks.urls")),
    path("", include("kangrow.web.accounts.urls")),
    path("", include("kangrow.web.payouts.urls")),
    path("", include("kangrow.web.portal.urls")),
    path("", include("kangrow.web.dashboard.urls")),
]
