from django.apps import AppConfig


class AuditConfig(AppConfig):
    """The audit trail as an installed app, so Django finds its admin and management commands. Its models keep
    the `volpanel` app label (volpanel.models re-exports them): tables and migrations are unchanged."""

    name = "volpanel.audit"
    label = "volpanel_audit"
    verbose_name = "volpanel audit trail"
