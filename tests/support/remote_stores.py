"""One interface over the two test stores (``support.http_server``, ``support.s3_server``)
for tests that run the same on both, and what the tests measure of their logs.

``Store.put(local, name)`` publishes a local session (a directory or an archive file)
and returns its URL; ``options`` are the storage_options a Reader needs; ``log``,
``reset``, ``fail``, ``heal``, ``set_latency`` go to the server.
"""

import os
import shutil


class Store:
    def __init__(self, kind, server, root=None):
        self.kind = kind
        self.server = server
        self.root = root

    def put(self, local, name):
        if self.kind == "s3":
            return self.server.upload(local, "bucket", name)
        target = os.path.join(self.root, name)
        if os.path.isdir(local):
            shutil.copytree(local, target)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(local, target)
        return self.server.url(name)

    @property
    def options(self):
        return self.server.options() if self.kind == "s3" else None

    @property
    def log(self):
        return self.server.log

    def reset(self):
        self.server.reset()

    def fail(self, pattern, action, value=None):
        self.server.fail(pattern, action, value)

    def heal(self):
        self.server.heal()

    def set_latency(self, seconds):
        self.server.set_latency(seconds)


def start_store(kind, tmp_dir):
    """A started Store of `kind` ("http" or "s3"); stop it with ``store.server.stop()``."""
    if kind == "s3":
        from .s3_server import S3Server

        return Store(kind, S3Server().start())
    from .http_server import HttpServer

    root = os.path.join(str(tmp_dir), "http-root")
    os.makedirs(root, exist_ok=True)
    return Store(kind, HttpServer(root).start(), root)


def round_trips(log):
    """Waves of requests in a log: a new wave starts when a request starts with nothing
    in flight (every earlier request answered). A client that sends a batch at once
    keeps requests in flight until the batch is done; one that waits for each answer
    before the next request makes a wave of every request."""
    waves, busy_until = 0, float("-inf")
    for s in sorted(log, key=lambda s: s.start):
        if s.start >= busy_until:
            waves += 1
        busy_until = max(busy_until, s.end)
    return waves


def data_requests(log):
    """The requests that fetched bytes of files (not listings, not HEADs)."""
    return [s for s in log if s.method == "GET" and s.range]
