"""Opening channels: scanned through the byte source, metadata validated in bulk.

A channel is opened when first used (or, with :meth:`Catalog.preload`, many at once):
its directory is scanned (:meth:`ByteSource.scan_channels`: the segments and the head of
every ``.tmet``), intact unencrypted metadata (nearly every file) is accepted in one
bulk pass (``headers.plain_metadata``), and only the rest is read again and parsed file
by file, which gives the exact error or the image to decrypt.
"""

import threading

from .. import forksafe
from ..errors import FormatError, MefError, PasswordError, RemoteError, UnknownChannelError
from ..format import headers
from ..format.layout import METADATA_FILE_BYTES, TMET
from .channel import Channel
from .segment import Segment


class Catalog:
    """The session's channels as the Reader opens them, each built once.

    ``source``: the byte source; ``keyring``: the password's KeyRing; ``skips``: the
    Reader's Skips (``enabled`` with ``on_error="skip"``: damaged segments are left
    out, a channel without any is ``skipped``, a dict name -> problem).
    """

    def __init__(self, source, keyring, skips, where):
        self.source = source
        self.tree = source.list_session()
        self.keyring = keyring
        self.skips = skips
        self.skipped = {}
        self._where = where  # (what errors name: the session's location)
        self._channels = {}
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
        return [c for c in self.tree.channels if c not in self.skipped]

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
        for name in self.names:
            try:
                self.get(name)
            except (PasswordError, RemoteError):  # (a failed transfer is not damage)
                raise
            except MefError as exc:
                self.skipped[name] = str(exc)
                self.skips.skip("channel", self.tree.channel_dirs[name], exc)

    def preload(self, names, executor=None, parts=1):
        """Open several channels at once, their scans (with every ``.tidx`` size and
        records file probed) spread over `executor` in about `parts` pieces. Errors are
        left for :meth:`get` to raise when the channel is used."""
        todo = [n for n in names if n not in self._channels and n in self.tree.channel_dirs
                and n not in self.skipped]
        if len(todo) < 2:
            return
        # all scans before any parsing (a worker waiting for the GIL while this thread
        # parses would wait out a whole switch interval)
        scans = self.source.scan_channels(todo, probe=True, executor=executor, parts=parts)
        found = [(name, s, self.tree.segment_files(name, s.numbers.tolist(), s.widths))
                 for name, s in zip(todo, scans) if not isinstance(s, MefError)]
        try:  # (all channels validated in one bulk pass)
            plains = headers.plain_metadata([s for _, s, _ in found], [[f.tmet for f in files] for _, _, files in found],
                                            self._keys_for_image, self._read_metadata)
        except MefError:
            return  # (raised again when each channel is used)
        for (name, s, files), plain in zip(found, plains):
            with self._lock:
                if name not in self._channels:
                    try:
                        self._build(name, s, files, plain)
                    except MefError:
                        pass  # raised again when the channel is used

    def close(self):
        for ch in self.opened():
            ch.close()
        self.source.close()

    # --- one channel -----------------------------------------------------------------
    def _open(self, name):
        if name in self.skipped:
            raise FormatError(f"channel {name!r} was skipped as damaged: {self.skipped[name]}", self._where)
        if name not in self.tree.channel_dirs:
            raise UnknownChannelError(
                f"no channel {name!r} in the session (channels: {', '.join(self.names) or 'none'})", self._where
            )
        (scan,) = self.source.scan_channels([name])
        if isinstance(scan, MefError):
            raise scan
        files = self.tree.segment_files(name, scan.numbers.tolist(), scan.widths)
        (plain,) = headers.plain_metadata([scan], [[f.tmet for f in files]], self._keys_for_image,
                                          self._read_metadata)
        return self._build(name, scan, files, plain)

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

    def _build(self, name, scan, all_files, plain):
        """The channel's segments from its scan and the bulk-validated metadata (``plain``)."""
        skip = self.skips.enabled
        segments = []
        lock = threading.Lock()
        for i, files in enumerate(all_files):
            try:
                meta = plain[i]
                if meta is None:  # read again: the exact error, or the image to decrypt
                    meta = headers.parse_stable(
                        lambda: self._read_metadata(files.tmet),
                        lambda raw: headers.parse_metadata(raw, files.tmet, keys=self._keys_for_image(raw, files.tmet)),
                    )
                seg = Segment(self.source, files, meta, self.skips.skip if skip else None,
                              None if scan.index_sizes is None else int(scan.index_sizes[i]),
                              None if scan.record_flags is None else int(scan.record_flags[i]), lock)
                if skip:
                    seg.index()  # a damaged index skips the segment now, not at a read
            except (PasswordError, RemoteError):  # (a failed transfer is not damage)
                raise
            except MefError as exc:
                if not skip:
                    raise
                self.skips.skip("segment", files.directory, exc)
                continue
            if skip and segments and seg.fs != segments[0].fs:
                self.skips.skip("segment", files.directory, f"sampled at {seg.fs} Hz, the channel at {segments[0].fs} Hz")
                continue
            segments.append(seg)
        if not segments:
            what = "readable segments" if skip else "segments"
            raise FormatError(f"channel {name!r} has no {what}", self.tree.channel_dirs[name])
        fs0 = segments[0].fs
        for seg in segments[1:]:
            if seg.fs != fs0:
                raise FormatError(
                    f"segment {seg.number} of channel {name!r} is sampled at {seg.fs} Hz, segment "
                    f"{segments[0].number} at {fs0} Hz; one channel has one rate",
                    seg.files.tmet,
                )
        ch = Channel(name, segments)
        self._channels[name] = ch
        return ch
