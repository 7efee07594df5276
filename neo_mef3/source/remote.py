"""Sessions on any fsspec file system: S3, HTTP(S), GCS, Azure, ``file://`` and the rest.

Opening lists the whole tree in one call where the store allows (``find``: one
paginated listing on object stores), or, over HTTP, reads the directory index pages
level by level (session, channels, segments: three waves of concurrent requests).
Small files and the ranges of a read go out in batches of concurrent requests
(``_cat_file``/``_info`` gathered on the file system's event loop). Errors become
:class:`~neo_mef3.errors.RemoteError` s naming the file's URL, after the client's own
retries; credentials never enter a message, a repr or ``location``.

fsspec's caching file systems work as the outermost link of a URL:
``simplecache::`` / ``filecache::`` (whole files kept on local disk, read through their
``cat_ranges``) and ``blockcache::`` (blocks of the files kept in a local sparse file,
read through file objects). See docs/remote.md for when to use which.
"""

import asyncio
import errno
import os
import pickle
from urllib.parse import quote, unquote

from ..errors import (
    FormatError,
    MefError,
    RemoteAccessError,
    RemoteConnectionError,
    RemoteError,
    RemoteNotFoundError,
    RemoteTimeoutError,
)
from ..format.layout import SEGMENT_EXT, TS_CHANNEL_EXT
from .base import RangeFile, read_merged
from .listed import Listing, ListedRangeFile, ListedSource
from .locations import shown_url

#: protocols whose listing is a walk of index pages (one request per directory)
_PAGE_LISTED = {"http", "https"}
#: default timeouts of an HTTP client where the options set none (aiohttp's own
#: default lets a silent server hold a read for five minutes)
HTTP_CONNECT_TIMEOUT = 30.0
HTTP_READ_TIMEOUT = 60.0
#: S3 connections kept open: a batch's requests go out together
S3_POOL_CONNECTIONS = 64
#: seconds a batch of requests may take (plus one per MB asked for), whatever the
#: client's own timeouts and retries would allow (some retry for many minutes); the
#: environment variable NEO_MEF3_REMOTE_TIMEOUT changes it
BATCH_TIMEOUT = 60.0
#: a whole-channel read of a remote file goes in ranges of at least this size
REMOTE_PIECE_BYTES = 2 << 20

