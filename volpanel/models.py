"""The volpanel app's models module, as Django looks for it: the audit trail's models live in volpanel.audit.models
and the token buckets' in volpanel.lib.buckets; they keep this app's label, tables and migrations."""

from volpanel.audit.models import AuditChainHead, AuditEntry, AuditEvent
from volpanel.lib.buckets import Bucket

__all__ = ["AuditChainHead", "AuditEntry", "AuditEvent", "Bucket"]
