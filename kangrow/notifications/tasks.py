"""Celery entry points of the notifications context; they only call `api`."""

from celery import shared_task

from . import api


@shared_task(name="notifications.deliver_email", ignore_result=True)
def deliver_email(outbox_id: str) -> str:
    return api.deliver_email(outbox_id=outbox_id)


@shared_task(name="notifications.deliver_due_emails", ignore_result=True)
def deliver_due_emails() -> int:
    return api.deliver_due_emails()
