"""The product's URLs plus /floor/<token>: the framework floor for the tracking benchmark."""

from django.urls import path

from config.urls import urlpatterns as product_urlpatterns

from .views import floor

urlpatterns = [path("floor/<str:token>", floor, name="bench-floor"), *product_urlpatterns]
