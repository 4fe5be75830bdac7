"""The request type of volpanel's views: Django's, with django-htmx's details of an htmx request."""

from django.http import HttpRequest
from django_htmx.middleware import HtmxDetails


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails
