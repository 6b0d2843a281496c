"""Celery entry points of the ledger context; they only call `api`."""

from celery import shared_task

from . import api


@shared_task(name="ledger.process_payment_event", ignore_result=True)
def process_payment_event(event_id: str) -> str:
    return api.process_event(event_id=event_id)


@shared_task(name="ledger.process_due_events", ignore_result=True)
def process_due_events() -> int:
    return api.process_due_events()


@shared_task(name="ledger.mature_commissions", ignore_result=True)
def mature_commissions() -> int:
    return api.mature_commissions()
