"""Celery entry points of the payouts context; they only call `api`."""

from uuid import UUID

from celery import shared_task

from . import api


@shared_task(name="payouts.run_scheduled", ignore_result=True)
def run_scheduled() -> int:
    """The scheduled payout run: pays everyone eligible."""
    return api.run_payouts(source="schedule").items


@shared_task(name="payouts.sync_open_batches", ignore_result=True)
def sync_open_batches() -> dict:
    """Re-send unsent batches, poll submitted ones, cancel items unclaimed for 30 days."""
    return api.sync_open_batches()


@shared_task(name="payouts.run_from_admin", ignore_result=True)
def run_from_admin(started_by_id: str) -> int:
    """A run a staff member confirmed in /admin, off the web request when a worker is there."""
    return api.run_payouts(source="admin", started_by_id=UUID(started_by_id)).items
