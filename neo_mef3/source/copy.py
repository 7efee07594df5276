"""A session any source reads, as a local directory: for what reads every byte anyway.

``neo-mef3 check`` decodes every block and verifies every file's CRC, ``anonymize``
rewrites every file: for a remote or packed session they work on a temporary local
copy, fetched in batches (small files many at a time, data files in large ranges).
"""

import contextlib
import os
import shutil
import tempfile

from .base import ByteSource
from .local import LocalSource

#: files up to this size are fetched in batches; larger ones in ranges of this size
SMALL_FILE_BYTES = 1 << 20
#: files fetched in one batch
BATCH_FILES = 64


@contextlib.contextmanager
def local_copy(source, directory=None):
    """Yield the path of a local session directory holding what `source` (a ByteSource)
    holds: a local source's own directory, else a copy in a temporary directory (under
    `directory`), removed afterwards."""
    if isinstance(source, LocalSource):
        yield source.location
        return
    if not isinstance(source, ByteSource) or not hasattr(source, "files"):
        raise TypeError("local_copy takes a local source or one that lists its files")
    tree = source.list_session()
    tmp = tempfile.mkdtemp(prefix="neo_mef3-copy-", dir=directory)
    try:
        root = os.path.join(tmp, tree.path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1])
        os.mkdir(root)

        def local(path):
            rel = path[len(tree.path) + 1:].replace("\\", "/")
            return os.path.join(root, *rel.split("/"))

        for d in source.directories():
            os.makedirs(local(d), exist_ok=True)
        files = source.files()
        unknown = [p for p, size in files if size is None]
        if unknown:  # (an HTTP listing gives no sizes: asked for in one batch)
            sized = dict(zip(unknown, source.sizes(unknown)))
            files = [(p, sized.get(p, size)) for p, size in files]
        small = [p for p, size in files if size is not None and size <= SMALL_FILE_BYTES]
        for k in range(0, len(small), BATCH_FILES):
            batch = small[k: k + BATCH_FILES]
            for path, data in zip(batch, source.read_files(batch)):
                if isinstance(data, Exception):
                    raise data
                _write(local(path), [data])
        for path, size in files:
            if size is None or size > SMALL_FILE_BYTES:
                f = source.open(path)
                try:
                    _write(local(path), _chunks(f, size))
                finally:
                    f.close()
        yield root
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _chunks(f, size):
    start = 0
    while size is None or start < size:
        data = f.read(start, start + SMALL_FILE_BYTES * 8)
        if not data:
            return
        yield data
        start += len(data)


def _write(path, chunks):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as out:
        for c in chunks:
            out.write(c)
