"""The HTTP front: one ThreadingHTTPServer for all services, routing by path prefix, HTTP fault injection,
request counting and the headers every OpenStack response carries."""

from __future__ import annotations

import socket
import sys
import time
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from . import cinder, cinder_routes, control, glance, keystone, nova
from .state import World, new_request_id
from .web import HttpError, Request, Response, Router, fault_for_service, json_response, reason

PREFIXES = (("/identity", "identity"), ("/volume", "volume"), ("/compute", "compute"), ("/image", "image"),
            ("/_demo", "control"))


def service_of(path: str) -> str | None:
    for prefix, service in PREFIXES:
        if path == prefix or path.startswith(prefix + "/"):
            return service
    return None


def build_router() -> Router:
    router = Router()
    for module in (keystone, cinder_routes, nova, glance, control):
        module.register(router)
    return router


class DemoHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "democloud/1.0"
    # Headers and body leave in two writes; with Nagle on, the body waits for the client's delayed ACK of the
    # headers (~40 ms on Linux) on a kept-alive connection. Real OpenStack APIs answer without that stall.
    disable_nagle_algorithm = True
    world: World
    router: Router
    verbose: bool = False
    server: DemoServer  # make_server's; BaseRequestHandler declares the base class

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET

    def version_string(self) -> str:
        return self.server_version

    def log_message(self, format: str, *args: Any) -> None:
        if self.verbose:
            super().log_message(format, *args)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _base_url(self) -> str:
        host = self.headers.get("Host")
        if not host:
            addr, port = self.server.host_port
            host = f"{addr}:{port}"
        return f"http://{host}"

    def _serve(self) -> None:
        body = self._read_body()
        req = Request.build(self.command, self.path, self.headers, body, self._base_url(), new_request_id())
        service = service_of(req.path)
        world = self.world
        with world.lock:
            route, params, path_known = self.router.match(req.method, req.path)
            if service not in (None, "control"):
                key = f"{req.method} {route.template if route else req.path}"
                world.requests[key] += 1
            rule = control.match_http_fault(world, service, req.method, req.path) if service else None
        if rule is not None:
            if rule.get("delay"):
                time.sleep(float(rule["delay"]))
            if rule.get("close"):
                self._drop_connection()
                return
        if service in ("compute", "image") and not world.deployed(service):
            # Nothing listens there in a cloud without the service: the front web server's bare 404.
            resp = json_response(404, {"error": reason(404)})
        elif rule is not None and rule.get("status"):
            resp = fault_for_service(service or "", int(rule["status"]), rule.get("message"))
            if resp.status == 401:
                # Rejected before Cinder's wsgi layer: no version echo (capture 64), a WWW-Authenticate.
                resp.header("WWW-Authenticate", f'Keystone uri="{req.base_url}/identity"')
            else:
                self._echo_version(req, service)
        else:
            resp = self._dispatch(req, service, route, params, path_known)
        self._finish(req, service, resp)

    def _dispatch(self, req: Request, service: str | None, route: Any, params: dict[str, str],
                  path_known: bool) -> Response:
        if route is None:
            status = 405 if path_known else 404
            if service is None or service == "control":
                return json_response(status, {"error": reason(status)})
            if service != "identity" and req.path.rstrip("/").count("/") > 1:
                # keystonemiddleware runs before routing: no token means 401 even for unknown paths.
                try:
                    with self.world.lock:
                        keystone.authenticate(self.world, req)
                except HttpError as exc:
                    return exc.response
                self._echo_version(req, service)
            return fault_for_service(service, status)
        try:
            with self.world.lock:
                return route.handler(self.world, req, **params)
        except HttpError as exc:
            return exc.response
        except Exception:  # a bug in the demo cloud must still answer like a service would
            traceback.print_exc(file=sys.stderr)
            return fault_for_service(service or "volume", 500)

    @staticmethod
    def _echo_version(req: Request, service: str | None) -> None:
        """Answers made outside a handler still carry the service's version headers, as the real APIs do."""
        parse = {"volume": cinder.parse_microversion, "compute": nova.parse_microversion}.get(service or "")
        if parse is not None:
            try:
                parse(req)
            except HttpError:
                pass

    def _finish(self, req: Request, service: str | None, resp: Response) -> None:
        headers = list(resp.headers)
        headers.append(("x-openstack-request-id", req.request_id))
        if service in ("volume", "compute"):
            headers.append(("X-Compute-Request-Id", req.request_id))
        if service == "volume" and "mv_echo" in req.ctx:
            headers += [("OpenStack-API-Version", req.ctx["mv_echo"]), ("Vary", "OpenStack-API-Version")]
        if service == "compute" and "compute_mv" in req.ctx:
            headers += [("OpenStack-API-Version", f"compute {req.ctx['compute_mv']}"),
                        ("X-OpenStack-Nova-API-Version", req.ctx["compute_mv"]),
                        ("Vary", "OpenStack-API-Version, X-OpenStack-Nova-API-Version")]
        self.send_response(resp.status, reason(resp.status))
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(resp.body)))
        self.send_header("Connection", "keep-alive")
        self.end_headers()
        if req.method != "HEAD" and resp.body:
            self.wfile.write(resp.body)
        self.wfile.flush()

    def _drop_connection(self) -> None:
        """A `close` fault: hang up without answering, as a crashed proxy would."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class DemoServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    @property
    def host_port(self) -> tuple[str, int]:
        """The address listened on: server_bind took server_address from getsockname(), whose host is a str."""
        host, port = self.server_address[:2]
        return str(host), port


def make_server(world: World, host: str = "127.0.0.1", port: int = 8780, verbose: bool = False) -> DemoServer:
    handler = type("BoundDemoHandler", (DemoHandler,), {"world": world, "router": build_router(),
                                                        "verbose": verbose})
    return DemoServer((host, port), handler)
