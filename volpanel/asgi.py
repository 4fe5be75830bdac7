"""ASGI entry point: status streams need it (gunicorn with the uvicorn worker). A page or action crosses from the
event loop to a thread once: the request's start, its middleware and view, and the close of its answer run
there in one go; only an async view (the status stream) is awaited on the event loop."""

import asyncio
import contextvars
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import django
from asgiref.sync import ThreadSensitiveContext, iscoroutinefunction, sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.core.handlers.base import BaseHandler
from django.http.response import HttpResponseBase
from django.urls import Resolver404, resolve, set_script_prefix

from volpanel.middleware import AFTER_ANSWER


class Handler(ASGIHandler):
    """Django's ASGI handler with one crossing per sync view.

    Django's own cycle crosses from the event loop to the request's thread three times for a sync view even with
    an all-sync middleware chain (the request_started signal, the view, the answer's close and request_finished),
    in a thread it starts and joins for that request alone; each crossing waits for the loop. Here a sync view's
    request starts, runs its middleware and view and (an answer that is not streamed) closes in one call on a kept
    thread, with the same middleware in the same order as under WSGI. A streamed answer (the audit exports) is sent
    as Django sends it, in a thread-sensitive context, watching for the client going away. Async views (the status
    streams) keep Django's cycle."""

    def __init__(self) -> None:
        super().__init__()
        self._sync = BaseHandler()
        self._sync.load_middleware(is_async=False)
        # Kept between requests (Django's own cycle starts and joins a thread for each), VOLPANEL_VIEW_THREADS of
        # them: a view mostly waits on the cloud, and a request past them waits for one.
        self._threads = ThreadPoolExecutor(settings.VOLPANEL_VIEW_THREADS, thread_name_prefix="volpanel-view")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or self._is_async(scope):
            await super().__call__(scope, receive, send)
            return
        await self._handle_sync(scope, receive, send)

    def _is_async(self, scope: dict[str, Any]) -> bool:
        # The path the view is resolved by, as ASGIRequest makes its path_info (FORCE_SCRIPT_NAME or root_path off).
        prefix = get_script_prefix(scope)
        path = scope["path"].removeprefix(prefix) if prefix else scope["path"]
        try:
            return iscoroutinefunction(resolve(path).func)
        except Resolver404:
            return False  # the 404 page is a sync view

    async def _handle_sync(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        after: list[Callable[[], object]] = []  # the access line (volpanel.middleware), once the answer is sent
        scope = {**scope, AFTER_ANSWER: after}
        try:
            response = await loop.run_in_executor(self._threads, context.run, self._respond, scope, body_file)
        finally:
            body_file.close()
        try:
            await self._send(response, receive, send)
        finally:
            if after:
                self._threads.submit(_run_all, after)

    async def _send(self, response: HttpResponseBase, receive: Any, send: Any) -> None:
        if not response.streaming:
            await self.send_response(response, send)
            return
        async with ThreadSensitiveContext():
            tasks = [asyncio.create_task(self.listen_for_disconnect(receive)),
                     asyncio.create_task(self.send_response(response, send))]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            for task in tasks:
                if not task.done():
                    task.cancel()
                try:
                    await task
                except (asyncio.CancelledError, RequestAborted):
                    pass
            await sync_to_async(response.close)()

    def _respond(self, scope: dict[str, Any], body_file: Any) -> HttpResponseBase:
        """On a view thread: the request's start, its answer and, unless the answer is streamed, its close."""
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, error = self.create_request(scope, body_file)
        if request is None:
            assert error is not None
            response: HttpResponseBase = error
        else:
            response = self._sync.get_response(request)
            response._handler_class = self.__class__  # type: ignore[attr-defined]  # as Django's own cycle sets
        if not response.streaming:
            response.close()  # request_finished: the thread's database connection goes back as Django's would
        return response


def _run_all(calls: list[Callable[[], object]]) -> None:
    for call in calls:
        try:
            call()
        except Exception:  # one failed line does not keep the next from being written
            logging.getLogger(__name__).exception("writing a request's access line failed")


os.environ.setdefault("DJANGO_SETTINGS_MODULE", "volpanel.settings")
django.setup(set_prefix=False)
application = Handler()
