"""The JSON API under /api/v1/ (django-ninja). Routers from the other web modules attach here."""
