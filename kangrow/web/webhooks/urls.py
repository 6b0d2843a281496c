from django.urls import path

from . import views

app_name = "webhooks"

urlpatterns = [
    path("<slug:app_slug>/", views.stripe_webhook, name="stripe"),
]
