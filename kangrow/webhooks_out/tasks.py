"""Celery entry points of the webhooks_out context; they only call `api`."""

from celery import shared_task

from . import api


@shared_task(name="webhooks_out.deliver", ignore_result=True)
def deliver_webhook(delivery_id: str) -> str:
    return api.deliver(delivery_id=delivery_id)


@shared_task(name="webhooks_out.deliver_due", ignore_result=True)
def deliver_due_webhooks() -> int:
    return api.deliver_due()
