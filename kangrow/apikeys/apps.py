from django.apps import AppConfig


class ApiKeysConfig(AppConfig):
    name = "kangrow.apikeys"
    label = "apikeys"
    verbose_name = "API keys"
