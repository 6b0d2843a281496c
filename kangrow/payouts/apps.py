from django.apps import AppConfig


class PayoutsConfig(AppConfig):
    name = "kangrow.payouts"
    label = "payouts"
    verbose_name = "Payouts"
