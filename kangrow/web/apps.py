from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "kangrow.web"
    label = "web"
