"""A small threaded HTTP server for the remote-session tests and benchmarks.

It serves a directory on 127.0.0.1: files with single byte ranges (``Range: bytes=a-b``,
``a-``, ``-n``; 206 + Content-Range), ``HEAD``, and directories as HTML index pages
(``<a href="name/">`` per entry, as nginx or Apache autoindex do). It counts what it
serves (:attr:`log`: one :class:`Served` per request), can add a latency to every
request, and fails on demand (:meth:`fail`): a status (403, 404, 500), a response cut
short (Content-Length announces more than is sent), a dropped connection, or a slow
answer.

    with HttpServer(root, latency=0.02) as server:
        url = server.url("x.mefd")
"""

import html
import os
import re
import socket
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote, unquote, urlsplit


@dataclass
class Served:
    method: str
    path: str
    range: str
    status: int
    bytes: int
    start: float
    end: float


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # (keep-alive, as real servers)

    def log_message(self, *args):  # (quiet)
        pass

    def do_HEAD(self):
        self._serve(head=True)

    def do_GET(self):
        self._serve(head=False)

    def _serve(self, head):
        state = self.server.state
        state.begin()
        start = time.monotonic()
        path = unquote(urlsplit(self.path).path)
        rng = self.headers.get("Range", "")
        fault = state.fault_for(path)
        if state.latency:
            time.sleep(state.latency)
        status, sent = 0, 0
        try:
            if fault and fault[0] == "slow":
                time.sleep(fault[1])
            if fault and fault[0] == "drop":
                status = -1
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if fault and fault[0] == "status":
                status = fault[1]
                self._send(status, b"no", "text/plain", head)
                return
            local = os.path.join(state.root, *[p for p in path.split("/") if p])
            if ".." in path.split("/") or not os.path.exists(local):
                status = 404
                self._send(404, b"not found", "text/plain", head)
                return
            if os.path.isdir(local):
                status = 200
                body = self._index(path, local)
                sent = self._send(200, body, "text/html; charset=utf-8", head)
                return
            size = os.path.getsize(local)
            a, b = 0, size
            status = 200
            if rng:
                m = re.fullmatch(r"bytes=(\d*)-(\d*)", rng.strip())
                if not m or (not m.group(1) and not m.group(2)):
                    status = 416
                elif not m.group(1):
                    a, b = max(0, size - int(m.group(2))), size
                    status = 206
                else:
                    a = int(m.group(1))
                    b = min(size, int(m.group(2)) + 1) if m.group(2) else size
                    status = 206 if a < size else 416
            if status == 416:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            with open(local, "rb") as f:
                f.seek(a)
                body = f.read(b - a)
            announced = len(body)
            if fault and fault[0] == "truncate":
                body = body[: fault[1]]
                self.close_connection = True
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(announced))
            if status == 206:
                self.send_header("Content-Range", f"bytes {a}-{b - 1}/{size}")
            self.end_headers()
            if not head:
                self.wfile.write(body)
                sent = len(body)
                if fault and fault[0] == "truncate":
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
        except (BrokenPipeError, ConnectionResetError, OSError):
            self.close_connection = True
        finally:
            state.record(Served(self.command, path, rng, status, sent, start, time.monotonic()))

    def _send(self, status, body, ctype, head):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)
            return len(body)
        return 0

    def _index(self, path, local):
        base = path if path.endswith("/") else path + "/"
        rows = []
        for name in sorted(os.listdir(local)):
            slash = "/" if os.path.isdir(os.path.join(local, name)) else ""
            rows.append(f'<a href="{quote(name)}{slash}">{html.escape(name)}{slash}</a><br>')
        return (f"<html><head><title>Index of {html.escape(base)}</title></head><body>"
                f'<a href="../">../</a><br>{"".join(rows)}</body></html>').encode()


class _State:
    def __init__(self, root, latency):
        self.root = root
        self.latency = latency
        self.log = []
        self.in_flight = 0
        self.faults = []
        self.lock = threading.Lock()

    def begin(self):
        with self.lock:
            self.in_flight += 1

    def record(self, served):
        with self.lock:
            self.log.append(served)
            self.in_flight -= 1

    def settled_log(self, wait=2.0):
        """The log once no request is being answered (a client may see an answer a
        moment before the server has written it down), or after `wait` seconds."""
        end = time.monotonic() + wait
        while True:
            with self.lock:
                if self.in_flight == 0 or time.monotonic() > end:
                    return list(self.log)
            time.sleep(0.005)

    def fault_for(self, path):
        with self.lock:
            for pattern, action in self.faults:
                if pattern in path:
                    return action
        return None


class _Server(ThreadingHTTPServer):
    request_queue_size = 256  # (http.server's 5 would drop a batch's connections, as no real server does)
    daemon_threads = True


class HttpServer:
    """The server (see the module docstring); a context manager that always stops it."""

    def __init__(self, root, latency=0.0):
        self.state = _State(os.path.abspath(root), latency)
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.state = self.state
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def base(self):
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def url(self, rel=""):
        return f"{self.base}/{quote(rel)}" if rel else self.base

    # --- instrumentation -----------------------------------------------------------
    @property
    def log(self):
        return self.state.settled_log()

    def reset(self):
        self.state.settled_log()  # (what is being answered belongs to the log being cleared)
        with self.state.lock:
            self.state.log.clear()

    def set_latency(self, seconds):
        self.state.latency = seconds

    def fail(self, pattern, action, value=None):
        """Requests whose path contains `pattern` get `action`: ``"status"`` (value: the
        code), ``"truncate"`` (value: bytes sent of the body announced), ``"drop"`` (the
        connection closed without an answer) or ``"slow"`` (value: seconds first)."""
        with self.state.lock:
            self.state.faults.append((pattern, (action, value)))

    def heal(self):
        with self.state.lock:
            self.state.faults.clear()
