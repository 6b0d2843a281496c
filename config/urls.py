from django.urls import include, path

from kangrow.web.api.urls import urls as api_urls
from kangrow.web.health import health
from kangrow.web.tracking.views import follow_link

urlpatterns = [
    # /r/<token> first and at the top level: the busiest URL by far is matched before any other
    # pattern is tried, without a nested resolver (an include costs ~5 µs a redirect)
    path("r/<str:token>", follow_link, name="tracking-follow"),
    path("health", health, name="health"),
    path("api/v1/", api_urls),
    path("", include("kangrow.web.urls")),
]
