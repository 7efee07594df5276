"""Opening channels: scanned through the byte source in batches, metadata accepted in bulk.

A channel is opened when first used, together with the next channels not open yet (a
read-ahead that grows with what is open: a loop over a session's channels opens them
in a few batches), or many at once with :meth:`Catalog.preload`. A batch is one scan of
the byte source (:meth:`ByteSource.scan_session`: the channels listed and every
``.tmet`` read and judged, on the Reader's threads); intact unencrypted metadata (nearly
every file) is accepted for the whole batch in one numpy pass
(``headers.plain_rows``), and only the rest is read again and parsed file by file,
which gives the exact error or the image to decrypt. A channel keeps its segments as
rows (:mod:`.rows`); its Segment objects are made when it is first read.
"""

import collections
import threading

from .. import forksafe
from ..errors import FormatError, MefError, PasswordError, RemoteError, UnknownChannelError
from ..format import headers
from ..format.layout import METADATA_FILE_BYTES, TMET, UNIVERSAL_HEADER_BYTES
from .channel import Channel
from .rows import SegmentRows, scan_values
from .segment import Segment

# one scan of a batch as lists (what every channel's rows are sliced from): per channel
# its first row (``starts``), per row ``numbers``, ``accepted`` (headers.plain_rows),
# ``values`` (rows.scan_values), the probe; ``heads`` the scan's array, ``keys`` those of
# the accepted rows, ``images`` the first segments' images, ``widths`` the digits of
# each row's folder name (None: all as MEF spells them)
_Table = collections.namedtuple("_Table", "starts numbers accepted values heads keys images index_sizes record_flags "
                                          "channel_record_flags widths")

#: channels opened with the one asked for (besides the first channel, opened alone):
#: at least this many, or as many as are open already
READ_AHEAD = 16


