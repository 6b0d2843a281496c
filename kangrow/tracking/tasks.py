"""Celery entry points of the tracking context; they only call `api`."""

from celery import shared_task

from . import api


@shared_task(name="tracking.drain_clicks", ignore_result=True)
def drain_clicks() -> int:
    """Beat, every KANGROW_CLICK_DRAIN_SECONDS: buffered clicks into the clicks table."""
    return api.drain_click_buffer()
