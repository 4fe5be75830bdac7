"""ASGI entry point: status streams need it (gunicorn with the uvicorn worker). A page or action goes through the
middleware and its view in one thread; only an async view (the status stream) is awaited on the event loop."""

import os

import django
from asgiref.sync import iscoroutinefunction, sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.core.handlers.base import BaseHandler
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.urls import Resolver404, resolve


class Handler(ASGIHandler):
    """Django's ASGI handler with a second, all-sync middleware chain for sync views.

    Django's async chain ends in its async view caller even when every middleware is sync: a page request went
    from the event loop to its thread (the middleware), back to the loop (URL resolution), to the thread again
    (the view) and back twice more — each hop waits for the busy loop. A sync view now runs in one crossing:
    the same middleware, in the same order, as under WSGI. Async views keep the async chain."""

    def __init__(self) -> None:
        super().__init__()
        self._sync = BaseHandler()
        self._sync.load_middleware(is_async=False)

    async def get_response_async(self, request: HttpRequest) -> HttpResponseBase:
        try:
            is_async = iscoroutinefunction(resolve(request.path_info).func)
        except Resolver404:
            is_async = False  # the 404 page is a sync view
        if is_async:
            return await super().get_response_async(request)
        return await sync_to_async(self._sync.get_response, thread_sensitive=True)(request)


os.environ.setdefault("DJANGO_SETTINGS_MODULE", "volpanel.settings")
django.setup(set_prefix=False)
application = Handler()
