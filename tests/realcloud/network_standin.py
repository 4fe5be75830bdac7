"""The smallest stand-in for the Networking service (Neutron) that Nova needs (tests/realcloud).

Nova cannot show, list or delete a server without asking Neutron about its ports and security groups: with no
`network` endpoint in the catalog `GET /servers/{id}` answers 500 (EndpointNotFound) and a deleted server ends in
ERROR. Servers here boot with `"networks": "none"`, so every list Nova asks for is truly empty: this answers each
`GET /v2.0/<collection>` with `{"<collection>": []}` (hyphens become underscores, as Neutron's keys do), the
version documents Nova's client reads first, and 404 in Neutron's fault shape for anything else. Read-only: it
allocates nothing, so Nova never has a port to bind or delete.

    python network_standin.py PORT        (up.sh starts it on 127.0.0.1:9696; catalog type `network`)
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HOST = "127.0.0.1"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "realcloud-network-standin"

    def _send(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 (http.server's naming)
        path = self.path.split("?", 1)[0].rstrip("/")
        base = f"http://{HOST}:{self.server.server_port}"
        if path in ("", "/"):
            self._send(200, {"versions": [{"id": "v2.0", "status": "CURRENT",
                                           "links": [{"rel": "self", "href": base + "/v2.0/"}]}]})
        elif path == "/v2.0":
            self._send(200, {"resources": []})
        elif path.startswith("/v2.0/") and path.count("/") == 2:
            collection = path.rsplit("/", 1)[1].removesuffix(".json").replace("-", "_")
            self._send(200, {collection: []})
        else:
            self._not_found()

    def _not_found(self):
        self._send(404, {"NeutronError": {"type": "HTTPNotFound", "message": "The resource could not be found.",
                                          "detail": ""}})

    do_POST = do_PUT = do_DELETE = _not_found  # noqa: N815

    def log_message(self, format, *args):  # noqa: A002 (http.server's signature)
        sys.stderr.write(f"{self.log_date_time_string()} {format % args}\n")


if __name__ == "__main__":
    ThreadingHTTPServer((HOST, int(sys.argv[1])), Handler).serve_forever()
