"""The volpanel app's models module, as Django looks for it: the audit trail's models live in volpanel.audit.models
and keep this app's label, tables and migrations."""

from volpanel.audit.models import AuditChainHead, AuditEntry, AuditEvent

__all__ = ["AuditChainHead", "AuditEntry", "AuditEvent"]
