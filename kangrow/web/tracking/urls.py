from django.urls import path

from . import views

app_name = "tracking"

urlpatterns = [
    path("r/<str:token>", views.follow_link, name="follow"),
]
