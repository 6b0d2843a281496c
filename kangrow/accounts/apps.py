from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "kangrow.accounts"
    label = "accounts"
    verbose_name = "Accounts"
