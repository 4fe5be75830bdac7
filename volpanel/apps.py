from django.apps import AppConfig


class VolpanelConfig(AppConfig):
    name = "volpanel"
    verbose_name = "volpanel"
