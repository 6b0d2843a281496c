from django.apps import AppConfig


class OnboardingConfig(AppConfig):
    name = "kangrow.onboarding"
    label = "onboarding"
    verbose_name = "Onboarding"
