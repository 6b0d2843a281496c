"""Celery entry points of the ledger context; they only call `api`."""

from celery import shared_task

from . import api


@shared_task(name="ledger.drain_events", ignore_result=True)
def drain_events() -> int:
    """Process due money events in batches (queued on commit when no drain is waiting)."""
    return api.drain_events()


@shared_task(name="ledger.process_payment_event", ignore_result=True)
def process_payment_event(event_id: str) -> str:
    """One event (kept for tasks queued before drains existed, and for manual use)."""
    return api.process_event(event_id=event_id)


@shared_task(name="ledger.process_due_events", ignore_result=True)
def process_due_events() -> int:
    return api.process_due_events()


@shared_task(name="ledger.mature_commissions", ignore_result=True)
def mature_commissions() -> int:
    return api.mature_commissions()
