"""Keystone authentication and the per-user keystoneauth1 session (token, catalog, connection pool)."""

from __future__ import annotations

import hashlib
import http.cookiejar
import json
import logging
import os
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import Any, TypeVar

import requests
import urllib3
from keystoneauth1 import adapter as ks_adapter
from keystoneauth1 import exceptions as ks_exc
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from volpanel.openstack.errors import CloudError, fault_from_response

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True)
class CloudConfig:
    auth_url: str
    region_name: str | None = None
    interface: str = "public"
    user_domain_name: str = "Default"
    project_domain_name: str = "Default"
    verify: bool | str = True
    # keystoneauth's timeout bounds the connect and each socket read, not the whole answer: a cloud (or a proxy)
    # dripping a byte a second never trips it. total_timeout bounds the whole request, body included (overrun by
    # at most one read's `timeout`); max_body_bytes bounds what one answer may make this process hold.
    timeout: float = 15.0
    total_timeout: float = 60.0
    max_body_bytes: int = 32 * 1024 * 1024


@dataclass(frozen=True)
class Project:
    id: str
    name: str


@dataclass
class Credentials:
    """What a login yields. `auth_state` holds the token and catalog; it stays on the server."""

    auth_state: str
    user_id: str
    user_name: str
    user_domain: str
    project_id: str
    project_name: str
    roles: list[str] = field(default_factory=list)
    expires_at: datetime | None = None

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @cached_property
    def token(self) -> str:
        """The Keystone token itself (for the server's own calls; it never leaves the server)."""
        return str(json.loads(self.auth_state)["auth_token"])

    @cached_property
    def token_hash(self) -> str:
        """The token's SHA-256, which names it in memos and in other processes (never the token itself)."""
        return hashlib.sha256(self.token.encode()).hexdigest()

    def to_json(self) -> str:
        data = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "expires_at"}
        data["expires_at"] = self.expires_at.isoformat() if self.expires_at else None
        return json.dumps(data)

    @classmethod
    def from_json(cls, raw: str) -> Credentials:
        data = json.loads(raw)
        expires = data.pop("expires_at", None)
        return cls(**data, expires_at=datetime.fromisoformat(expires) if expires else None)


class AnswerTooSlow(requests.exceptions.Timeout):
    """The whole answer did not arrive within the total deadline (each read may still have been quick)."""


class AnswerTooLarge(requests.exceptions.RequestException):
    """The answer's body is larger than this client accepts."""


class BoundedAdapter(requests.adapters.HTTPAdapter):
    """Reads every body itself, in small pieces, stopping at a total deadline and a size limit."""

    def __init__(self, *, total_timeout: float, max_body_bytes: int, **kwargs: Any) -> None:
        self.total_timeout = total_timeout
        self.max_body_bytes = max_body_bytes
        super().__init__(**kwargs)

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        started = time.monotonic()
        response = super().send(request, stream=True, timeout=timeout, verify=verify, cert=cert, proxies=proxies)
        if stream:
            return response
        try:
            declared = int(response.headers.get("Content-Length") or 0)
        except ValueError:
            declared = 0
        if declared > self.max_body_bytes:
            response.close()
            raise AnswerTooLarge(f"the answer declares {declared} bytes, over the limit of {self.max_body_bytes}",
                                 request=request, response=response)
        body = bytearray()
        try:
            while True:
                if time.monotonic() - started > self.total_timeout:
                    raise AnswerTooSlow(f"the answer took over {self.total_timeout:g} s in all", request=request)
                # read1: whatever has arrived (up to 64 KiB), so a trickle is noticed between reads.
                chunk = response.raw.read1(65536, decode_content=True)
                if not chunk:
                    break
                body += chunk
                if len(body) > self.max_body_bytes:
                    raise AnswerTooLarge(f"the answer is over the limit of {self.max_body_bytes} bytes",
                                         request=request)
        except (AnswerTooSlow, AnswerTooLarge):
            response.close()
            raise
        except Exception as exc:  # urllib3 read errors (timeout, reset, bad chunking) as requests would raise them
            response.close()
            if "timed out" in str(exc).lower():
                raise requests.exceptions.ReadTimeout(str(exc), request=request) from exc
            raise requests.exceptions.ConnectionError(str(exc), request=request) from exc
        response._content = bytes(body)
        # requests' own flag that the body has been read; types-requests does not declare the private attribute.
        response._content_consumed = True  # type: ignore[attr-defined]
        response.raw.release_conn()
        return response


