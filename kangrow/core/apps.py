from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "kangrow.core"
    label = "core"
