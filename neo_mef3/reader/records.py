"""Records (annotations) as a Reader returns them: session, channel and segment levels.

The files come from the byte source and are parsed by ``format.records``; here is which
files make a level, the level-2 rule (records may identify the subject) and, with
``on_error="skip"``, leaving a damaged records file out.
"""

from ..errors import FormatError, MefError, PasswordError, RemoteError
from ..format import crypto
from ..format import records as record_files
from ..format.layout import RDAT, RIDX, UH_CHANNEL_NAME, text


class RecordReader:
    """Reads a session's records files through `catalog` (its source, tree and keys)."""

    def __init__(self, catalog):
        self.catalog = catalog
        self._encrypted = None

    def _session_encrypted(self):
        if self._encrypted is None:
            self._encrypted = False
            for name in self.catalog.names[:1]:
                head = self.catalog.get(name).rows.first_head()
                self._encrypted = crypto.is_encrypted_header(crypto.header_fields(head)[0])
        return self._encrypted

    def records(self, channel, where):
        """The records of the session (`channel` None) or of a channel (its own, then its
        segments'), each with ``level``, ``channel`` and ``segment`` set."""
        catalog = self.catalog
        if channel is None:
            names = catalog.names
            ref = catalog.get(names[0]) if names else None
        else:
            ref = catalog.get(channel)
        # without a readable channel, a records file's own header validates the password
        rows = ref.rows if ref is not None else None
        keys = rows.first_keys() if rows is not None else None
        rto = rows.values[0][5] if rows is not None else 0
        if keys is not None and self._session_encrypted() and keys.access_level < crypto.LEVEL_2_ACCESS:
            raise PasswordError("records of an encrypted session need the level-2 password", where)
        out = []
        if channel is None:
            for r in self._read(catalog.tree.rdat, keys, rto):
                r.update(level="session", channel=None, segment=None)
                out.append(r)
            return out
        if rows.channel_record_flags == 0 and rows.record_flags is not None and not any(rows.record_flags):
            return out  # (a probe saw no records file of the channel or its segments)
        owner = text(rows.first_head()[UH_CHANNEL_NAME]) or channel
        if rows.channel_record_flags != 0:  # (0: a probe saw no records file of the channel)
            rdat, _ = catalog.tree.channel_records(channel)
            for r in self._read(rdat, keys, rto, owner):
                r.update(level="channel", channel=channel, segment=None)
                out.append(r)
        exists = catalog.source.exists
        flags = rows.record_flags  # (as probed when the channel was opened, or looked at now)
        for j, number in enumerate(rows.numbers):
            if flags is not None and not flags[j]:
                continue  # (what _parse does first, without two calls per segment)
            seg_rdat = rows.path(j, RDAT)
            if flags is None and not (exists(seg_rdat) or exists(rows.path(j, RIDX))):
                continue
            for r in self._read(seg_rdat, keys, rows.values[j][5], owner):
                r.update(level="segment", channel=channel, segment=number)
                out.append(r)
        return out

    def _read(self, rdat, keys, rto, owner=""):
        try:
            return self._parse(rdat, keys, rto, owner)
        except (PasswordError, RemoteError):
            raise
        except MefError as exc:
            if not self.catalog.skips.enabled:
                raise
            self.catalog.skips.skip("records", rdat, exc)
            return []

    def _parse(self, rdat, keys, rto, owner):
        source = self.catalog.source
        if not source.exists(rdat):
            if source.exists(rdat[: -len(RDAT)] + RIDX):
                raise FormatError("record index exists but its record data file is missing", rdat)
            return []
        raw = source.read_file(rdat, "record data")
        return record_files.parse_records_file(raw, rdat, keys, self.catalog.keyring, owner, rto)