class Catalog:
    """The session's channels as the Reader opens them, each built once.

    ``source``: the byte source; ``keyring``: the password's KeyRing; ``skips``: the
    Reader's Skips (``enabled`` with ``on_error="skip"``: damaged segments are left
    out, a channel without any is ``skipped``, a dict name -> problem); ``threads``:
    how many threads a scan may use; ``executor``: a callable giving the Reader's pool
    (made when first asked for), for sources that scan on it.
    """

    def __init__(self, source, keyring, skips, where, threads=1, executor=None):
        self.source = source
        self.tree = source.list_session()
        self.keyring = keyring
        self.skips = skips
        self.skipped = {}
        self._where = where  # (what errors name: the session's location)
        self._threads = threads
        self._executor = executor
        self._channels = {}
        self._order = {name: i for i, name in enumerate(self.tree.channels)}
        self._lock = threading.RLock()
        forksafe.register(self, Catalog._after_fork)

    def _after_fork(self):
        """In a forked child: a lock some thread of the parent held would stay held."""
        self._lock = threading.RLock()
        for ch in list(self._channels.values()):
            ch.after_fork()

    @property
    def names(self):
        """The session's channels, sorted (without skipped ones)."""
        skipped = self.skipped
        return [c for c in self.tree.channels if c not in skipped] if skipped else self.tree.channels

    def opened(self):
        """The channels opened so far."""
        return list(self._channels.values())

    def get(self, name):
        """The channel `name`, opened now if it was not (threads sharing the Reader open
        each channel once); UnknownChannelError / FormatError / PasswordError."""
        ch = self._channels.get(name)
        if ch is not None:
            return ch
        with self._lock:
            ch = self._channels.get(name)
            if ch is None:
                ch = self._open(name)
            return ch

    def skip_damaged(self):
        """With ``on_error="skip"``: open every channel now, leaving out (and noting) those
        that cannot be opened; a wrong password still raises."""
        with self._lock:
            failed = self._open_batch([n for n in self.names if n not in self._channels], None, False)
        for name, exc in failed.items():
            if isinstance(exc, (PasswordError, RemoteError)):  # (a failed transfer is not damage)
                raise exc
            self.skipped[name] = str(exc)
            self.skips.skip("channel", self.tree.channel_dirs[name], exc)

    def preload(self, names, probe=True):
        """Open several channels at once (with every ``.tidx`` size and records file
        probed). Errors are left for :meth:`get` to raise when the channel is used."""
        with self._lock:
            todo = [n for n in names if n not in self._channels and n in self.tree.channel_dirs
                    and n not in self.skipped]
            if todo:
                self._open_batch(todo, None, probe)

    def check_password(self):
        """PasswordError unless the password opens the session: checked against the
        header of the first channel's first ``.tmet`` that can be read (damaged ones are
        reported when their channel is used); nothing else is read."""
        for name in self.names:
            try:
                scan = self.source.scan_session([name], False, 1, None, True)
                if scan.errors[0] is not None or not len(scan.numbers):
                    continue
                path = self.tree.segment_files(name, scan.numbers[:1].tolist(), scan.widths)[0].tmet
                if scan.lengths[0] < UNIVERSAL_HEADER_BYTES:
                    continue
                self._keys_for_image(scan.heads[0, :UNIVERSAL_HEADER_BYTES].tobytes(), path)
                return
            except (PasswordError, RemoteError):  # (a failed transfer is not damage)
                raise
            except MefError:
                continue

    def open_all(self):
        """Open every channel from one probed scan (errors left for :meth:`get`); the
        scan (what the metadata cache keeps)."""
        with self._lock:
            names = self.tree.channels
            scan = self.source.scan_session(names, True, self._threads, self._executor)
            self._open_batch(names, None, True, scan)
        return scan

    def adopt(self, scan):
        """Open the channels of `scan` (a SessionScan the metadata cache kept)."""
        with self._lock:
            self._open_batch(list(scan.names), None, True, scan)

    def close(self):
        for ch in self.opened():
            ch.close()
        self.source.close()

    # --- opening ---------------------------------------------------------------------
    def _open(self, name):
        if name in self.skipped:
            raise FormatError(f"channel {name!r} was skipped as damaged: {self.skipped[name]}", self._where)
        if name not in self.tree.channel_dirs:
            raise UnknownChannelError(
                f"no channel {name!r} in the session (channels: {', '.join(self.names) or 'none'})", self._where
            )
        batch = [name]
        if self._channels:  # (the first channel is opened alone: the Reader's password check)
            batch += self._following(name, max(READ_AHEAD, len(self._channels)) - 1)
        self._open_batch(batch, name, False)
        return self._channels[name]

    def _following(self, name, count):
        """Up to `count` channels after `name` (in name order, then from the first) not
        open, not skipped."""
        names = self.tree.channels
        i = self._order[name]
        out = []
        for other in names[i + 1 :] + names[:i]:
            if len(out) >= count:
                break
            if other not in self._channels and other not in self.skipped:
                out.append(other)
        return out

    def _open_batch(self, names, required, probe, scan=None):
        """Open `names` from one scan (made now, or `scan`); the errors of channel
        `required` are raised, the others' returned (name -> MefError; :meth:`get` opens
        such a channel alone again, and raises)."""
        threads = self._threads if len(names) > 1 else 1
        executor = self._executor if threads > 1 else None
        try:
            if scan is None:
                scan = self.source.scan_session(names, probe, threads, executor)
        except MefError as exc:
            if required is not None:
                raise
            return dict.fromkeys(names, exc)
        failed = {}
        accepted, keys = self._accepted(scan)
        table = _Table(scan.starts.tolist(), scan.numbers.tolist(), accepted.tolist(), scan_values(scan), scan.heads,
                       keys, scan.images, None if scan.index_sizes is None else scan.index_sizes.tolist(),
                       None if scan.record_flags is None else scan.record_flags.tolist(),
                       None if scan.channel_record_flags is None else scan.channel_record_flags.tolist(),
                       None if scan.widths is None else scan.widths.tolist())
        for i, name in enumerate(names):
            if name in self._channels:
                continue
            try:
                if scan.errors[i] is not None:
                    raise scan.errors[i]
                self._channels[name] = self._build(name, table, i)
            except MefError as exc:
                if name == required:
                    raise
                failed[name] = exc
        return failed

    def _accepted(self, scan):
        """Per segment row, whether its metadata is taken as the scan read it (see
        ``headers.plain_rows``), and the Keys of those rows."""
        accepted, ref = headers.plain_rows(scan.plain, scan.heads)
        if ref < 0:
            return accepted, None
        try:
            keys = self._keys_for_image(scan.heads[ref, :UNIVERSAL_HEADER_BYTES].tobytes())
        except MefError:  # (left to the file-by-file path, which says which file)
            accepted[:] = False
            return accepted, None
        return accepted, keys

    def _read_metadata(self, path):
        return self.source.read_file(path, "metadata", METADATA_FILE_BYTES)

    def _keys_for_image(self, raw, path=None):
        """Keys for a .tmet image: the session's keys are usually known after its first
        file, so they are looked up by the raw validation fields (parse_metadata
        validates the header anyway)."""
        keys = self.keyring.known(raw)
        if keys is None:
            uh = headers.parse_universal_header(raw, path, TMET)
            keys = self.keyring.for_header(uh, path)
        return keys

    def _parse(self, path):
        """A ``.tmet`` read again and parsed: the exact error, or the image decrypted."""
        return headers.parse_stable(
            lambda: self._read_metadata(path),
            lambda raw: headers.parse_metadata(raw, path, keys=self._keys_for_image(raw, path)),
        )

    def _build(self, name, table, i):
        """Channel `name` (number `i` of the scan) from its rows of the scan's `table`."""
        a, b = table.starts[i], table.starts[i + 1]
        sizes, flags, own, widths = table.index_sizes, table.record_flags, table.channel_record_flags, table.widths
        rows = SegmentRows(name, self.tree.channel_dirs[name], table.numbers[a:b], table.values[a:b], table.heads, a,
                           table.keys, table.images.get(a), None if sizes is None else sizes[a:b],
                           None if flags is None else flags[a:b], self._read_metadata,
                           None if own is None else own[i], None if widths is None else widths[a:b])
        ok = table.accepted[a:b]
        if ok and not ok[0]:
            rows.image = None  # (not taken as the scan read it)
        if self.skips.enabled:
            segments = self._kept_segments(rows, ok)
        else:
            segments = None
            for j, good in enumerate(ok):
                if not good or (j == 0 and rows.image is None):
                    rows.set_meta(j, self._parse(rows.tmet(j)))
        if not len(rows):
            what = "readable segments" if self.skips.enabled else "segments"
            raise FormatError(f"channel {name!r} has no {what}", self.tree.channel_dirs[name])
        fs = [v[0] for v in rows.values]
        if fs.count(fs[0]) != len(fs):
            k = next(j for j, f in enumerate(fs) if f != fs[0])
            raise FormatError(
                f"segment {rows.numbers[k]} of channel {name!r} is sampled at {fs[k]} Hz, segment "
                f"{rows.numbers[0]} at {fs[0]} Hz; one channel has one rate",
                rows.tmet(k),
            )
        return Channel(name, rows, self._segments_of, segments)

    def _segments_of(self, rows):
        """The Segment objects of a channel's rows."""
        lock = threading.Lock()
        on_skip = self.skips.skip if self.skips.enabled else None
        files = self.tree.segment_files(rows.name, rows.numbers, rows.widths)
        sizes, flags = rows.index_sizes, rows.record_flags
        return [Segment(self.source, f, rows.meta(j), on_skip, None if sizes is None else sizes[j],
                        None if flags is None else flags[j], lock) for j, f in enumerate(files)]

    def _kept_segments(self, rows, ok):
        """With ``on_error="skip"``: the segments whose metadata and index can be read and
        whose rate is the first kept one's (the others noted and dropped from `rows`)."""
        lock = threading.Lock()
        sizes, flags = rows.index_sizes, rows.record_flags
        kept, segments = [], []
        for j, files in enumerate(self.tree.segment_files(rows.name, rows.numbers, rows.widths)):
            try:
                if not ok[j] or (j == 0 and rows.image is None):
                    rows.set_meta(j, self._parse(rows.tmet(j)))
                seg = Segment(self.source, files, rows.meta(j), self.skips.skip, None if sizes is None else sizes[j],
                              None if flags is None else flags[j], lock)
                seg.index()  # a damaged index skips the segment now, not at a read
            except (PasswordError, RemoteError):  # (a failed transfer is not damage)
                raise
            except MefError as exc:
                self.skips.skip("segment", files.directory, exc)
                continue
            if segments and seg.fs != segments[0].fs:
                self.skips.skip("segment", files.directory, f"sampled at {seg.fs} Hz, the channel at {segments[0].fs} Hz")
                continue
            kept.append(j)
            segments.append(seg)
        rows.keep(kept)
        return segments
