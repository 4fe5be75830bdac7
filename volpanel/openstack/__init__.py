"""Thin typed clients for the OpenStack services volpanel uses; they know nothing of Django."""
