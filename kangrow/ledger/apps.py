from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "kangrow.ledger"
    label = "ledger"