_S3_MISSING = {"NoSuchKey", "NoSuchBucket", "NotFound", "404"}
_S3_DENIED = {"AccessDenied", "Forbidden", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled"}
_TIMEOUTS = {"TimeoutError", "ServerTimeoutError", "ReadTimeoutError", "ConnectTimeoutError", "FSTimeoutError",
             "ConnectTimeout", "ReadTimeout", "SocketTimeoutError", "timeout"}
_DROPS = {"ConnectionError", "ClientPayloadError", "ServerDisconnectedError", "ClientConnectionError",
          "ClientOSError", "ConnectionClosedError", "EndpointConnectionError", "IncompleteReadError",
          "IncompleteRead", "ResponseStreamingError", "ContentLengthError", "TransferEncodingError",
          "HTTPClientError", "ProtocolError"}


def fsspec_module():
    """fsspec, or an ImportError saying which extra brings it."""
    try:
        import fsspec
    except ImportError:  # pragma: no cover - the extra is missing
        raise ImportError("reading sessions from URLs needs fsspec: pip install 'neo_mef3[remote]'") from None
    return fsspec


def remote_error(exc, url):
    """The MefError a store's exception means, naming the file's (shown) URL; nothing of
    the exception's own text (it may hold a signed URL or a header) is kept."""
    if isinstance(exc, MefError):
        return exc
    while isinstance(exc, FileNotFoundError) and isinstance(exc.__cause__, Exception):
        exc = exc.__cause__  # (fsspec's HTTP info() says "not found" for any failure: the cause tells)
    names = {c.__name__ for c in type(exc).__mro__}
    status = getattr(exc, "status", None)
    response = getattr(exc, "response", None)
    if isinstance(response, dict):  # (an S3 error the client left untranslated)
        code = str(response.get("Error", {}).get("Code", ""))
        status = status or response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        status = 404 if code in _S3_MISSING else 403 if code in _S3_DENIED else status
    kind = type(exc).__name__
    if isinstance(exc, FileNotFoundError) or status == 404:
        err = RemoteNotFoundError("file is missing (not found on the store)", url)
    elif isinstance(exc, PermissionError) or status in (401, 403):
        code = f"HTTP {status}" if status else kind
        err = RemoteAccessError(f"access denied ({code}): check the credentials given in storage_options "
                                "or the environment", url)
    elif names & _TIMEOUTS or isinstance(exc, (TimeoutError, asyncio.TimeoutError)):
        err = RemoteTimeoutError(f"the store did not answer in time ({kind}); a slow or unreachable server",
                                 url)
    elif names & _DROPS or isinstance(exc, ConnectionError):
        err = RemoteConnectionError(f"the connection failed or was dropped before the file's bytes arrived ({kind})",
                                    url)
    elif isinstance(status, int):
        err = RemoteError(f"the store answered HTTP {status}", url)
    else:
        err = RemoteError(f"cannot read the file ({kind})", url)
    err.__suppress_context__ = True
    return err


def _client_defaults(url, options):
    """Options with neo_mef3's defaults where they set nothing: HTTP(S) connect and read
    timeouts; for S3, a connection pool as large as a batch of concurrent requests
    (botocore's default of 10 would queue them)."""
    if "::" in url:
        return options
    scheme = url.split("://", 1)[0].lower()
    if scheme in ("http", "https"):
        client = dict(options.get("client_kwargs") or {})
        if "timeout" in client:
            return options
        import aiohttp

        client["timeout"] = aiohttp.ClientTimeout(total=None, sock_connect=HTTP_CONNECT_TIMEOUT,
                                                  sock_read=HTTP_READ_TIMEOUT)
        return dict(options, client_kwargs=client)
    if scheme in ("s3", "s3a"):
        config = dict(options.get("config_kwargs") or {})
        config.setdefault("max_pool_connections", S3_POOL_CONNECTIONS)
        return dict(options, config_kwargs=config)
    return options


def _async(fs, name):
    """fsspec's coroutine method `name` of an async file system (``ls`` -> ``fs._ls``):
    fsspec names its async API with a leading underscore; these are its names, not ours."""
    return getattr(fs, "_" + name)


async def _gather(coros, limit):
    """Every coroutine's result or exception; each one still running after `limit`
    seconds is cancelled and gives a TimeoutError (the others keep their results)."""
    return await asyncio.gather(*(asyncio.wait_for(c, limit) for c in coros), return_exceptions=True)


class FsspecStore:
    """One fsspec file system and a root path on it, reached the fastest way it offers:
    concurrent requests on its event loop (an async file system), whole-file caching
    (``simplecache``/``filecache``), file objects (``blockcache``), or one call after
    another (any other synchronous file system)."""

    def __init__(self, url=None, storage_options=None, fs=None):
        self.options = dict(storage_options or {})
        self.url = url
        self.given_fs = fs
        root = self._connect()
        self.root = root.rstrip("/") if root not in ("/", "") else root
        if fs is None:
            self.shown = shown_url(url).rstrip("/")
        else:
            self.shown = shown_url(fs.unstrip_protocol(root) if "://" not in url else url).rstrip("/")

    def _connect(self):
        """(Re)make the file system; returns the root path on it."""
        fsspec = fsspec_module()
        self.pid = os.getpid()
        if self.given_fs is None:
            self.fs, root = fsspec.core.url_to_fs(self.url, **_client_defaults(self.url, self.options))
        else:  # (fsspec file systems pickle as the recipe that makes them again)
            fs = self.given_fs if getattr(self, "fs", None) is None else pickle.loads(pickle.dumps(self.given_fs))
            self.fs, root = fs, fs._strip_protocol(self.url)
        from fsspec.implementations.cached import CachingFileSystem, WholeFileCacheFileSystem

        inner = self.fs.fs if isinstance(self.fs, CachingFileSystem) else self.fs
        protocols = inner.protocol if isinstance(inner.protocol, (tuple, list)) else (inner.protocol,)
        self.pages = bool(_PAGE_LISTED & set(protocols))
        self.lister = inner
        if isinstance(self.fs, WholeFileCacheFileSystem):
            self.mode = "whole-files"
        elif isinstance(self.fs, CachingFileSystem):
            self.mode = "file-objects"
        elif getattr(self.fs, "async_impl", False):
            self.mode = "async"
        else:
            self.mode = "sync"
        return root

    def describe(self):
        if self.given_fs is not None:
            return {"kind": "fsspec", "url": self.url, "fs": self.given_fs}
        return {"kind": "fsspec", "url": self.url, "storage_options": self.options}

    def path(self, rel):
        """The file system's path of `rel` (relative to the root)."""
        if self.pages:
            rel = quote(rel, safe="/")
        return f"{self.root}/{rel}" if rel else self.root

    # --- listing ----------------------------------------------------------------------
    def _in_this_process(self):
        """A forked child makes its own file system when it first uses the store (the
        parent's event loop thread is not in the child; fsspec refuses, or would wait
        for it forever). Not at the fork itself: fsspec resets its loop after us."""
        if self.pid != os.getpid():
            self._connect()

    def listing(self):
        """{relative path: size or None} and the set of relative directories under the
        root; FileNotFoundError when there is nothing there."""
        self._in_this_process()
        entries = self._pages() if self.pages else self.fs.find(self.root, withdirs=True, detail=True)
        files, dirs = {}, set()
        prefix = self.root.rstrip("/") + "/"
        for name, info in entries.items():
            name = name.rstrip("/")
            if not name.startswith(prefix):
                continue
            rel = name[len(prefix):]
            if self.pages:
                rel = unquote(rel)
            if not rel:
                continue
            if info.get("type") == "directory":
                dirs.add(rel)
            else:
                size = info.get("size")
                files[rel] = int(size) if isinstance(size, int) else None
        if not files and not dirs and not self.fs.exists(self.root):
            raise FileNotFoundError(errno.ENOENT, "not found", self.root)
        return files, dirs

    def _pages(self):
        """The tree from index pages: the session's, then its channels', then their
        segments' (each level one wave of concurrent requests)."""
        fs = self.lister
        found = {}
        level = [self.root]
        for depth, wanted in enumerate((TS_CHANNEL_EXT, SEGMENT_EXT, None)):
            if not level:
                break
            got = self._run([_async(fs, "ls")(d.rstrip("/") + "/", detail=True) for d in level])
            nxt = []
            for d, entries in zip(level, got):
                if isinstance(entries, FileNotFoundError) and depth > 0:
                    continue  # (a directory gone since its parent was listed)
                if isinstance(entries, BaseException):
                    raise entries
                for info in entries:
                    name = info["name"].rstrip("/")
                    found[name] = info
                    if wanted and info["type"] == "directory" and unquote(name).endswith(wanted):
                        nxt.append(name)
            level = nxt
        return found

    # --- fetching ---------------------------------------------------------------------
    def _run(self, coros, nbytes=0):
        """The results of `coros`, run together on the file system's loop, within the
        batch timeout (what is still running then is cancelled and times out)."""
        from fsspec.asyn import sync

        limit = float(os.environ.get("NEO_MEF3_REMOTE_TIMEOUT") or BATCH_TIMEOUT) + nbytes / 1e6
        try:
            return sync(self.lister.loop, _gather, coros, limit, timeout=limit + 10)
        except Exception as exc:  # noqa: BLE001 - fsspec's FSTimeoutError (or the loop's own failure)
            return [exc] * len(coros)

    def fetch(self, gets, stats):
        """For each ``(path, start, stop)`` of `gets` its bytes, for each path of `stats`
        its size (asked of the file system under a cache: a cache may not know it): the
        store's exceptions in place of what failed."""
        self._in_this_process()
        fs = self.fs
        if self.mode == "async":
            cat, info = _async(fs, "cat_file"), _async(fs, "info")
            nbytes = sum((b or 0) - a for _, a, b in gets)
            got = self._run([cat(p, start=a, end=b) for p, a, b in gets] + [info(p) for p in stats], nbytes)
        elif self.mode == "whole-files":
            got = fs.cat_ranges([p for p, _, _ in gets], [a for _, a, _ in gets], [b for _, _, b in gets],
                                on_error="return") if gets else []
            got = list(got) + [self._call(self.lister.info, p) for p in stats]
        else:
            read = self._read_object if self.mode == "file-objects" else self._read_call
            got = [self._call(read, p, a, b) for p, a, b in gets] + [self._call(self.lister.info, p) for p in stats]
        datas, infos = got[: len(gets)], got[len(gets):]
        for k, ((_, a, b), data) in enumerate(zip(gets, datas)):
            # a server that ignores Range sends the whole file (a 200): keep the range
            if isinstance(data, bytes) and b is not None and len(data) > b - a:
                datas[k] = data[a:b]
        sizes = [i if isinstance(i, BaseException) else i.get("size") for i in infos]
        return datas, sizes

    @staticmethod
    def _call(fn, *args):
        try:
            return fn(*args)
        except Exception as exc:  # noqa: BLE001 - handed back in place of the result
            return exc

    def _read_call(self, path, start, stop):
        return self.fs.cat_file(path, start=start, end=stop)

    def _read_object(self, path, start, stop):
        with self.fs.open(path, "rb") as f:
            f.seek(start)
            return f.read(-1 if stop is None else stop - start)


class FsspecSource(ListedSource):
    """A session directory on an fsspec file system (see the module docstring).

    ``url``: the session's URL (or, with ``fs``, its path on that file system);
    ``storage_options``: the file system's options (credentials, endpoint, timeouts,
    nested per protocol for a chained URL); ``fs``: a ready
    ``fsspec.AbstractFileSystem`` instead.
    """

    read_piece_bytes = REMOTE_PIECE_BYTES

    def __init__(self, url, storage_options=None, fs=None):
        self.store = FsspecStore(url, storage_options, fs)
        super().__init__(self.store.shown)

    def describe(self):
        return self.store.describe()

    def _list(self):
        try:
            files, dirs = self.store.listing()
        except FileNotFoundError:
            raise FormatError("not a MEF 3.0 session: the path does not exist", self.location) from None
        except (TypeError, AttributeError, ImportError, NotImplementedError):
            raise  # (storage options the file system does not take, a missing client library)
        except Exception as exc:  # noqa: BLE001 - the store's own exceptions
            raise remote_error(exc, self.location) from None
        return Listing(files, dirs), self.location

    def _fetch(self, gets, stats):
        store = self.store
        datas, sizes = store.fetch([(store.path(r), a, b) for r, a, b in gets], [store.path(r) for r in stats])
        datas = [remote_error(d, self.shown_path(r)) if isinstance(d, BaseException) else d
                 for (r, _, _), d in zip(gets, datas)]
        sizes = [remote_error(s, self.shown_path(r)) if isinstance(s, BaseException) else s
                 for r, s in zip(stats, sizes)]
        return datas, sizes

    def _open_file(self, rel, size):
        return ListedRangeFile(self, rel, size)


class RemoteFile(RangeFile):
    """Byte ranges of one object on a store (an archive of a session): every batch of
    ranges one wave of concurrent requests. ``size``: the object's size (one request
    when it is opened)."""

    read_piece_bytes = REMOTE_PIECE_BYTES

    def __init__(self, url, storage_options=None, fs=None):
        self.store = FsspecStore(url, storage_options, fs)
        self.path = self.store.shown
        (size,) = self.store.fetch([], [self.store.root])[1]
        if isinstance(size, BaseException):
            if isinstance(size, FileNotFoundError):
                raise FormatError("not a MEF 3.0 session: the archive does not exist", self.path)
            raise remote_error(size, self.path)
        self.size = size

    def describe(self):
        return self.store.describe()

    def read(self, start, stop):
        return self.read_ranges([(start, stop)])[0]

    def read_ranges(self, ranges, merge_gap=0):
        def fetch(spans):
            datas, _ = self.store.fetch([(self.store.root, lo, hi) for lo, hi in spans], [])
            for data in datas:
                if isinstance(data, BaseException):
                    raise remote_error(data, self.path)
            return datas

        return read_merged(ranges, merge_gap, self.size, fetch)

    def close(self):
        pass
