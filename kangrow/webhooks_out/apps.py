from django.apps import AppConfig


class WebhooksOutConfig(AppConfig):
    name = "kangrow.webhooks_out"
    label = "webhooks_out"
    verbose_name = "Outbound webhooks"
