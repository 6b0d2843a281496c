from django.urls import path

from kangrow.web.dashboard import views as dashboard_views

from . import views

app_name = "accounts"

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/register", views.register, name="register"),
    path("accounts/confirm/<str:token>", views.confirm, name="confirm"),
    path("accounts/log-in", views.log_in, name="log_in"),
    path("accounts/log-in/magic-link", views.request_magic_link, name="request_magic_link"),
    path("accounts/log-in/<str:token>", views.magic_link, name="magic_link"),
    path("accounts/log-out", views.log_out, name="log_out"),
    path("accounts/log-out-everywhere", views.log_out_everywhere, name="log_out_everywhere"),
    path("accounts/reset-password", views.reset_password_request, name="reset_password_request"),
    path("accounts/reset-password/<str:token>", views.reset_password, name="reset_password"),
    path("accounts/settings", views.settings_page, name="settings"),
    path("accounts/settings/email", views.change_email, name="change_email"),
    path("accounts/settings/password", views.change_password, name="change_password"),
    path("accounts/settings/profile", views.update_profile, name="update_profile"),
    path(
        "accounts/settings/confirm-email/<str:token>",
        views.confirm_email_change,
        name="confirm_email_change",
    ),
    path("onboarding/waiting", views.waiting, name="waiting"),
    path("onboarding/waiting/resend", views.resend_confirmation, name="resend_confirmation"),
    path("dashboard/", dashboard_views.dashboard, name="dashboard"),
]
