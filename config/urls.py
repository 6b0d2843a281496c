from django.urls import include, path

from kangrow.web.api.urls import urls as api_urls
from kangrow.web.health import health

urlpatterns = [
    # /r/<token> first: the busiest URL by far is matched before any other pattern is tried
    path("", include("kangrow.web.tracking.urls")),
    path("health", health, name="health"),
    path("api/v1/", api_urls),
    path("", include("kangrow.web.urls")),
]