class PoolSession(requests.Session):
    """requests' Session under every user's keystoneauth session: one connection pool for the process, so it keeps
    no cookies (one user's answer setting a cookie, a load balancer's sticky one say, would otherwise go out with
    every user's requests). A request of the kind keystoneauth makes (headers, a body, no per-request cookies,
    files, auth, proxies or hooks; the environment not read) is prepared directly, as Session.request would prepare
    it from this session's defaults: its merging of the cookies, settings and hooks this session never holds was a
    third of the client's time before a request went out. Anything else goes through Session.request."""

    def __init__(self) -> None:
        super().__init__()
        self.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))  # accepts none

    def request(  # type: ignore[override]  # the same parameters, typed as keystoneauth passes them
        self, method: str, url: str, params: Any = None, data: Any = None, headers: Any = None, cookies: Any = None,
        files: Any = None, auth: Any = None, timeout: Any = None, allow_redirects: bool = True, proxies: Any = None,
        hooks: Any = None, stream: bool | None = None, verify: Any = None, cert: Any = None, json: Any = None,
    ) -> requests.Response:
        if (cookies or files or auth or proxies or hooks or json is not None or self.trust_env or self.auth
                or self.params or self.proxies or len(self.cookies)):
            return super().request(method, url, params=params, data=data, headers=headers, cookies=cookies,
                                   files=files, auth=auth, timeout=timeout, allow_redirects=allow_redirects,
                                   proxies=proxies, hooks=hooks, stream=stream, verify=verify, cert=cert, json=json)
        merged = requests.structures.CaseInsensitiveDict(self.headers)
        for key, value in (headers or {}).items():  # as requests merges them: the request's win, None removes
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        prepared = requests.PreparedRequest()
        prepared.prepare(method=method.upper(), url=url, headers=merged, data=data, params=params,
                         cookies=self.cookies)
        return self.send(prepared, timeout=timeout, allow_redirects=allow_redirects, proxies={},
                         stream=self.stream if stream is None else stream,
                         verify=self.verify if verify is None else verify, cert=self.cert if cert is None else cert)


# One HTTP connection pool per limits (in practice one for the whole process): each user's keystoneauth session
# rides on it, so a page reuses warm connections to Cinder instead of opening new ones.
_pools: dict[tuple[float, int], requests.Session] = {}
_pools_lock = threading.Lock()


def environment_shapes_requests() -> bool:
    """Whether this process's environment sets a proxy (or no_proxy) or a netrc file. Only then does the pool
    read the environment, which requests otherwise does on every request: it walks all of os.environ twice per
    call, a fifth of a small page's CPU. (A CA bundle from the environment is applied per session: _verify.)"""
    if urllib.request.getproxies_environment():  # every *_proxy variable, no_proxy included
        return True
    if "NETRC" in os.environ:
        return True
    return any((Path.home() / name).exists() for name in (".netrc", "_netrc"))


def _verify(config: CloudConfig) -> bool | str:
    """What requests would verify TLS with: the configured CA bundle, or requests' own environment variables
    (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE) when verification is on without one — resolved once per session."""
    if config.verify is True:
        return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
    return config.verify


def _pool_for(config: CloudConfig) -> requests.Session:
    key = (config.total_timeout, config.max_body_bytes)
    with _pools_lock:
        if key not in _pools:
            pool = PoolSession()
            pool.trust_env = environment_shapes_requests()
            for prefix in ("http://", "https://"):
                pool.mount(prefix, BoundedAdapter(total_timeout=key[0], max_body_bytes=key[1],
                                                  pool_connections=20, pool_maxsize=100))
            _pools[key] = pool
        return _pools[key]


# keystoneauth's discovery cache: version documents fetched once per process, not once per request.
_discovery_cache: dict[str, Any] = {}
_discovery_lock = threading.Lock()


def _maybe_delivered(exc: BaseException) -> bool:
    """Whether the request may have reached the service before the transport failed. Only a connection that
    was never made (refused, connect timeout) proves it did not; keystoneauth keeps requests' exception as
    the context of its own."""
    cause = exc.__context__
    if isinstance(cause, requests.exceptions.ConnectTimeout):
        return False
    if isinstance(cause, requests.exceptions.ConnectionError):
        reason = getattr(cause.args[0] if cause.args else None, "reason", None)
        return not isinstance(reason, urllib3.exceptions.NewConnectionError)
    return True


