"""An S3-compatible server on 127.0.0.1 for the remote-session tests and benchmarks.

moto's server mode (as s3fs's own test suite runs it), its WSGI application wrapped so
that every request is counted (:attr:`S3Server.log`, as ``support.http_server.Served``),
can wait a latency first, and fails on demand (:meth:`S3Server.fail`): an S3 error
status (403 AccessDenied, 404 NoSuchKey, 500), or a slow answer.

    with S3Server(latency=0.02) as s3:
        s3.upload(local_session, "bucket", "x.mefd")
        Reader("s3://bucket/x.mefd", storage_options=s3.options())
"""

import os
import threading
import time
from urllib.parse import unquote

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from .http_server import Served

_ERRORS = {403: "AccessDenied", 404: "NoSuchKey", 500: "InternalError"}


class _Counting:
    """WSGI middleware: latency, faults, and a record of each request."""

    def __init__(self, app, server):
        self.app, self.server = app, server

    def __call__(self, environ, start_response):
        start = time.monotonic()
        method = environ["REQUEST_METHOD"]
        path = unquote(environ.get("PATH_INFO", ""))
        query = environ.get("QUERY_STRING", "")
        rng = environ.get("HTTP_RANGE", "")
        shown = path + ("?" + query if query else "")
        if self.server.latency:
            time.sleep(self.server.latency)
        fault = self.server.fault_for(path) if method in ("GET", "HEAD") and not query.startswith("list") else None
        if fault and fault[0] == "slow":
            time.sleep(fault[1])
        if fault and fault[0] == "status":
            code = fault[1]
            body = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{_ERRORS.get(code, "Error")}</Code>'
                    f"<Message>refused</Message></Error>").encode()
            start_response(f"{code} {_ERRORS.get(code, 'Error')}", [("Content-Type", "application/xml"),
                                                                     ("Content-Length", str(len(body)))])
            self.server.record(Served(method, shown, rng, code, len(body), start, time.monotonic()))
            return [body if method != "HEAD" else b""]
        status = []

        def counted_start(s, headers, exc_info=None):
            status.append(int(s.split()[0]))
            return start_response(s, headers, exc_info)

        chunks = list(self.app(environ, counted_start))
        sent = sum(len(c) for c in chunks)
        self.server.record(Served(method, shown, rng, status[0] if status else 0, sent, start, time.monotonic()))
        return chunks


class _QuietHandler(MotoRequestHandler):
    def log_request(self, *args):
        pass


class _Moto(ThreadedMotoServer):
    def __init__(self, owner):
        super().__init__(ip_address="127.0.0.1", port=0, verbose=False)
        self.owner = owner

    def _server_entry(self):
        app = _Counting(DomainDispatcherApplication(create_backend_app), self.owner)
        self._server = make_server(self._ip_address, self._port, app, True, request_handler=_QuietHandler)
        self._server_ready_event.set()
        self._server.serve_forever()


class S3Server:
    """The server (see the module docstring); a context manager that always stops it."""

    KEY = "testing-key-id"
    SECRET = "testing-secret-Zq9x"

    def __init__(self, latency=0.0):
        self.latency = latency
        self._log = []
        self._faults = []
        self.lock = threading.Lock()
        self.moto = _Moto(self)

    def start(self):
        self.moto.start()
        return self

    def stop(self):
        self.moto.stop()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    @property
    def endpoint(self):
        host, port = self.moto.get_host_and_port()
        return f"http://{host}:{port}"

    def options(self, **extra):
        """storage_options for s3fs: this endpoint, the test credentials, no listing
        cache (every open lists, as the tests count)."""
        opts = {"key": self.KEY, "secret": self.SECRET, "endpoint_url": self.endpoint,
                "client_kwargs": {"region_name": "us-east-1"},
                "use_listings_cache": False}
        opts.update(extra)
        return opts

    def filesystem(self, **extra):
        import s3fs

        return s3fs.S3FileSystem(**self.options(**extra))

    def upload(self, local, bucket, key):
        """Put a local directory (or file) at s3://bucket/key; the bucket is made if needed."""
        import boto3

        client = boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id=self.KEY,
                              aws_secret_access_key=self.SECRET, region_name="us-east-1")
        if bucket not in {b["Name"] for b in client.list_buckets().get("Buckets", [])}:
            client.create_bucket(Bucket=bucket)
        fs = self.filesystem()
        if os.path.isdir(local):
            for root, _, names in os.walk(local):
                for n in names:
                    p = os.path.join(root, n)
                    rel = os.path.relpath(p, local).replace(os.sep, "/")
                    fs.put_file(p, f"{bucket}/{key}/{rel}")
        else:
            fs.put_file(local, f"{bucket}/{key}")
        return f"s3://{bucket}/{key}"

    # --- instrumentation -----------------------------------------------------------
    def record(self, served):
        with self.lock:
            self._log.append(served)

    @property
    def log(self):
        with self.lock:
            return list(self._log)

    def reset(self):
        with self.lock:
            self._log.clear()

    def set_latency(self, seconds):
        self.latency = seconds

    def fault_for(self, path):
        with self.lock:
            for pattern, action in self._faults:
                if pattern in path:
                    return action
        return None

    def fail(self, pattern, action, value=None):
        """GET/HEAD requests of keys containing `pattern` get ``"status"`` (value: 403,
        404 or 500, as S3 error documents) or ``"slow"`` (value: seconds first)."""
        with self.lock:
            self._faults.append((pattern, (action, value)))

    def heal(self):
        with self.lock:
            self._faults.clear()
