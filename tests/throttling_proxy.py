"""An S3 endpoint that answers `503 SlowDown`, as S3 does to bursts of requests, in front of moto's
server: each request it throttles is passed on when it comes again (as a client's retry does)."""

from __future__ import annotations

import hashlib
import http.client
import http.server
import threading
import urllib.parse
from collections import Counter

# What S3 answers a request whose body stops arriving (after about 20 s; here sooner).
REQUEST_TIMEOUT = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>RequestTimeout</Code><Message>Your socket '
    b"connection to the server was not read from or written to within the timeout period.</Message></Error>"
)
BODY_SECONDS = 5

SLOW_DOWN = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message></Error>"
)


def kind_of(method: str, path: str, query: str, headers) -> str:
    """What a request does: list, head, read, write, copy, delete or post."""
    if method == "GET":
        is_listing = "list-type" in query or "delimiter" in query or path.strip("/").count("/") == 0
        return "list" if is_listing else "read"
    if method == "PUT":
        return "copy" if headers.get("x-amz-copy-source") else "write"
    return {"HEAD": "head", "DELETE": "delete", "POST": "post"}.get(method, method.lower())


class ThrottlingProxy:
    """Forwards to `upstream` (http://host:port); throttles the first request of each kind and one
    in `every` of the others (chosen by a hash of the request, so the same every run), once each.
    With `continues` False it never answers `Expect: 100-continue`, as some S3 look-alikes do."""

    def __init__(
        self, upstream: str, every: int = 4, kinds: frozenset[str] | None = None, continues: bool = True
    ) -> None:
        self.upstream = urllib.parse.urlsplit(upstream)
        self.every = every
        self.kinds = kinds  # the kinds of request to throttle (None: all)
        self.expected_continue = 0  # requests that asked for a 100 Continue before their body
        self.throttled: Counter[str] = Counter()  # by kind
        self.passed: Counter[str] = Counter()
        self.timed_out = 0  # requests whose body stopped arriving (answered RequestTimeout)
        self._seen: set[tuple] = set()
        self._kinds: set[str] = set()
        self._lock = threading.Lock()
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = BODY_SECONDS  # on the connection's socket: a body that stops arriving

            def log_message(self, *args) -> None:  # quiet
                pass

            def handle_expect_100(self) -> bool:
                proxy.expected_continue += 1
                return super().handle_expect_100() if continues else True

            def _any(self) -> None:
                proxy._handle(self)

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _any

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> ThrottlingProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def _throttle(self, kind: str, key: tuple) -> bool:
        with self._lock:
            if key in self._seen or (self.kinds is not None and kind not in self.kinds):
                return False
            self._seen.add(key)
            first_of_kind = kind not in self._kinds
            self._kinds.add(kind)
            chosen = int(hashlib.sha256(repr(key).encode()).hexdigest(), 16) % self.every == 0
            if first_of_kind or chosen:
                self.throttled[kind] += 1
                return True
            self.passed[kind] += 1
            return False

    def _handle(self, request: http.server.BaseHTTPRequestHandler) -> None:
        try:
            body = _body(request)
        except TimeoutError:  # as S3 does: the request fails, retryable, and the connection closes
            self.timed_out += 1
            _answer(request, 400, REQUEST_TIMEOUT)
            request.close_connection = True
            return
        path, _, query = request.path.partition("?")
        kind = kind_of(request.command, path, query, request.headers)
        key = (request.command, request.path, request.headers.get("Range"), hashlib.sha256(body).hexdigest())
        if self._throttle(kind, key):
            _answer(request, 503, SLOW_DOWN)
            return
        connection = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=60)
        headers = {k: v for k, v in request.headers.items() if k.lower() != "transfer-encoding"}
        headers["Content-Length"] = str(len(body))
        connection.request(request.command, request.path, body=body, headers=headers)
        answer = connection.getresponse()
        data = answer.read()
        request.send_response(answer.status)
        for name, value in answer.getheaders():
            if name.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                request.send_header(name, value)
        # A HEAD answer says the object's length, with no body.
        length = answer.getheader("Content-Length", "0") if request.command == "HEAD" else str(len(data))
        request.send_header("Content-Length", length)
        request.end_headers()
        if request.command != "HEAD":
            request.wfile.write(data)
        connection.close()


def _answer(request: http.server.BaseHTTPRequestHandler, status: int, error: bytes) -> None:
    request.send_response(status)
    request.send_header("Content-Type", "application/xml")
    request.send_header("Content-Length", str(len(error)))
    request.end_headers()
    if request.command != "HEAD":
        request.wfile.write(error)


def _body(request: http.server.BaseHTTPRequestHandler) -> bytes:
    if request.headers.get("Transfer-Encoding", "").lower() == "chunked":
        chunks = []
        while True:
            size = int(request.rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:  # then trailers (a checksum, perhaps), up to an empty line
                while request.rfile.readline().strip():
                    pass
                return b"".join(chunks)
            chunks.append(request.rfile.read(size))
            request.rfile.readline()
    return request.rfile.read(int(request.headers.get("Content-Length") or 0))