def call(service: str, fn: Callable[[], T]) -> T:
    """Run one keystoneauth call, translating its exceptions into CloudError."""
    try:
        return fn()
    except ks_exc.ConnectTimeout as exc:
        raise CloudError("timeout", f"{service} did not answer in time.", service=service,
                         maybe_delivered=_maybe_delivered(exc)) from exc
    except ks_exc.ConnectFailure as exc:
        delivered = _maybe_delivered(exc)
        message = f"{service} closed the connection without answering." if delivered else \
            f"{service} could not be reached."
        raise CloudError("connection", message, service=service, maybe_delivered=delivered) from exc
    except ks_exc.EndpointNotFound as exc:
        raise CloudError("catalog", f"This cloud has no {service} endpoint.", service=service) from exc
    except ks_exc.DiscoveryFailure as exc:
        raise CloudError("connection", f"{service} version discovery failed: {exc}", service=service) from exc
    except ks_exc.http.Unauthorized as exc:
        raise CloudError("auth", "Your session with the cloud has expired.", service=service, status=401) from exc
    except ks_exc.HttpError as exc:
        raise CloudError(
            "fault",
            str(exc.message or exc),
            service=service,
            status=exc.http_status,
            request_id=exc.request_id or "",
        ) from exc
    except ks_exc.UnknownConnectionError as exc:
        if isinstance(exc.original, AnswerTooLarge):
            # An answer was coming, so the request had arrived: an action may have been carried out.
            raise CloudError("malformed", f"{service} sent an answer too large to accept ({exc.original}).",
                             service=service, maybe_delivered=True) from exc
        raise CloudError("connection", f"{service} could not be reached.", service=service) from exc
    except ks_exc.SSLError as exc:
        raise CloudError("connection", f"{service}'s TLS certificate was refused: {exc}", service=service) from exc
    except (requests.exceptions.Timeout, ks_exc.RetriableConnectionFailure) as exc:
        raise CloudError("timeout", f"{service} did not answer in time.", service=service) from exc
    except (requests.exceptions.RequestException, ks_exc.ConnectionError) as exc:
        raise CloudError("connection", f"{service} could not be reached.", service=service) from exc


class CatalogAdapter(ks_adapter.Adapter):
    """keystoneauth's Adapter, looking its service's endpoint up in the token's catalog once instead of on every
    request: the lookup walks and normalises the whole catalog, about a third of a small request's client time.
    The catalog is fixed for the token, and an adapter lives with its token's session (cloud.Cloud)."""

    _endpoint: str | None = None

    def endpoint(self) -> str:
        """The service's catalog URL (raises keystoneauth's EndpointNotFound when the catalog has none)."""
        if self._endpoint is None:
            found = self.get_endpoint()
            if not found:
                raise ks_exc.EndpointNotFound(f"no {self.service_type} endpoint in the catalog")
            self._endpoint = found.rstrip("/")
        return self._endpoint

    def request(self, url: str, method: str, **kwargs: Any) -> requests.Response:
        if "://" not in url:
            url = f"{self.endpoint()}/{url.lstrip('/')}"  # as keystoneauth joins them
        return super().request(url, method, **kwargs)


def _credentials_from(plugin: v3.Password | v3.Token, sess: ks_session.Session) -> Credentials:
    ref = call("identity", lambda: plugin.get_access(sess))
    state = plugin.get_auth_state()
    assert state is not None
    if ref.user_id is None or ref.username is None:
        # A v3 token always names its user (keystoneauth raises KeyError without one); only a null id or name
        # gets here, and no audit row or ownership check can go on without them.
        raise CloudError("malformed", "Keystone's token names no user.", service="identity")
    return Credentials(
        auth_state=state,
        user_id=ref.user_id,
        user_name=ref.username,
        user_domain=ref.user_domain_name or "",
        project_id=ref.project_id or "",
        project_name=ref.project_name or "",
        roles=list(ref.role_names or []),
        expires_at=ref.expires,
    )


def _bare_session(config: CloudConfig, auth: Any = None) -> ks_session.Session:
    return ks_session.Session(
        auth=auth,
        session=_pool_for(config),
        verify=_verify(config),
        timeout=config.timeout,
        discovery_cache=_discovery_cache,
        app_name="volpanel",
    )


