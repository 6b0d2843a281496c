from django.urls import path

from . import views

app_name = "payouts"

urlpatterns = [
    path("payouts/", views.index, name="index"),
    path("payouts/withdraw", views.withdraw, name="withdraw"),
    path("payouts/settings", views.settings_page, name="settings"),
    path("payouts/settings/confirm/<str:token>", views.confirm, name="confirm"),
    path("webhooks/paypal/", views.paypal_webhook, name="paypal_webhook"),
]
