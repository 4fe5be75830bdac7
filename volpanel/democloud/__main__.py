"""`python -m volpanel.democloud`: print the OS_* variables for alice, then serve until killed."""

from __future__ import annotations

import argparse
import sys

from .server import make_server
from .state import World


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m volpanel.democloud",
                                     description="Embedded demo OpenStack (Keystone, Cinder, Nova, Glance).")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8780, help="0 picks a free port")
    parser.add_argument("--delay", type=float, default=3.0, help="seconds a transitional status lasts")
    parser.add_argument("--token-ttl", type=int, default=3600, help="token lifetime in seconds")
    parser.add_argument("--no-snapshot-upload", action="store_true",
                        help="reject upload-from-snapshot like upstream Cinder (Virtuozzo extension off)")
    parser.add_argument("--without", action="append", choices=("compute", "image"), default=[],
                        help="run without this service: no catalog entry, nothing served (repeatable)")
    parser.add_argument("--tenants", type=int, default=0,
                        help="extra users tenant01..NN (password demo), each in its own project with one volume")
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)
    if args.delay < 0 or args.token_ttl < 1 or not 0 <= args.tenants <= 99:
        parser.error("--delay must be >= 0, --token-ttl >= 1 and --tenants 0-99")

    world = World(delay=args.delay, token_ttl=args.token_ttl, snapshot_upload=not args.no_snapshot_upload,
                  without=tuple(args.without), tenants=args.tenants)
    server = make_server(world, args.host, args.port, verbose=args.verbose)
    host, port = server.host_port
    base = f"http://{host}:{port}"
    print(f"export OS_AUTH_URL={base}/identity/v3")
    for name, value in (("OS_USERNAME", "alice"), ("OS_PASSWORD", "demo"), ("OS_PROJECT_NAME", "demo"),
                        ("OS_USER_DOMAIN_NAME", "Default"), ("OS_PROJECT_DOMAIN_NAME", "Default"),
                        ("OS_IDENTITY_API_VERSION", "3")):
        print(f"export {name}={value}")
    print(f"democloud listening on {base}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
