from django.apps import AppConfig


class TrackingConfig(AppConfig):
    name = "kangrow.tracking"
    label = "tracking"
