from django.apps import AppConfig


class PayoutsConfig(AppConfig):
    name = "kangrow.payouts"
    label = "payouts"
    verbose_name = "Payouts"

    def ready(self) -> None:
        # Register the context's Celery tasks now, before anything finalises the Celery app:
        # a task module first imported later was missing from the registry in some test orders.
        from . import tasks  # noqa: F401
