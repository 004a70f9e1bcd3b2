"""A local HTTP server with Range support that stands in for the dataset's host, and the archives it
serves (no test reaches the network)."""

import http.server
import io
import threading
import zipfile


def make_zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as bundle:
        for name, data in members.items():
            bundle.writestr(name, data)
    return buffer.getvalue()


DATASET = make_zip(
    {
        "landmark_images/train/00.Haleakala_National_Park/a.jpg": b"A" * 50_000,
        "landmark_images/train/01.Mount_Rainier_National_Park/b.jpg": b"B" * 50_000,
        "landmark_images/test/00.Haleakala_National_Park/c.jpg": b"C" * 50_000,
    }
)


class ZipServer:
    """Serves one archive on 127.0.0.1 with Range support; can cut the first transfer short."""

    def __init__(
        self, payload: bytes, cut_first_at: int | None = None, range_start: int | None = None
    ) -> None:
        self.payload = payload
        self.cut_first_at = cut_first_at
        self.range_start = range_start  # answer every Range request from this offset instead
        self.requests: list[str | None] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                byte_range = self.headers.get("Range")
                server.requests.append(byte_range)
                start = int(byte_range.split("=")[1].split("-")[0]) if byte_range else 0
                if byte_range and server.range_start is not None:
                    start = server.range_start
                body = server.payload[start:]
                self.send_response(206 if byte_range else 200)
                self.send_header("Content-Length", str(len(body)))
                if byte_range:
                    total = len(server.payload)
                    self.send_header("Content-Range", f"bytes {start}-{total - 1}/{total}")
                self.end_headers()
                if server.cut_first_at is not None and len(server.requests) == 1:
                    self.wfile.write(body[: server.cut_first_at])
                    self.wfile.flush()
                    self.connection.shutdown(2)  # the connection drops mid-transfer
                    return
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}/landmark_images.zip"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
