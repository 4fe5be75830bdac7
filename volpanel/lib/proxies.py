"""Which proxies may tell volpanel a client's address (X-Forwarded-For) and scheme (X-Forwarded-Proto): only the
ones the operator names in VOLPANEL_TRUSTED_PROXIES. Read by settings.py and gunicorn.conf.py alike."""

from __future__ import annotations

import ipaddress

ENV = "VOLPANEL_TRUSTED_PROXIES"


def parse(raw: str) -> list[str]:
    """Addresses and networks, comma-separated ("10.0.0.5, 10.0.1.0/24, ::1"); empty: no proxy is trusted, every
    forwarded header is ignored and the connection's own address counts. "*" is refused: anyone who reaches the
    app could then choose the address its audit rows and login throttle see."""
    trusted = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        if item == "*":
            raise ValueError(f"{ENV} cannot be '*': name the proxies' addresses or networks.")
        try:
            trusted.append(str(ipaddress.ip_network(item)))
        except ValueError:
            raise ValueError(f"{ENV}: {item!r} is not an IP address or network (e.g. 10.0.0.5 or "
                             "10.0.1.0/24).") from None
    return trusted
