"""`celery -A kangrow worker|beat` (the contract's command) finds the app here; it lives in
config/celery.py beside the settings it reads."""

from config.celery import app

__all__ = ["app"]
