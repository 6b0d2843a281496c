from django.apps import AppConfig


class ProgramsConfig(AppConfig):
    name = "kangrow.programs"
    label = "programs"
