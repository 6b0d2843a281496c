from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "kangrow.reports"
    label = "reports"
    verbose_name = "Reports"
