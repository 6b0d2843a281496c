"""The affiliate's performance pages, exports and notifications centre. /dashboard/ itself is
routed in kangrow.web.accounts.urls (name accounts:dashboard) to views.dashboard."""

from django.urls import path

from . import views

app_name = "dashboard"

urlpatterns = [
    path("dashboard/referrals", views.referrals, name="referrals"),
    path("dashboard/referrals.csv", views.export_referrals, name="export_referrals"),
    path("dashboard/commissions.csv", views.export_commissions, name="export_commissions"),
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/read-all", views.mark_all_read, name="mark_all_read"),
    path("notifications/<uuid:notification_id>/read", views.mark_read, name="mark_read"),
    path("notifications/preferences", views.preferences, name="preferences"),
]
