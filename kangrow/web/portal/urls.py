from django.urls import path

from . import views

app_name = "portal"

urlpatterns = [
    path("onboarding/", views.onboarding, name="onboarding"),
    path("onboarding/apps/<slug:app_slug>/", views.app_brief, name="app_brief"),
    path("onboarding/apps/<slug:app_slug>/read", views.mark_read, name="mark_read"),
    path("onboarding/shared/<slug:slug>", views.link_shared, name="link_shared"),
    path("campaigns/", views.catalog, name="catalog"),
    path("campaigns/<slug:slug>/", views.enrollment, name="enrollment"),
    path("campaigns/<slug:slug>/join", views.join, name="join"),
    path("campaigns/<slug:slug>/leave", views.leave, name="leave"),
    path("campaigns/<slug:slug>/qr.svg", views.qr_svg, name="qr_svg"),
    path("campaigns/<slug:slug>/qr.png", views.qr_png, name="qr_png"),
    path("campaigns/<slug:slug>/banners/<str:size>.png", views.banner, name="banner"),
    path("campaigns/<slug:slug>/assets/<uuid:asset_id>", views.asset, name="asset"),
]