def login(config: CloudConfig, username: str, password: str, project_name: str, domain: str) -> Credentials:
    """Password login scoped to a project (by name in the given domain). Without a project name the user
    lands in the first of their projects, as Horizon does."""
    plugin = v3.Password(
        auth_url=config.auth_url,
        username=username,
        password=password,
        user_domain_name=domain or config.user_domain_name,
        # None (keystoneauth's default) leaves the token unscoped.
        project_name=project_name or None,
        project_domain_name=(domain or config.project_domain_name) if project_name else None,
    )
    creds = _credentials_from(plugin, _bare_session(config, plugin))
    if creds.project_id:
        return creds
    projects = list_projects(config, creds)
    if not projects:
        raise CloudError("fault", "This user has no project to work in.", service="identity", status=401)
    scoped = rescope(config, creds, projects[0].id)
    try:
        # The unscoped token served only to pick the project: it is not left alive behind the scoped one.
        revoke(config, creds, cascade=False)  # not the scoped token made from it
    except CloudError as exc:
        log.info("revoking the unscoped login token failed: %s", exc)
    return scoped


def rescope(config: CloudConfig, creds: Credentials, project_id: str) -> Credentials:
    """Exchange the current token for one scoped to another of the user's projects."""
    token = creds.token
    plugin = v3.Token(auth_url=config.auth_url, token=token, project_id=project_id)
    return _credentials_from(plugin, _bare_session(config, plugin))


def user_session(config: CloudConfig, creds: Credentials) -> ks_session.Session:
    """A keystoneauth session that reuses the stored token and catalog: no Keystone call per request."""
    token = creds.token
    plugin = v3.Token(auth_url=config.auth_url, token=token, project_id=creds.project_id or None,
                      reauthenticate=False)
    plugin.set_auth_state(creds.auth_state)
    return _bare_session(config, plugin)


def _identity_url(config: CloudConfig, path: str) -> str:
    # OS_AUTH_URL names Keystone's v3 root, as the v3 plugins require; identity calls hang off it.
    return config.auth_url.rstrip("/") + path


def list_projects(config: CloudConfig, creds: Credentials) -> list[Project]:
    sess = user_session(config, creds)
    response = call(
        "identity",
        lambda: sess.get(_identity_url(config, "/auth/projects"), raise_exc=False),
    )
    if response.status_code != 200:
        raise fault_from_response("identity", response)
    try:
        projects = response.json()["projects"]
        return sorted(
            (Project(id=str(p["id"]), name=str(p["name"])) for p in projects if p.get("enabled", True)),
            key=lambda p: p.name,
        )
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CloudError("malformed", "Keystone's project list was not understood.", service="identity") from exc


def all_projects(config: CloudConfig, creds: Credentials) -> list[Project]:
    """Every project of the cloud (GET /v3/projects, Keystone's identity:list_projects: an admin's token; a
    member's is refused 403), by id and name, disabled ones included (their volumes still need a name)."""
    sess = user_session(config, creds)
    response = call("identity", lambda: sess.get(_identity_url(config, "/projects"), raise_exc=False))
    if response.status_code != 200:
        raise fault_from_response("identity", response)
    try:
        return [Project(id=str(p["id"]), name=str(p["name"])) for p in response.json()["projects"]]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CloudError("malformed", "Keystone's project list was not understood.", service="identity") from exc


def _own_token(config: CloudConfig, creds: Credentials, method: str, query: str = "") -> Any:
    """Keystone's /v3/auth/tokens about the user's token, with the token as its own subject."""
    token = creds.token
    sess = user_session(config, creds)
    return call("identity", lambda: sess.request(_identity_url(config, "/auth/tokens" + query), method,
                                                 headers={"X-Subject-Token": token}, raise_exc=False))


def token_valid(config: CloudConfig, creds: Credentials) -> bool:
    """Whether Keystone still honours the token (GET /v3/auth/tokens): false once it is revoked — logged out
    elsewhere, the user disabled, a role removed. Raises CloudError when Keystone cannot be asked."""
    response = _own_token(config, creds, "GET", "?nocatalog")
    if response.status_code in (401, 403, 404):
        return False
    if response.status_code != 200:
        raise fault_from_response("identity", response)
    return True


def revoke(config: CloudConfig, creds: Credentials, *, cascade: bool = True) -> None:
    """Revoke the user's token (DELETE /v3/auth/tokens with the token as its own subject). A token Keystone no
    longer knows (401, 404) is as good as revoked; any other refusal raises CloudError, as an unreachable
    Keystone does: the token is still good.

    Keystone (30 here) also revokes every token made from this one unless told `cascade=false`: a token that was
    replaced by one rescoped from it (a project switch, the unscoped login token) is revoked without cascading,
    or the session's new token would go with it. Older Keystones ignore the parameter and never cascade."""
    response = _own_token(config, creds, "DELETE", "" if cascade else "?cascade=false")
    if response.status_code not in (200, 204, 401, 404):
        raise fault_from_response("identity", response)
