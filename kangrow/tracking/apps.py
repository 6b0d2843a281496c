from django.apps import AppConfig


class TrackingConfig(AppConfig):
    name = "kangrow.tracking"
    label = "tracking"

    def ready(self) -> None:
        # Register the context's Celery tasks now, before anything finalises the Celery app:
        # a task module first imported later was missing from the registry in some test orders.
        from . import tasks  # noqa: F401
