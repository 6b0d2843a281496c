from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "kangrow.notifications"
    label = "notifications"
