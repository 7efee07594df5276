"""The native Writer: MEF 3.0 sessions that meflib (pymef), mef_tools and mef3io read back.

Usage::

    with neo_mef3.Writer("subject.mefd", overwrite=True, units="uV") as w:
        w.write("Fp1", data_uV, start_uutc, fs=256.0)           # NaN runs become gaps
        w.write_int32("Fp2", counts, 0.195, start_uutc, fs=256.0)
        w.write_annotations([{"time": start_uutc, "text": "lights off"}])

Times are uUTC (int microseconds since the Unix epoch). Sample ``k`` of a write that
starts at ``start_uutc`` is at ``start_uutc + k * 1e6 / fs``; a RED block starts at the
time of its first sample rounded to the nearest microsecond. The recording time offset
is 0 (times are stored as ``-t``, the "offset applied" form meflib, mef_tools and mef3io
write). Metadata section 3 holds rto 0, GMT offset 0 (meflib's default) and no DST or
subject entries unless :meth:`Writer.set_metadata` sets them.

Descriptive metadata (``set_metadata``)
---------------------------------------
The section-2 fields ``channel_description``, ``session_description``,
``reference_description``, ``acquisition_channel_number``, the filter settings and
``AC_line_frequency``, and the section-3 fields ``subject_name_1``, ``subject_name_2``,
``subject_id``, ``recording_location`` and ``GMT_offset`` (the names ``Reader.info``
uses) are set with :meth:`Writer.set_metadata`, for one channel or for all. A new
segment of an existing channel starts from the previous segment's values; a new
channel from meflib's defaults (empty texts, -1 for numbers, GMT offset 0); the values
set on the Writer come on top. Setting them also rewrites the ``.tmet`` of the
channel's existing segments (each to a temporary file that is renamed over the old
one; CRCs recomputed, encryption kept: section 3 stays level-2 encrypted in an
encrypted session).

End times and contiguous appends
--------------------------------
A write ends (universal headers, section 2's duration) at ``start + round(n * 1e6 /
fs)`` microseconds, or at ``end_uutc`` when given (e.g. mef_tools' truncated
``int(start + n / fs * 1e6)``, or a later time when the recording went on without
data). The next write must start at or after that end and after the data's own end;
a start exactly 1 us earlier is rounding, not overlap (a start computed by truncating
``t + n / fs * 1e6`` is up to 1 us before the rounded end): it is accepted, its blocks
keep the times given (as mef_tools stores them), and if it continues the data it is
stored contiguously (no discontinuity flag). This holds where a sample period is longer
than 1 us (fs < 1 MHz); at higher rates such a start is refused as an overlap.

Block numbering follows the specification: section 2's ``start_sample`` is channel-wide
(the number of samples stored in the channel's earlier segments), each ``.tidx`` entry's
``start_sample`` is relative to its segment (pymef's sample-mode reads add the two), as
meflib and mef_tools write them. Unencrypted files carry section encryption levels -1/-2,
encrypted ones +1/+2.

Precision inference (``write(..., precision=-1)``)
--------------------------------------------------
mef_tools and mef3io pick the precision from the mean absolute first difference (three
more decimal digits than a typical step), which rounds decimal data that is more precise
than that. Here the rule is "lossless first": the smallest ``p`` in ``0..18`` for which
every finite value is a whole number of ``10**-p`` -- judged in the input's own float
type, i.e. ``round(x * 10**p) / 10**p`` converts back to exactly ``x`` in float32 for
float32 input, and lies within two float64 ulps of ``x`` for float64 input -- among the
``p`` for which ``max|x| * 10**p`` stays within RED's sample range (``2**31 - 2``). Data
that no such ``p`` represents (float64 noise) gets the largest ``p`` that fits, i.e. the
finest resolution int32 allows. An in-segment append reuses the segment's precision.
Quantization is ``numpy.rint(x * 10**p)`` (round half to even); a value whose count
would leave ``[-(2**31 - 2), 2**31 - 2]``, or any infinity, raises ValueError -- nothing
is ever clipped.

Write ordering and crashes
--------------------------
A new segment (and a new channel) is assembled in a hidden temporary directory
(``.<name>.neo_mef3-tmp``, which no reader lists), flushed, and renamed into place: a
crash leaves either no segment or the whole segment. An in-segment append extends the
segment's files in this order, each step flushed (``fsync``) before the next:

1. the new RED blocks are written to ``.tdat`` after the last indexed block;
2. the new index entries are written to ``.tidx`` after the committed ones;
3. the ``.tidx`` universal header is rewritten (entry count, end time, body CRC);
4. the ``.tdat`` universal header is rewritten (entry count, end time, body CRC);
5. the ``.tmet`` file is rewritten to a temporary file and renamed over the old one.

A crash during or after step 1 leaves unindexed bytes after the last block: readers go
by the index and ignore them. After step 2 the index holds entries past its declared
count (and possibly a torn partial entry): ``format.headers.parse_index`` keeps every
whole entry that continues the committed ones and checks the body CRC over the committed
part, so those blocks are returned. Between steps 3 and 5 the metadata still describes
the previous state; meflib clamps its block count to the smallest of the declared
counts and reads the old data. Body CRCs are extended incrementally from the stored
ones, so an append costs O(new data). A Writer that reopens a segment left by a crash
adopts every block whose index entry was written (and whose block CRC verifies), drops
what is past them, recomputes the CRCs a crash left stale and rewrites every header and
the metadata on its next append (or, when its next write to the channel starts a new
segment, just before it). With ``durable=False`` the same order is kept but nothing is
flushed: safe against a crashing process, not against a power cut.

Records (``write_annotations``) replace a level's ``.rdat``/``.ridx``: both are written
to temporary files and renamed, ``.rdat`` first.
"""

import functools
import math
import os
import shutil
import struct
import threading

import numpy as np

from . import _red
from .errors import FormatError, MefError, PasswordError, UnknownChannelError, WriteConflictError
from .format import crypto, headers
from .format import records as _records
from .format.layout import (
    BASE_NAME_BYTES,
    LEVEL_1_ENCRYPTION,
    LEVEL_2_ENCRYPTION,
    LITTLE_ENDIAN_CODE,
    MEF_VERSION,
    METADATA_FILE_BYTES,
    METADATA_SECTION_1_OFFSET,
    METADATA_SECTION_2_BYTES,
    METADATA_SECTION_2_OFFSET,
    METADATA_SECTION_3_BYTES,
    METADATA_SECTION_3_OFFSET,
    RECORD_INDEX_BYTES,
    RED_DISCONTINUITY,
    RED_MAXIMUM_SAMPLE_VALUE,
    RDAT,
    RIDX,
    SEGMENT_EXT,
    SESSION_EXT,
    TDAT,
    TIDX,
    TIME_SERIES_INDEX,
    TIME_SERIES_INDEX_BYTES,
    TIME_SERIES_METADATA_SECTION_2,
    METADATA_SECTION_3,
    TMET,
    TS_CHANNEL_EXT,
    UNIVERSAL_HEADER,
    UNIVERSAL_HEADER_BYTES,
    UUTC_NO_ENTRY,
    encode_text,
)
from .format.times import to_uutc
from .session import SegmentFiles, segment_numbers, validate_name

__all__ = ["Writer", "infer_precision", "default_block_length"]

#: largest precision (decimal digits) inferred or accepted
MAX_PRECISION = 18
#: samples encoded per encode_blocks call (bounds the encoder's scratch memory)
_CHUNK_SAMPLES = 1 << 22
#: largest RED block the codec encodes
_MAX_BLOCK_SAMPLES = 0x33333333
_INT32_MAX = 2**31 - 1
_TMP_SUFFIX = ".neo_mef3-tmp"
_CHANNEL_LEVEL_CODE = -2  # universal header segment_number of channel-level files
_SESSION_LEVEL_CODE = -3  # ... and of session-level files

#: fields set_metadata accepts (Reader.info's names): section, field name, kind, bytes
_METADATA_FIELDS = {
    "channel_description": (2, "channel_description", "text", 2048),
    "session_description": (2, "session_description", "text", 2048),
    "reference_description": (2, "reference_description", "text", 2048),
    "acquisition_channel_number": (2, "acquisition_channel_number", "int64", None),
    "low_frequency_filter_setting": (2, "low_frequency_filter_setting", "float", None),
    "high_frequency_filter_setting": (2, "high_frequency_filter_setting", "float", None),
    "notch_filter_frequency_setting": (2, "notch_filter_frequency_setting", "float", None),
    "AC_line_frequency": (2, "AC_line_frequency", "float", None),
    "subject_name_1": (3, "subject_name_1", "text", 128),
    "subject_name_2": (3, "subject_name_2", "text", 128),
    "subject_id": (3, "subject_ID", "text", 128),
    "recording_location": (3, "recording_location", "text", 512),
    "GMT_offset": (3, "GMT_offset", "int32", None),
}
#: section-3 fields a new segment takes over from the channel's previous segment
_S3_INHERITED = ("DST_start_time", "DST_end_time")


def _check_metadata(fields):
    """Validated {key: stored value} of set_metadata's `fields` (None values dropped)."""
    if not hasattr(fields, "items"):
        raise TypeError("fields must be a dict of metadata values")
    unknown = sorted(str(k) for k in fields if k not in _METADATA_FIELDS)
    if unknown:
        raise ValueError(f"unknown metadata field(s) {unknown}; known: {sorted(_METADATA_FIELDS)}")
    out = {}
    for key, value in fields.items():
        if value is None:
            continue
        _section, _name, kind, size = _METADATA_FIELDS[key]
        if kind == "text":
            if not isinstance(value, str):
                raise TypeError(f"{key} must be a str, got {type(value).__name__}")
            if "\x00" in value:
                raise ValueError(f"{key} must not contain NUL characters")
            out[key] = encode_text(value, size, key)
        elif kind in ("int64", "int32"):
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
                raise TypeError(f"{key} must be an int, got {type(value).__name__}")
            bits = 63 if kind == "int64" else 31
            if not -(2**bits) <= int(value) < 2**bits:
                raise ValueError(f"{key} {int(value)} does not fit the field ({kind})")
            out[key] = int(value)
        else:
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise TypeError(f"{key} must be a number, got {type(value).__name__}")
            out[key] = float(value)
    return out


def _apply_metadata(s2, s3, values):
    """Set set_metadata's `values` in section records s2 / s3 (s3 None: not touched)."""
    for key, value in values.items():
        section, name, _kind, _size = _METADATA_FIELDS[key]
        rec = s2 if section == 2 else s3
        if rec is not None:
            rec[name] = value


def _writable(record, dtype):
    """A writable 0-d copy of a numpy structured record."""
    return np.frombuffer(bytearray(record.tobytes()), dtype, 1).reshape(())


# --------------------------------------------------------------------------------------
# helpers: numbers, precision, blocks
# --------------------------------------------------------------------------------------


def default_block_length(fs):
    """RED block length for rate `fs`: fs samples at >= 5 kHz, else 10 * fs (at least 1)."""
    n = int(fs) if fs >= 5000 else int(fs * 10)
    return max(1, min(n, _MAX_BLOCK_SAMPLES))


def _check_fs(fs):
    try:
        fs = float(fs)
    except (TypeError, ValueError):
        raise TypeError("fs must be a number (Hz)") from None
    if not math.isfinite(fs) or fs <= 0 or fs > 1e9:
        raise ValueError(f"fs must be a finite rate in (0, 1e9] Hz, got {fs!r}")
    return fs


def _check_time(start_uutc):
    if isinstance(start_uutc, (bool, np.bool_)):
        raise TypeError("start_uutc must be a number of microseconds (uUTC)")
    if isinstance(start_uutc, (int, np.integer)):
        t = int(start_uutc)
    else:
        try:
            f = float(start_uutc)
        except (TypeError, ValueError):
            raise TypeError("start_uutc must be a number of microseconds (uUTC)") from None
        if not math.isfinite(f):
            raise ValueError("start_uutc must be finite")
        t = int(math.floor(f + 0.5))
    if not 0 <= t < 2**62:
        raise ValueError(f"start_uutc {t} is outside the times MEF can store (0 .. 2**62 us)")
    return t


def _fits(amax, p):
    return amax * 10.0**p <= RED_MAXIMUM_SAMPLE_VALUE


_WORK = 1 << 20  # values per pass in the float path (bounds temporary memory)


def _pieces(n):
    for a in range(0, n, _WORK):
        yield a, min(n, a + _WORK)


def _finite_part(x, a, b):
    c = x[a:b]
    return c[~np.isnan(c)]


def _exact_at(x, p, dtype):
    """True when every non-NaN value of x is a whole number of 10**-p (in x's own float type)."""
    scale = 10.0**p
    for a, b in _pieces(len(x)):
        c = _finite_part(x, a, b)
        back = np.rint(c * scale) / scale
        if dtype == np.float32:
            ok = np.array_equal(back.astype(np.float32), c.astype(np.float32))
        else:
            ok = np.all(np.abs(back - c) <= 2.0 * np.spacing(np.abs(c)))
        if not ok:
            return False
    return True


def infer_precision(values, dtype=np.float64):
    """The precision ``write(precision=-1)`` picks for `values` (NaNs ignored).

    See the module docstring: the smallest exact decimal precision that fits RED's
    sample range, else the largest that fits. `dtype` is the caller's float type
    (float32 input is judged at float32 resolution). Infinite values raise ValueError.
    """
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    amax = 0.0
    for a, b in _pieces(len(x)):
        c = _finite_part(x, a, b)
        if c.size:
            if not np.isfinite(c).all():
                raise ValueError("values hold +-inf; MEF stores finite values (NaN marks gaps)")
            amax = max(amax, float(c.max()), -float(c.min()))
    if amax == 0.0:
        return 0
    if not _fits(amax, 0):
        raise ValueError(
            f"values up to {amax:g} do not fit RED's int32 sample range even at precision 0"
        )
    p_fit = 0
    while p_fit < MAX_PRECISION and _fits(amax, p_fit + 1):
        p_fit += 1
    dtype = np.float32 if np.dtype(dtype) == np.float32 else np.float64
    # candidate from a sample, confirmed on everything
    probe = x if x.size <= 65536 else x[:: max(1, x.size // 65536)]
    p = 0
    while p < p_fit and not _exact_at(probe, p, dtype):
        p += 1
    while p <= p_fit and not _exact_at(x, p, dtype):
        p += 1
    return min(p, p_fit)


def _quantize(x, valid, p):
    """int32 counts of x at precision p (0 where not valid); ValueError if any overflows."""
    out = np.zeros(len(x), np.int32)
    scale = 10.0**p
    for a, b in _pieces(len(x)):
        v = valid[a:b]
        y = np.rint(x[a:b][v] * scale)
        if y.size:
            lo, hi = float(y.min()), float(y.max())
            if hi > RED_MAXIMUM_SAMPLE_VALUE or lo < -RED_MAXIMUM_SAMPLE_VALUE:
                worst = hi if hi > -lo else lo
                raise ValueError(
                    f"a value quantizes to {worst:.0f} counts at precision {p}, outside RED's sample "
                    f"range +-{RED_MAXIMUM_SAMPLE_VALUE}; lower the precision (values are never clipped)"
                )
            out[a:b][v] = y
    return out


def _runs(valid):
    """(starts, stops) of the maximal runs of True in a bool array."""
    if valid.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    d = np.diff(np.concatenate(([False], valid, [False])).astype(np.int8))
    return np.flatnonzero(d == 1).astype(np.int64), np.flatnonzero(d == -1).astype(np.int64)


def _plan_blocks(run_starts, run_stops, block_length):
    """Block (start, count, first-of-run) for contiguous runs cut into block_length pieces."""
    lengths = run_stops - run_starts
    per_run = (lengths + block_length - 1) // block_length
    total = int(per_run.sum())
    run_of = np.repeat(np.arange(len(run_starts)), per_run)
    first = np.zeros(total, bool)
    if total:
        first_idx = np.concatenate(([0], np.cumsum(per_run)[:-1]))
        first[first_idx] = True
        within = np.arange(total) - np.repeat(first_idx, per_run)
    else:
        within = np.zeros(0, np.int64)
    starts = run_starts[run_of] + within * block_length
    counts = np.minimum(block_length, run_stops[run_of] - starts)
    return starts.astype(np.int64), counts.astype(np.int64), first


def _offset_us(k, fs):
    """Microseconds from a write's start to its sample k, rounded to nearest (k array)."""
    return np.floor(np.asarray(k, np.float64) * 1e6 / fs + 0.5).astype(np.int64)


def _contiguous_stats(flags, block_bytes, counts):
    """(max blocks, max bytes, max samples) over runs of blocks between discontinuities."""
    n = len(flags)
    if n == 0:
        return 0, 0, 0
    starts = (flags & RED_DISCONTINUITY) != 0
    starts[0] = True
    run_id = np.cumsum(starts) - 1
    nruns = int(run_id[-1]) + 1
    blocks = np.bincount(run_id, minlength=nruns)
    nbytes = np.bincount(run_id, weights=block_bytes.astype(np.float64), minlength=nruns)
    samples = np.bincount(run_id, weights=counts.astype(np.float64), minlength=nruns)
    return int(blocks.max()), int(nbytes.max()), int(samples.max())


# --------------------------------------------------------------------------------------
# helpers: files
# --------------------------------------------------------------------------------------


def _fsync_fd(fd, durable):
    if durable:
        os.fsync(fd)


def _fsync_dir(path, durable):
    if not durable:
        return
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _write_new_file(path, chunks, durable):
    with open(path, "wb") as f:
        for c in chunks:
            f.write(c)
        f.flush()
        _fsync_fd(f.fileno(), durable)


def _replace_file(path, data, durable):
    """Atomically replace `path` with `data` (temporary file, flush, rename)."""
    d, base = os.path.split(path)
    tmp = os.path.join(d, f".{base}{_TMP_SUFFIX}")
    _write_new_file(tmp, [data], durable)
    os.replace(tmp, path)
    _fsync_dir(d, durable)


def _pwrite_all(fd, data, offset):
    view = memoryview(data)
    while len(view):
        n = os.pwrite(fd, view, offset)
        view = view[n:]
        offset += n


class _BodyWriter:
    """Writes a file body from ``pos`` on, keeping its running body CRC."""

    __slots__ = ("fd", "pos", "crc")

    def __init__(self, fd, pos, crc):
        self.fd, self.pos, self.crc = fd, pos, crc

    def __call__(self, data):
        _pwrite_all(self.fd, data, self.pos)
        self.pos += len(data)
        self.crc = _red.crc32(data, crc=self.crc)


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def _pread(path, n, offset=0):
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    try:
        return os.pread(fd, n, offset)
    finally:
        os.close(fd)


def _remove_stale_temporaries(directory):
    try:
        entries = os.listdir(directory)
    except OSError:
        return
    for e in entries:
        if e.startswith(".") and e.endswith(_TMP_SUFFIX):
            p = os.path.join(directory, e)
            if os.path.isdir(p):
                shutil.rmtree(p, ignore_errors=True)
            else:
                try:
                    os.remove(p)
                except OSError:
                    pass


def _universal_header(file_type, *, start, end, n_entries, max_entry, segment_number, channel,
                      session, level_uuid, file_uuid, provenance_uuid, fields):
    """A 1024-byte universal header (CRCs left zero; see headers.seal)."""
    uh = np.zeros((), UNIVERSAL_HEADER)
    uh["file_type"] = file_type.encode("ascii")
    uh["mef_version_major"] = MEF_VERSION[0]
    uh["mef_version_minor"] = MEF_VERSION[1]
    uh["byte_order_code"] = LITTLE_ENDIAN_CODE
    uh["start_time"] = start
    uh["end_time"] = end
    uh["number_of_entries"] = n_entries
    uh["maximum_entry_size"] = max_entry
    uh["segment_number"] = segment_number
    uh["channel_name"] = encode_text(channel, BASE_NAME_BYTES, "channel name")
    uh["session_name"] = encode_text(session, BASE_NAME_BYTES, "session name")
    uh["level_uuid"] = np.frombuffer(level_uuid, np.uint8)
    uh["file_uuid"] = np.frombuffer(file_uuid, np.uint8)
    uh["provenance_uuid"] = np.frombuffer(provenance_uuid, np.uint8)
    if fields is not None:
        uh["level_1_password_validation_field"] = np.frombuffer(fields[0], np.uint8)
        uh["level_2_password_validation_field"] = np.frombuffer(fields[1], np.uint8)
    return bytearray(uh.tobytes())


def _patch_header(header, **fields):
    """Copy of a 1024-byte header with some UNIVERSAL_HEADER fields replaced."""
    uh = np.frombuffer(bytes(header[:UNIVERSAL_HEADER_BYTES]), UNIVERSAL_HEADER, 1)[0].copy()
    for k, v in fields.items():
        uh[k] = v
    return bytearray(uh.tobytes())


# --------------------------------------------------------------------------------------
# per-segment state
# --------------------------------------------------------------------------------------


class _Segment:
    """What the Writer knows about a channel's last segment (recovered from disk or built)."""

    def __init__(self):
        self.files = None
        self.number = 0
        self.fs = None
        self.ufact = None
        self.rto = 0
        self.start_time = None  # uUTC of the first block
        self.end_time = None  # uUTC, the segment's stored end (headers); may differ from data_end
        self.data_end = None  # uUTC, after the last stored sample (start of the next contiguous one)
        self.start_sample = 0  # channel-wide number of the segment's first sample
        self.index = np.zeros(0, TIME_SERIES_INDEX)  # adopted entries
        self.max_difference_bytes = 0
        self.indexed_end = UNIVERSAL_HEADER_BYTES  # byte after the last indexed block
        self.tdat_crc = 0xFFFFFFFF  # body CRC over [1024, indexed_end)
        self.tidx_crc = 0xFFFFFFFF  # body CRC over the adopted entries
        self.tdat_header = None
        self.tidx_header = None
        self.tmet_raw = None  # the .tmet image (encrypted form) as on disk
        self.s2 = None  # decrypted section 2 (numpy record copy)
        self.s3 = None  # decrypted section 3 (numpy record copy), None if not readable
        self.sizes = None  # (tdat, tidx, tmet) sizes/mtimes when last seen

    @property
    def n_samples(self):
        return int(self.index["number_of_samples"].astype(np.int64).sum())

    @property
    def n_blocks(self):
        return len(self.index)

    def fingerprint(self):
        try:
            st = [os.stat(p) for p in (self.files.tdat, self.files.tidx, self.files.tmet)]
        except OSError:
            return None
        return tuple((s.st_size, s.st_mtime_ns, s.st_ino) for s in st)


class _Channel:
    def __init__(self, name, directory):
        self.name = name
        self.directory = directory
        self.last = None  # _Segment or None when the channel has no segment yet

    @property
    def total_samples(self):
        return 0 if self.last is None else self.last.start_sample + self.last.n_samples


# --------------------------------------------------------------------------------------
# the Writer
# --------------------------------------------------------------------------------------


def _serialized(method):
    """One public call at a time per Writer (its cached channel state is shared)."""

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self._lock:
            return method(self, *args, **kwargs)

    return wrapper


class Writer:
    """Write a MEF 3.0 session.

    Parameters
    ----------
    path : str or path-like
        The session directory; it must end with ``.mefd`` (its base name, without the
        suffix, is the session name).
    overwrite : bool
        True deletes an existing session first. False (default) reopens an existing
        session for appending: each channel's state is recovered from disk on its first
        write, so appends work across Writer objects and program runs.
    password1, password2 : str
        Both (encrypted session) or neither. Metadata section 2 is encrypted with the
        level-1 key, section 3 and every record body with the level-2 key; RED blocks
        are not encrypted (meflib's default). Reopening an encrypted session needs
        ``password2`` (``password1`` may be given as well and is then checked).
    units : str or None
        Units description stored in metadata section 2 (default ``"uV"``, as mef_tools).
    block_length : int or None
        RED block length in samples; default ``fs`` for fs >= 5000 Hz, else ``10 * fs``,
        and for an in-segment append the segment's largest block.
    n_threads : int
        Encoding threads (0 = all cores). The files are byte-identical for any count.
    durable : bool
        Flush (fsync) between the ordered steps of a write (default). False keeps the
        order but does not flush: safe if the process dies, not on power loss.
    """

    def __init__(self, path, overwrite=False, password1="", password2="", units=None, block_length=None,
                 n_threads=0, durable=True):
        path = os.fspath(path)
        stripped = path.rstrip("/\\") or path
        if not stripped.endswith(SESSION_EXT):
            raise ValueError(f"a MEF 3.0 session directory must end with {SESSION_EXT!r}: {path!r}")
        self.path = os.path.abspath(stripped)
        self.session_name = os.path.basename(self.path)[: -len(SESSION_EXT)]
        validate_name(self.session_name, "session name")
        if units is None:
            units = "uV"
        if not isinstance(units, str):
            raise TypeError("units must be a str")
        self._units = encode_text(units, 128, "units description")
        if block_length is not None:
            if isinstance(block_length, bool) or not isinstance(block_length, (int, np.integer)):
                raise TypeError("block_length must be an int (samples) or None")
            if not 1 <= int(block_length) <= _MAX_BLOCK_SAMPLES:
                raise ValueError(f"block_length must be in 1..{_MAX_BLOCK_SAMPLES}")
            block_length = int(block_length)
        self.block_length = block_length
        if isinstance(n_threads, bool) or not isinstance(n_threads, (int, np.integer)) or n_threads < 0:
            raise ValueError("n_threads must be an int >= 0 (0 = all cores)")
        self.n_threads = int(n_threads)
        self.durable = bool(durable)
        password1 = password1 or ""
        password2 = password2 or ""
        if not isinstance(password1, str) or not isinstance(password2, str):
            raise TypeError("passwords must be str")

        if os.path.exists(self.path) and not os.path.isdir(self.path):
            raise ValueError(f"{self.path!r} exists and is not a directory")
        existing = None if overwrite else self._existing_fields()
        self._fields, self._keys = self._password_setup(password1, password2, existing)
        if overwrite and os.path.isdir(self.path):
            shutil.rmtree(self.path)
        os.makedirs(self.path, exist_ok=True)
        _remove_stale_temporaries(self.path)
        self._rto = self._existing_rto()
        self._channels = {}
        self._meta_all = {}  # set_metadata(channel=None) values, for every channel
        self._meta_channel = {}  # channel name -> set_metadata(channel=name) values
        self._closed = False
        self._lock = threading.RLock()

    # --- passwords -------------------------------------------------------------------
    def _existing_fields(self):
        """(level-1, level-2) validation fields of an existing session, or None if new."""
        if not os.path.isdir(self.path):
            return None
        candidates = []
        for e in sorted(os.listdir(self.path)):
            p = os.path.join(self.path, e)
            if e.endswith(TS_CHANNEL_EXT) and os.path.isdir(p):
                for s in sorted(os.listdir(p)):
                    sp = os.path.join(p, s)
                    if s.endswith(SEGMENT_EXT) and os.path.isdir(sp):
                        candidates += [os.path.join(sp, f) for f in sorted(os.listdir(sp)) if f.endswith("." + TMET)]
                candidates.append(os.path.join(p, e[: -len(TS_CHANNEL_EXT)] + "." + RDAT))
        candidates.append(os.path.join(self.path, f"{self.session_name}.{RDAT}"))
        for c in candidates:
            if os.path.isfile(c):
                raw = _pread(c, UNIVERSAL_HEADER_BYTES)
                uh = headers.parse_universal_header(raw, c)
                return bytes(uh["level_1_password_validation_field"]), bytes(uh["level_2_password_validation_field"])
        return None

    def _password_setup(self, p1, p2, existing):
        if existing is None or not any(existing[0]):
            if existing is not None and (p1 or p2):
                raise WriteConflictError("the session is not encrypted; passwords cannot be added to it", self.path)
            if bool(p1) != bool(p2):
                raise ValueError("give both passwords (encrypted session) or neither; MEF has no level-1-only files")
            if not p1:
                return None, None
            crypto.password_bytes(p1)  # raises ValueError on empty / too long
            crypto.password_bytes(p2)
            if crypto.password_bytes(p1) == crypto.password_bytes(p2):
                raise ValueError("password2 must differ from password1 (it would unlock only level 1)")
            return crypto.validation_fields(p1, p2), crypto.Keys.for_writing(p1, p2)
        # an existing encrypted session
        if not p2:
            raise PasswordError("the session is encrypted: appending needs password2 (the level-2 password)", self.path)
        keys = crypto.unlock(p2, existing[0], existing[1], self.path)
        if keys.access_level < crypto.LEVEL_2_ACCESS:
            raise PasswordError("password2 is not this session's level-2 password", self.path)
        if p1 and crypto.password_bytes(p1) != bytes(keys.key(1)):
            raise PasswordError("password1 is not this session's level-1 password", self.path)
        return existing, keys

    @property
    def encrypted(self):
        return self._fields is not None

    def _existing_rto(self):
        """Recording time offset already used in the session (0 for a new one)."""
        for e in sorted(os.listdir(self.path)):
            p = os.path.join(self.path, e)
            if not (e.endswith(TS_CHANNEL_EXT) and os.path.isdir(p)):
                continue
            for s in sorted(os.listdir(p)):
                if s.endswith(SEGMENT_EXT):
                    base = s[: -len(SEGMENT_EXT)]
                    tmet = os.path.join(p, s, f"{base}.{TMET}")
                    if os.path.isfile(tmet):
                        meta = headers.parse_metadata(_read(tmet), tmet, keys=self._read_keys(tmet))
                        rto = meta.recording_time_offset
                        return 0 if rto == UUTC_NO_ENTRY else rto
        return 0

    def _read_keys(self, path):
        return self._keys if self._keys is not None else crypto.Keys(crypto.LEVEL_2_ACCESS)

    # --- lifecycle -------------------------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    @_serialized
    def close(self):
        """Finish; every write is already complete on disk, so this only releases state."""
        self._closed = True
        self._channels.clear()

    def __repr__(self):
        return f"<neo_mef3.Writer {self.path!r}{' encrypted' if self.encrypted else ''}>"

    def _check_open(self):
        if self._closed:
            raise MefError("the Writer is closed", self.path)

    # --- channel state ---------------------------------------------------------------
    def _channel(self, name):
        ch = self._channels.get(name)
        if ch is not None and ch.last is not None and ch.last.sizes != ch.last.fingerprint():
            ch = None  # someone else (another Writer) changed the segment: reload
        if ch is None:
            ch = self._load_channel(name)
            self._channels[name] = ch
        return ch

    def _load_channel(self, name):
        directory = os.path.join(self.path, name + TS_CHANNEL_EXT)
        ch = _Channel(name, directory)
        if not os.path.isdir(directory):
            return ch
        _remove_stale_temporaries(directory)
        numbers = segment_numbers(directory, name)  # (as the Reader lists them)
        if len(numbers):
            ch.last = self._load_segment(SegmentFiles(directory, name, int(numbers[-1])))
        return ch

    def _load_segment(self, files):
        """Recover a segment's state from its files, adopting what an interrupted append left."""
        seg = _Segment()
        seg.files = files
        seg.number = files.number
        for p in (files.tmet, files.tidx, files.tdat):
            if not os.path.isfile(p):
                raise FormatError("segment file is missing; cannot append to this segment", p)
        tmet_raw = _read(files.tmet)
        uh = headers.parse_universal_header(tmet_raw, files.tmet, TMET)
        self._check_fields(uh, files.tmet)
        meta = headers.parse_metadata(tmet_raw, files.tmet, keys=self._read_keys(files.tmet))
        seg.tmet_raw = tmet_raw
        seg.s2 = _writable(meta.s2, TIME_SERIES_METADATA_SECTION_2)
        seg.s3 = _writable(meta.s3, METADATA_SECTION_3) if meta.s3 is not None else None
        seg.fs = float(meta.s2["sampling_frequency"])
        seg.ufact = float(meta.s2["units_conversion_factor"])
        rto = meta.recording_time_offset
        seg.rto = 0 if rto == UUTC_NO_ENTRY else rto
        seg.start_sample = max(0, int(meta.s2["start_sample"]))

        tidx_raw = _read(files.tidx)
        tidx_uh, entries = headers.parse_index(tidx_raw, files.tidx)
        tdat_size = os.path.getsize(files.tdat)
        tdat_head = bytearray(_pread(files.tdat, UNIVERSAL_HEADER_BYTES))
        tdat_uh = headers.parse_universal_header(bytes(tdat_head), files.tdat, TDAT)
        declared = int(tidx_uh["number_of_entries"])
        committed = len(entries) if declared < 0 else min(declared, len(entries))
        entries = self._verify_uncommitted(files, entries, committed, tdat_size)
        seg.index = np.array(entries, copy=True)
        seg.tidx_header = bytearray(tidx_raw[:UNIVERSAL_HEADER_BYTES])
        seg.tdat_header = tdat_head
        n = len(seg.index)
        if n:
            last = seg.index[-1]
            seg.indexed_end = int(last["file_offset"]) + int(last["block_bytes"])
        # body CRCs: the stored ones are trusted only when they describe exactly what we adopt
        # (0 is meflib's CRC_NO_ENTRY: recomputed too)
        if declared == n and int(tidx_uh["body_crc"]) != 0:
            seg.tidx_crc = int(tidx_uh["body_crc"])
        else:
            seg.tidx_crc = _red.crc32(seg.index.tobytes())
        if int(tdat_uh["number_of_entries"]) == n and tdat_size >= seg.indexed_end and int(tdat_uh["body_crc"]) != 0:
            seg.tdat_crc = int(tdat_uh["body_crc"])
        else:
            seg.tdat_crc = self._file_crc(files.tdat, UNIVERSAL_HEADER_BYTES, seg.indexed_end)
        # maximum difference bytes: section 2 describes its first number_of_blocks blocks
        described = int(meta.s2["number_of_blocks"])
        mdb = int(meta.s2["maximum_difference_bytes"])
        seg.max_difference_bytes = 0 if mdb == 0xFFFFFFFF else mdb
        if described != n or mdb == 0xFFFFFFFF:
            first = 0 if mdb == 0xFFFFFFFF else max(0, min(described, n))
            for k in range(first, n):
                head = _pread(files.tdat, 32, int(seg.index[k]["file_offset"]))
                seg.max_difference_bytes = max(seg.max_difference_bytes, struct.unpack_from("<I", head, 28)[0])
        seg.start_time = to_uutc(uh["start_time"], seg.rto)
        if n:
            first_t = to_uutc(seg.index[0]["start_time"], seg.rto)
            last_t = to_uutc(seg.index[-1]["start_time"], seg.rto)
            last_end = last_t + int(_offset_us(int(seg.index[-1]["number_of_samples"]), seg.fs))
            seg.data_end = last_end
            stored_end = to_uutc(uh["end_time"], seg.rto)
            if seg.start_time is None:
                seg.start_time = first_t
            seg.start_time = min(seg.start_time, first_t)
            # the stored end (one rounding from the write's start, so up to 1 us before the
            # end recomputed from the last block) when the metadata is current and sane
            if described == n and stored_end is not None and stored_end >= last_end - 1:
                seg.end_time = stored_end
            else:
                seg.end_time = max(last_end, stored_end or last_end)
        else:
            seg.end_time = to_uutc(uh["end_time"], seg.rto) or seg.start_time
            seg.data_end = seg.end_time
        seg.sizes = seg.fingerprint()
        return seg

    def _verify_uncommitted(self, files, entries, committed, tdat_size):
        """Keep the entries past the committed ones only while their blocks are intact."""
        keep = committed
        for k in range(committed, len(entries)):
            off, nb = int(entries[k]["file_offset"]), int(entries[k]["block_bytes"])
            if off + nb > tdat_size:
                break
            block = _pread(files.tdat, nb, off)
            if len(block) != nb or struct.unpack_from("<I", block, 0)[0] != _red.crc32(block[4:]):
                break
            if struct.unpack_from("<I", block, 32)[0] != int(entries[k]["number_of_samples"]):
                break
            keep = k + 1
        return entries[:keep]

    @staticmethod
    def _file_crc(path, start, stop):
        crc = 0xFFFFFFFF
        with open(path, "rb") as f:
            f.seek(start)
            left = stop - start
            while left > 0:
                buf = f.read(min(left, 1 << 24))
                if not buf:
                    raise FormatError(f"data file ends before byte {stop}", path)
                crc = _red.crc32(buf, crc=crc)
                left -= len(buf)
        return crc

    def _check_fields(self, uh, path):
        fields = (bytes(uh["level_1_password_validation_field"]), bytes(uh["level_2_password_validation_field"]))
        mine = self._fields if self._fields is not None else (bytes(16), bytes(16))
        if fields != mine:
            if not any(fields[0]):
                raise WriteConflictError("this file is not encrypted, the session being written is", path)
            if self._fields is None:
                raise PasswordError("this file is encrypted; the Writer has no passwords", path)
            raise PasswordError("this file was written with other passwords", path)

    # --- public API ------------------------------------------------------------------
    @_serialized
    def write(self, ch, data, start_uutc, fs, precision=-1, new_segment=False, end_uutc=None):
        """Write float data to channel `ch`; NaN runs become gaps (discontinuities).

        Values are stored as int32 counts ``rint(data * 10**precision)`` with the
        conversion factor ``10**-precision``. ``precision=-1`` infers it (see the module
        docstring) or, when appending in-segment, reuses the segment's. The first write
        to a channel creates segment 0; later writes append to the last segment unless
        ``new_segment=True``.

        Returns ``{"samples_written", "blocks", "gaps_skipped", "segment"}``:
        ``gaps_skipped`` counts the NaN runs (maximal runs of NaN samples, leading and
        trailing ones included) that were not stored; ``segment`` is the number of the
        segment written (or that would have been, when everything was NaN).

        ``end_uutc`` is the stored end of this write (default: the time after the last
        stored sample, ``start + round(n * 1e6 / fs)``); it may be up to 1 us earlier
        than that (mef_tools' truncated ``int(start + n / fs * 1e6)``) or later (the
        recording went on without data), and the next write must start at or after
        it. A write that starts 1 us before the channel's end is accepted as
        continuing it (see the module docstring).

        Raises ValueError (bad name, infinities, a value outside int32 at this
        precision, an ``end_uutc`` before the last stored sample), TypeError
        (non-numeric data) or WriteConflictError (another rate or conversion factor
        than the segment's, or a first stored sample before the channel's end), all
        before anything is written.
        """
        self._check_open()
        validate_name(ch, "channel name")
        fs = _check_fs(fs)
        start_uutc = _check_time(start_uutc)
        arr = np.asarray(data)
        if arr.dtype.kind not in "fiub" or arr.ndim > 1 and arr.squeeze().ndim > 1:
            raise TypeError(f"data must be a 1-D array of real numbers, got dtype {arr.dtype} shape {arr.shape}")
        in_dtype = np.float32 if arr.dtype == np.float32 else np.float64
        x = np.ascontiguousarray(arr.reshape(-1), dtype=np.float64)
        valid = ~np.isnan(x)
        if np.isinf(x).any():
            raise ValueError("data holds +-inf; MEF stores finite values (NaN marks gaps)")
        if isinstance(precision, bool) or not isinstance(precision, (int, np.integer)):
            raise TypeError("precision must be an int (-1 = infer)")
        precision = int(precision)
        if precision < -1 or precision > MAX_PRECISION:
            raise ValueError(f"precision must be -1 (infer) or 0..{MAX_PRECISION}")
        chan = self._channel(ch)
        append = chan.last is not None and not new_segment
        if precision == -1:
            if append:
                precision = self._segment_precision(chan.last)
            else:
                precision = infer_precision(x, in_dtype)
        ufact = 10.0**-precision
        counts = _quantize(x, valid, precision)
        return self._write_counts(chan, counts, valid, ufact, start_uutc, fs, new_segment, end_uutc)

    @_serialized
    def write_int32(self, ch, data, ufact, start_uutc, fs, valid=None, new_segment=False, end_uutc=None):
        """Write integer counts verbatim (bit-exact) with conversion factor `ufact`.

        `data` may have any integer dtype; floating input raises TypeError, and valid
        values outside int32 or equal to INT32_MIN (RED's NaN marker) raise ValueError.
        `valid` (same length, nonzero = valid) marks gap samples, which are not stored
        (and so are not range-checked). `end_uutc` and the return value are as in
        :meth:`write`.
        """
        self._check_open()
        validate_name(ch, "channel name")
        fs = _check_fs(fs)
        start_uutc = _check_time(start_uutc)
        arr = np.asarray(data)
        if arr.dtype.kind == "f" or arr.dtype.kind == "c":
            raise TypeError("write_int32 takes integer counts; use write() for floating-point data")
        if arr.dtype.kind not in "iu":
            raise TypeError(f"write_int32 takes integer counts, got dtype {arr.dtype}")
        arr = arr.reshape(-1)
        if valid is None:
            mask = None
        else:
            mask = np.asarray(valid).reshape(-1)
            if mask.shape != arr.shape:
                raise ValueError(f"valid has {mask.size} entries for {arr.size} samples")
            mask = mask != 0
        stored = arr if mask is None else arr[mask]
        if stored.size:
            lo, hi = int(stored.min()), int(stored.max())
            if lo <= -(2**31) or hi > _INT32_MAX:
                raise ValueError(
                    f"counts must lie in [-(2**31 - 1), 2**31 - 1] (INT32_MIN is RED's NaN marker); got {lo}..{hi}"
                )
        if mask is None:
            mask = np.ones(arr.shape, bool)
            counts = np.ascontiguousarray(arr, dtype=np.int32)
        else:  # samples not stored may hold anything: zero them before the int32 cast
            counts = np.where(mask, arr, 0).astype(np.int32)
        try:
            ufact = float(ufact)
        except (TypeError, ValueError):
            raise TypeError("ufact must be a number") from None
        if not math.isfinite(ufact) or ufact == 0.0:
            raise ValueError("ufact must be a finite, nonzero conversion factor")
        chan = self._channel(ch)
        return self._write_counts(chan, counts, mask, ufact, start_uutc, fs, new_segment, end_uutc)

    @staticmethod
    def _segment_precision(seg):
        f = seg.ufact
        if f > 0:
            p = int(round(-math.log10(f)))
            if 0 <= p <= MAX_PRECISION and 10.0**-p == f:
                return p
        raise WriteConflictError(
            f"segment {seg.number}'s conversion factor {f!r} is not 10**-p; append with write_int32 "
            "or pass new_segment=True",
            seg.files.tmet,
        )

    # --- the write -------------------------------------------------------------------
    def _block_length(self, fs):
        return self.block_length if self.block_length is not None else default_block_length(fs)

    def _write_counts(self, chan, counts, valid, ufact, start_uutc, fs, new_segment, end_uutc=None):
        if end_uutc is not None:
            end_uutc = _check_time(end_uutc)
        last = chan.last
        append = last is not None and not new_segment
        target = last.number if append else (0 if last is None else last.number + 1)
        run_starts, run_stops = _runs(valid)
        n_gaps = len(_runs(~valid)[0])
        # conflicts are checked before anything is touched
        if last is not None:
            if fs != last.fs:
                raise WriteConflictError(
                    f"channel {chan.name!r} is sampled at {last.fs!r} Hz; this write is at {fs!r} Hz "
                    "(one channel has one rate)",
                    last.files.tmet,
                )
            if append and ufact != last.ufact:
                raise WriteConflictError(
                    f"segment {last.number} of {chan.name!r} has conversion factor {last.ufact!r}; this write "
                    f"has {ufact!r} (use new_segment=True for a new factor)",
                    last.files.tmet,
                )
        if len(run_starts) == 0:
            return {"samples_written": 0, "blocks": 0, "gaps_skipped": n_gaps, "segment": target}
        first_time = start_uutc + int(_offset_us(run_starts[0], fs))
        if last is not None and last.end_time is not None:
            limit = max(last.end_time, last.data_end if last.data_end is not None else last.end_time)
            # 1 us early is rounding, not overlap: a start computed by truncation (mef_tools'
            # int(t + n / fs * 1e6)) is up to 1 us before the rounded end
            slack = 1 if fs < 1e6 else 0
            if first_time < limit - slack:
                raise WriteConflictError(
                    f"data starts at {first_time} uUTC, before the end of channel {chan.name!r} "
                    f"({limit} uUTC); writes must not overlap or go back in time",
                    last.files.tmet,
                )
        data_end = start_uutc + int(_offset_us(run_stops[-1], fs))
        if end_uutc is None:
            end_time = data_end
        else:
            last_sample = start_uutc + int(_offset_us(run_stops[-1] - 1, fs))
            if end_uutc <= last_sample:
                raise ValueError(
                    f"end_uutc {end_uutc} is not after the last stored sample ({last_sample} uUTC)"
                )
            end_time = end_uutc
        block_length = self._block_length(fs)
        if append and self.block_length is None and last.n_blocks:
            # keep the segment's block length (a reopened Writer does not know the one used)
            block_length = max(1, int(last.index["number_of_samples"].max()))
        starts, nsamp, first_of_run = _plan_blocks(run_starts, run_stops, block_length)
        times = start_uutc + _offset_us(starts, fs)
        flags = first_of_run.astype(np.uint8) * np.uint8(RED_DISCONTINUITY)
        if append:
            # an append continues the last run only if it starts on the next grid position
            gap = first_time - (last.data_end if last.data_end is not None else last.end_time)
            if run_starts[0] == 0 and gap * fs / 1e6 < 0.5 and last.n_blocks:
                flags[0] = 0
        rto = last.rto if last is not None else self._rto
        if append:
            self._append(chan, last, counts, starts, nsamp, times, flags, end_time, rto)
        else:
            if last is not None and self._interrupted(last):
                # the last segment holds an interrupted append no later append will finish:
                # complete its headers and metadata first (an append of no blocks)
                none = np.zeros(0, np.int64)
                self._append(chan, last, np.zeros(0, np.int32), none, none, none, np.zeros(0, np.uint8),
                             last.end_time, last.rto)
            self._new_segment(chan, target, counts, starts, nsamp, times, flags, ufact, fs, end_time, rto)
        chan.last.data_end = data_end
        return {
            "samples_written": int(nsamp.sum()),
            "blocks": int(len(starts)),
            "gaps_skipped": n_gaps,
            "segment": target,
        }

    def _encode(self, counts, starts, nsamp, times, flags, rto, emit):
        """Encode blocks chunk by chunk, calling emit(data) per chunk; per-block arrays out."""
        n_threads = self.n_threads or (os.cpu_count() or 1)
        stored_times = -(times - np.int64(rto))
        nb = len(starts)
        block_bytes = np.zeros(nb, np.int64)
        maxima = np.zeros(nb, np.int32)
        minima = np.zeros(nb, np.int32)
        diff_bytes = np.zeros(nb, np.uint32)
        csum = np.cumsum(nsamp)
        i = 0
        while i < nb:
            base = int(csum[i - 1]) if i else 0
            j = int(np.searchsorted(csum, base + _CHUNK_SAMPLES, side="right"))
            j = max(j, i + 1)
            lo = int(starts[i])
            hi = int(starts[j - 1] + nsamp[j - 1])
            data, bb, mx, mn, db = _red.encode_blocks(
                counts[lo:hi], starts[i:j] - lo, nsamp[i:j], stored_times[i:j], flags[i:j], n_threads=n_threads
            )
            block_bytes[i:j], maxima[i:j], minima[i:j], diff_bytes[i:j] = bb, mx, mn, db
            emit(data)
            i = j
        return block_bytes, maxima, minima, diff_bytes, stored_times

    @staticmethod
    def _index_entries(first_offset, first_sample, nsamp, block_bytes, maxima, minima, stored_times, flags):
        e = np.zeros(len(nsamp), TIME_SERIES_INDEX)
        offsets = first_offset + np.concatenate(([0], np.cumsum(block_bytes)[:-1])) if len(nsamp) else []
        e["file_offset"] = offsets
        e["start_time"] = stored_times
        e["start_sample"] = first_sample + np.concatenate(([0], np.cumsum(nsamp)[:-1])) if len(nsamp) else []
        e["number_of_samples"] = nsamp
        e["block_bytes"] = block_bytes
        e["maximum_sample_value"] = maxima
        e["minimum_sample_value"] = minima
        e["RED_block_flags"] = flags
        return e

    def _new_segment(self, chan, number, counts, starts, nsamp, times, flags, ufact, fs, end_time, rto):
        session_dir = self.path
        new_channel = not os.path.isdir(chan.directory)
        seg_name = f"{chan.name}-{number:06d}"
        if new_channel:
            tmp_root = os.path.join(session_dir, f".{chan.name}{TS_CHANNEL_EXT}{_TMP_SUFFIX}")
            tmp_seg = os.path.join(tmp_root, seg_name + SEGMENT_EXT)
        else:
            tmp_root = os.path.join(chan.directory, f".{seg_name}{SEGMENT_EXT}{_TMP_SUFFIX}")
            tmp_seg = tmp_root
        if os.path.exists(tmp_root):
            shutil.rmtree(tmp_root)
        os.makedirs(tmp_seg)
        try:
            seg = _Segment()
            seg.number = number
            seg.fs = fs
            seg.ufact = ufact
            seg.rto = rto
            seg.start_sample = chan.total_samples
            seg.start_time = int(times[0])
            seg.end_time = end_time
            level_uuid = headers.new_uuid()
            tmp_files = SegmentFiles.in_directory(tmp_seg, chan.name, number)
            start_stored = -(seg.start_time - rto)
            end_stored = -(end_time - rto)
            common = dict(start=start_stored, end=end_stored, segment_number=number, channel=chan.name,
                          session=self.session_name, level_uuid=level_uuid, fields=self._fields)

            # .tdat: header placeholder, blocks, final header
            fd = os.open(tmp_files.tdat, os.O_RDWR | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o644)
            try:
                tdat_body = _BodyWriter(fd, UNIVERSAL_HEADER_BYTES, 0xFFFFFFFF)
                block_bytes, maxima, minima, diff_bytes, stored_times = self._encode(
                    counts, starts, nsamp, times, flags, rto, tdat_body
                )
                uuid = headers.new_uuid()
                tdat_header = _universal_header(TDAT, n_entries=len(starts), max_entry=int(nsamp.max()),
                                                file_uuid=uuid, provenance_uuid=uuid, **common)
                headers.seal(tdat_header, tdat_body.crc)
                _pwrite_all(fd, tdat_header, 0)
                _fsync_fd(fd, self.durable)
            finally:
                os.close(fd)
            seg.tdat_header = tdat_header
            seg.tdat_crc = tdat_body.crc
            seg.indexed_end = tdat_body.pos

            # .tidx start_sample is segment-relative (spec, meflib; pymef's sample reads add
            # the segment's channel-wide section-2 start_sample to it)
            entries = self._index_entries(UNIVERSAL_HEADER_BYTES, 0, nsamp, block_bytes, maxima,
                                          minima, stored_times, flags)
            seg.index = entries
            seg.max_difference_bytes = int(diff_bytes.max())
            body = entries.tobytes()
            seg.tidx_crc = _red.crc32(body)
            uuid = headers.new_uuid()
            tidx_header = _universal_header(TIDX, n_entries=len(entries), max_entry=TIME_SERIES_INDEX_BYTES,
                                            file_uuid=uuid, provenance_uuid=uuid, **common)
            headers.seal(tidx_header, seg.tidx_crc)
            seg.tidx_header = tidx_header
            _write_new_file(tmp_files.tidx, [tidx_header, body], self.durable)

            seg.s2 = self._new_section2(seg, fs, ufact)
            seg.s3 = self._new_section3(rto)
            self._describe(chan, seg)
            self._fill_section2(seg)
            uuid = headers.new_uuid()
            tmet_header = _universal_header(TMET, n_entries=1, max_entry=METADATA_FILE_BYTES, file_uuid=uuid,
                                            provenance_uuid=uuid, **common)
            seg.tmet_raw = self._build_tmet(tmet_header, seg.s2, seg.s3, new=True)
            _write_new_file(tmp_files.tmet, [seg.tmet_raw], self.durable)
            _fsync_dir(tmp_seg, self.durable)
            if new_channel:
                _fsync_dir(tmp_root, self.durable)
                os.rename(tmp_root, chan.directory)
                _fsync_dir(session_dir, self.durable)
            else:
                os.rename(tmp_root, os.path.join(chan.directory, seg_name + SEGMENT_EXT))
                _fsync_dir(chan.directory, self.durable)
        except BaseException:
            shutil.rmtree(tmp_root, ignore_errors=True)
            raise
        seg.files = SegmentFiles(chan.directory, chan.name, number)
        seg.sizes = seg.fingerprint()
        chan.last = seg

    def _append(self, chan, seg, counts, starts, nsamp, times, flags, end_time, rto):
        files = seg.files
        # .tidx start_sample continues the segment's own numbering: segment-relative in our
        # files and meflib's, channel-wide in mef3io's
        if seg.n_blocks:
            first_sample = int(seg.index[-1]["start_sample"]) + int(seg.index[-1]["number_of_samples"])
        else:
            first_sample = 0
        # 1. RED blocks after the last indexed block
        fd = os.open(files.tdat, os.O_RDWR | getattr(os, "O_BINARY", 0))
        try:
            tdat_body = _BodyWriter(fd, seg.indexed_end, seg.tdat_crc)
            block_bytes, maxima, minima, diff_bytes, stored_times = self._encode(
                counts, starts, nsamp, times, flags, rto, tdat_body
            )
            if os.fstat(fd).st_size > tdat_body.pos:
                os.ftruncate(fd, tdat_body.pos)  # bytes a crashed append left behind
            _fsync_fd(fd, self.durable)
        finally:
            os.close(fd)
        new_entries = self._index_entries(seg.indexed_end, first_sample, nsamp, block_bytes, maxima, minima,
                                          stored_times, flags)
        index = np.concatenate((seg.index, new_entries))
        end_stored = -(end_time - rto)
        # 2. index entries after the committed ones, 3. index header
        body = new_entries.tobytes()
        tidx_crc = _red.crc32(body, crc=seg.tidx_crc)
        fd = os.open(files.tidx, os.O_RDWR | getattr(os, "O_BINARY", 0))
        try:
            at = UNIVERSAL_HEADER_BYTES + seg.n_blocks * TIME_SERIES_INDEX_BYTES
            _pwrite_all(fd, body, at)
            if os.fstat(fd).st_size > at + len(body):
                os.ftruncate(fd, at + len(body))
            _fsync_fd(fd, self.durable)
            start_stored = -(seg.start_time - rto)
            tidx_header = _patch_header(seg.tidx_header, number_of_entries=len(index), start_time=start_stored,
                                        end_time=end_stored, maximum_entry_size=TIME_SERIES_INDEX_BYTES)
            headers.seal(tidx_header, tidx_crc)
            _pwrite_all(fd, tidx_header, 0)
            _fsync_fd(fd, self.durable)
        finally:
            os.close(fd)
        # 4. data header
        max_samples = int(max(int(index["number_of_samples"].max()), 1))
        tdat_header = _patch_header(seg.tdat_header, number_of_entries=len(index), start_time=start_stored,
                                    end_time=end_stored, maximum_entry_size=max_samples)
        headers.seal(tdat_header, tdat_body.crc)
        fd = os.open(files.tdat, os.O_RDWR | getattr(os, "O_BINARY", 0))
        try:
            _pwrite_all(fd, tdat_header, 0)
            _fsync_fd(fd, self.durable)
        finally:
            os.close(fd)
        # 5. metadata
        seg.index = index
        seg.indexed_end = tdat_body.pos
        seg.tdat_crc = tdat_body.crc
        seg.tidx_crc = tidx_crc
        seg.tdat_header = tdat_header
        seg.tidx_header = tidx_header
        seg.end_time = end_time
        seg.max_difference_bytes = max(seg.max_difference_bytes, int(diff_bytes.max()) if len(diff_bytes) else 0)
        self._fill_section2(seg)
        tmet_header = _patch_header(seg.tmet_raw, end_time=end_stored,
                                    start_time=-(seg.start_time - rto), number_of_entries=1,
                                    maximum_entry_size=METADATA_FILE_BYTES)
        seg.tmet_raw = self._build_tmet(tmet_header, seg.s2, seg.tmet_raw, new=False)
        _replace_file(files.tmet, seg.tmet_raw, self.durable)
        seg.sizes = seg.fingerprint()

    @staticmethod
    def _interrupted(seg):
        """True when an interrupted append left a segment's headers, metadata or file sizes
        behind its adopted index (see the module docstring)."""
        n = seg.n_blocks
        if not n:
            return False
        declared = (
            int(seg.s2["number_of_blocks"]),
            int(np.frombuffer(bytes(seg.tidx_header[32:40]), "<i8")[0]),
            int(np.frombuffer(bytes(seg.tdat_header[32:40]), "<i8")[0]),
        )
        try:
            sizes = (os.path.getsize(seg.files.tdat), os.path.getsize(seg.files.tidx))
        except OSError:
            return False
        return any(d != n for d in declared) or sizes != (seg.indexed_end, UNIVERSAL_HEADER_BYTES + n * TIME_SERIES_INDEX_BYTES)

    # --- metadata --------------------------------------------------------------------
    def _new_section2(self, seg, fs, ufact):
        s2 = np.zeros((), TIME_SERIES_METADATA_SECTION_2)
        s2["acquisition_channel_number"] = -1
        s2["sampling_frequency"] = fs
        s2["low_frequency_filter_setting"] = -1.0
        s2["high_frequency_filter_setting"] = -1.0
        s2["notch_filter_frequency_setting"] = -1.0
        s2["AC_line_frequency"] = -1.0
        s2["units_conversion_factor"] = ufact
        s2["units_description"] = self._units
        return s2

    @staticmethod
    def _new_section3(rto):
        s3 = np.zeros((), METADATA_SECTION_3)
        s3["recording_time_offset"] = rto
        s3["DST_start_time"] = UUTC_NO_ENTRY
        s3["DST_end_time"] = UUTC_NO_ENTRY
        s3["GMT_offset"] = 0  # meflib's default (initialize_metadata); times are UTC
        return s3

    def _metadata_for(self, name):
        """The set_metadata values that apply to channel `name` (later calls win)."""
        return {**self._meta_all, **self._meta_channel.get(name, {})}

    def _describe(self, chan, seg):
        """Descriptive fields of a new segment: the previous segment's, then set_metadata's."""
        prev = chan.last
        if prev is not None:
            for key, (section, name, _kind, _size) in _METADATA_FIELDS.items():
                if section == 2:
                    seg.s2[name] = prev.s2[name]
                elif prev.s3 is not None:
                    seg.s3[name] = prev.s3[name]
            if prev.s3 is not None:
                for name in _S3_INHERITED:
                    seg.s3[name] = prev.s3[name]
        _apply_metadata(seg.s2, seg.s3, self._metadata_for(chan.name))

    @staticmethod
    def _fill_section2(seg):
        """Every count and statistic of section 2, derived from the segment's index."""
        e = seg.index
        s2 = seg.s2
        counts = e["number_of_samples"].astype(np.int64)
        nbytes = e["block_bytes"].astype(np.int64)
        flags = e["RED_block_flags"].astype(np.uint8)
        fs = float(s2["sampling_frequency"])
        ufact = float(s2["units_conversion_factor"])
        s2["recording_duration"] = seg.end_time - seg.start_time
        s2["start_sample"] = seg.start_sample
        s2["number_of_samples"] = int(counts.sum())
        s2["number_of_blocks"] = len(e)
        s2["maximum_block_bytes"] = int(nbytes.max())
        s2["maximum_block_samples"] = int(counts.max())
        s2["maximum_difference_bytes"] = seg.max_difference_bytes
        s2["block_interval"] = int(math.floor(int(counts.max()) * 1e6 / fs + 0.5))
        disc = (flags & RED_DISCONTINUITY) != 0
        s2["number_of_discontinuities"] = int(disc.sum())
        blocks, cbytes, csamples = _contiguous_stats(flags.copy(), nbytes, counts)
        s2["maximum_contiguous_blocks"] = blocks
        s2["maximum_contiguous_block_bytes"] = cbytes
        s2["maximum_contiguous_samples"] = csamples
        hi = float(e["maximum_sample_value"].max())
        lo = float(e["minimum_sample_value"].min())
        f = ufact if ufact != 0.0 else 1.0
        s2["maximum_native_sample_value"] = hi * f if f > 0 else lo * f
        s2["minimum_native_sample_value"] = lo * f if f > 0 else hi * f

    def _encrypted_section(self, data, level, number, path):
        """Metadata section bytes as stored at encryption `level` (> 0: AES with that key)."""
        if level <= 0:
            return data
        if self._keys is None or not self._keys.can(level):
            raise PasswordError(f"metadata section {number} is encrypted; the Writer cannot re-encrypt it", path)
        return crypto.encrypt(data, self._keys.key(level))

    def _build_tmet(self, header, s2, section3, new):
        """A complete .tmet image: sections encrypted as the session requires, CRCs set.

        `section3` is a METADATA_SECTION_3 record for a new file, or the previous .tmet
        image (whose sections 1 and 3 are kept byte for byte) for an update.
        """
        buf = bytearray(METADATA_FILE_BYTES)
        buf[:UNIVERSAL_HEADER_BYTES] = header[:UNIVERSAL_HEADER_BYTES]
        s2_bytes = s2.tobytes()
        if new:
            s3_bytes = section3.tobytes()
            if self._keys is not None:
                buf[METADATA_SECTION_1_OFFSET] = LEVEL_1_ENCRYPTION
                buf[METADATA_SECTION_1_OFFSET + 1] = LEVEL_2_ENCRYPTION
                s3_bytes = crypto.encrypt(s3_bytes, self._keys.key(2))
            else:
                struct.pack_into("bb", buf, METADATA_SECTION_1_OFFSET, -LEVEL_1_ENCRYPTION, -LEVEL_2_ENCRYPTION)
            buf[METADATA_SECTION_3_OFFSET:] = s3_bytes
        else:
            old = section3
            s1 = slice(METADATA_SECTION_1_OFFSET, METADATA_SECTION_2_OFFSET)
            buf[s1] = old[s1]
            buf[METADATA_SECTION_3_OFFSET:] = old[METADATA_SECTION_3_OFFSET:METADATA_FILE_BYTES]
        s2_level = struct.unpack_from("b", buf, METADATA_SECTION_1_OFFSET)[0]
        s2_bytes = self._encrypted_section(s2_bytes, s2_level, 2, self.path)
        if len(s2_bytes) != METADATA_SECTION_2_BYTES or len(buf) - METADATA_SECTION_3_OFFSET != METADATA_SECTION_3_BYTES:
            raise FormatError("internal error: metadata sections have the wrong size", self.path)
        buf[METADATA_SECTION_2_OFFSET:METADATA_SECTION_3_OFFSET] = s2_bytes
        return bytes(headers.finalize_crcs(buf))

    # --- descriptive metadata --------------------------------------------------------
    @_serialized
    def set_metadata(self, fields, channel=None, update_existing=True):
        """Set descriptive metadata of a channel (or of every channel, ``channel=None``).

        `fields` maps ``Reader.info`` names to values; None (or an absent key) leaves a
        field unchanged. Section 2: ``channel_description``, ``session_description``,
        ``reference_description`` (str), ``acquisition_channel_number`` (int),
        ``low_frequency_filter_setting``, ``high_frequency_filter_setting``,
        ``notch_filter_frequency_setting``, ``AC_line_frequency`` (Hz). Section 3
        (level-2 encrypted in an encrypted session): ``subject_name_1``,
        ``subject_name_2``, ``subject_id``, ``recording_location`` (str),
        ``GMT_offset`` (int, seconds).

        The values apply to every segment written afterwards (with ``channel=None``:
        of every channel, including channels written later) and, with
        ``update_existing`` (default), are written into the ``.tmet`` of the existing
        segments of the channel (of every channel): each file is rebuilt in memory,
        then written to a temporary file and renamed over the old one; only the given
        fields change. ``update_existing=False`` leaves the segments on disk as they
        are (mef_tools' behaviour: metadata is set when a segment is created).

        Unknown keys, strings too long for their field (UTF-8 bytes: 2047 for the
        descriptions, 127 for subject names and ID, 511 for the location) and numbers
        out of range raise ValueError, wrong types TypeError, and unreadable metadata
        files FormatError/PasswordError -- all before any file is written. Returns the
        number of ``.tmet`` files rewritten.
        """
        self._check_open()
        values = _check_metadata(fields)
        if channel is None:
            names = self._channel_names()
        else:
            validate_name(channel, "channel name")
            names = [channel] if os.path.isdir(os.path.join(self.path, channel + TS_CHANNEL_EXT)) else []
        images = []
        if update_existing and values:
            for name in names:
                chan = self._channel(name)
                for number in self._segment_numbers(chan):
                    files = SegmentFiles(chan.directory, name, number)
                    images.append((chan, files, self._retagged_tmet(files.tmet, values)))
        for chan, files, image in images:
            _replace_file(files.tmet, image, self.durable)
            seg = chan.last
            if seg is not None and seg.number == files.number:
                seg.tmet_raw = image
                _apply_metadata(seg.s2, seg.s3, values)
                seg.sizes = seg.fingerprint()
        if channel is None:
            self._meta_all.update(values)
            for per_channel in self._meta_channel.values():
                for key in values:
                    per_channel.pop(key, None)
        else:
            self._meta_channel.setdefault(channel, {}).update(values)
        return len(images)

    @staticmethod
    def _segment_numbers(chan):
        if not os.path.isdir(chan.directory):
            return []
        numbers = []
        for e in os.listdir(chan.directory):
            if e.startswith(chan.name + "-") and e.endswith(SEGMENT_EXT):
                digits = e[len(chan.name) + 1 : -len(SEGMENT_EXT)]
                if len(digits) == 6 and digits.isdigit() and os.path.isdir(os.path.join(chan.directory, e)):
                    numbers.append(int(digits))
        return sorted(numbers)

    def _retagged_tmet(self, path, values):
        """The .tmet image at `path` with set_metadata's `values` (CRCs, encryption kept)."""
        if not os.path.isfile(path):
            raise FormatError("segment metadata file is missing", path)
        raw = _read(path)
        uh = headers.parse_universal_header(raw, path, TMET)
        self._check_fields(uh, path)
        meta = headers.parse_metadata(raw, path, keys=self._read_keys(path))
        buf = bytearray(raw)
        s2_level, s3_level = struct.unpack_from("bb", buf, METADATA_SECTION_1_OFFSET)
        sections = {2: (_writable(meta.s2, TIME_SERIES_METADATA_SECTION_2), s2_level, METADATA_SECTION_2_OFFSET)}
        if any(_METADATA_FIELDS[k][0] == 3 for k in values):
            if meta.s3 is None:
                raise PasswordError("metadata section 3 is encrypted; setting it needs the level-2 password", path)
            sections[3] = (_writable(meta.s3, METADATA_SECTION_3), s3_level, METADATA_SECTION_3_OFFSET)
        _apply_metadata(sections[2][0], sections.get(3, (None,))[0], values)
        for number, (rec, level, offset) in sections.items():
            if number == 2 and not any(_METADATA_FIELDS[k][0] == 2 for k in values):
                continue
            data = self._encrypted_section(rec.tobytes(), level, number, path)
            buf[offset : offset + len(data)] = data
        return bytes(headers.finalize_crcs(buf))

    # --- records ---------------------------------------------------------------------
    @_serialized
    def write_annotations(self, annotations, channel=None, sort=True):
        """Replace the records of the session (channel None) or of a channel.

        `annotations` is an iterable of dicts or a pandas DataFrame with columns
        ``time`` (uUTC, required), ``type`` (4 letters, default ``"Note"``), ``text``
        and ``duration`` (us; EDFA and Seiz). Other fields of the record types
        ``format.records`` knows (e.g. Seiz ``channels``) pass through. Records are
        stored in time order (a stable sort), or with ``sort=False`` in the order given
        (valid MEF either way; readers return them in file order). Bodies are level-2
        encrypted in an encrypted session. An empty list removes the level's records.
        Returns the number of records written.
        """
        self._check_open()
        if channel is None:
            directory, base, seg_no, ch_name = self.path, self.session_name, _SESSION_LEVEL_CODE, ""
        else:
            validate_name(channel, "channel name")
            chan = self._channel(channel)
            if chan.last is None:
                raise UnknownChannelError(
                    f"channel {channel!r} has no data yet; write samples before its annotations", self.path
                )
            directory, base, seg_no, ch_name = chan.directory, channel, _CHANNEL_LEVEL_CODE, channel
        recs = self._normalize_records(annotations, sort)
        for i, rec in enumerate(recs):
            if rec["type"] == "Seiz" and not rec.get("channels"):
                # A Seiz record with no channel entries is valid MEF, but pymef 1.4.8 crashes
                # opening the session; name the channel(s) it concerns instead.
                names = [channel] if channel is not None else self._channel_names()
                if not names:
                    raise ValueError(f"annotation {i}: a session-level Seiz record needs 'channels' "
                                     "(the session has no channels yet)")
                onset = rec.get("earliest_onset", rec["time"])
                offset = rec.get("latest_offset")
                if offset is None and rec.get("duration") is not None:
                    offset = onset + rec["duration"]
                rec["channels"] = [{"name": n, "onset": onset, "offset": offset} for n in names]
        rdat = os.path.join(directory, f"{base}.{RDAT}")
        ridx = os.path.join(directory, f"{base}.{RIDX}")
        if not recs:
            for p in (ridx, rdat):
                if os.path.exists(p):
                    os.remove(p)
            _fsync_dir(directory, self.durable)
            return 0
        level = LEVEL_2_ENCRYPTION if self._keys is not None else 0
        body, index, max_bytes = _records.build_records(recs, self._rto, self._keys, encryption_level=level)
        level_uuid = None
        if os.path.isfile(rdat):  # keep the level's identity across rewrites
            try:
                uh = headers.parse_universal_header(_pread(rdat, UNIVERSAL_HEADER_BYTES), rdat, RDAT)
                if any(bytes(uh["level_uuid"])):
                    level_uuid = bytes(uh["level_uuid"])
            except MefError:
                level_uuid = None
        level_uuid = level_uuid or headers.new_uuid()
        times = [r["time"] for r in recs]
        common = dict(start=-(min(times) - self._rto), end=-(max(times) - self._rto), segment_number=seg_no,
                      channel=ch_name, session=self.session_name, level_uuid=level_uuid, fields=self._fields)
        uuid = headers.new_uuid()
        rdat_header = _universal_header(RDAT, n_entries=len(recs), max_entry=max_bytes, file_uuid=uuid,
                                        provenance_uuid=uuid, **common)
        headers.seal(rdat_header, _red.crc32(body))
        ridx_body = index.tobytes()
        uuid = headers.new_uuid()
        ridx_header = _universal_header(RIDX, n_entries=len(recs), max_entry=RECORD_INDEX_BYTES, file_uuid=uuid,
                                        provenance_uuid=uuid, **common)
        headers.seal(ridx_header, _red.crc32(ridx_body))
        # both files complete on disk before either replaces its predecessor
        tmp_rdat = os.path.join(directory, f".{base}.{RDAT}{_TMP_SUFFIX}")
        tmp_ridx = os.path.join(directory, f".{base}.{RIDX}{_TMP_SUFFIX}")
        _write_new_file(tmp_rdat, [rdat_header, body], self.durable)
        _write_new_file(tmp_ridx, [ridx_header, ridx_body], self.durable)
        os.replace(tmp_rdat, rdat)
        os.replace(tmp_ridx, ridx)
        _fsync_dir(directory, self.durable)
        return len(recs)

    def _channel_names(self):
        return sorted(
            e[: -len(TS_CHANNEL_EXT)]
            for e in os.listdir(self.path)
            if e.endswith(TS_CHANNEL_EXT) and not e.startswith(".") and os.path.isdir(os.path.join(self.path, e))
        )

    @staticmethod
    def _normalize_records(annotations, sort=True):
        if hasattr(annotations, "to_dict") and hasattr(annotations, "columns"):
            annotations = annotations.to_dict("records")
        if isinstance(annotations, dict):
            raise TypeError("annotations must be an iterable of dicts (or a DataFrame), not one dict")
        out = []
        for i, r in enumerate(annotations):
            if not isinstance(r, dict):
                raise TypeError(f"annotation {i} is a {type(r).__name__}, not a dict")
            rec = {k: v for k, v in r.items() if not _missing(v)}
            if "time" not in rec:
                raise ValueError(f"annotation {i} has no 'time'")
            rec["time"] = _check_time(rec["time"])
            rtype = rec.get("type", "Note")
            if not isinstance(rtype, str) or len(rtype) != 4 or not rtype.isascii():
                raise ValueError(f"annotation {i}: type must be 4 ASCII characters, got {rtype!r}")
            rec["type"] = rtype
            if "text" in rec and not isinstance(rec["text"], str):
                rec["text"] = str(rec["text"])
            if "duration" in rec:
                d = float(rec["duration"])
                if not math.isfinite(d):
                    raise ValueError(f"annotation {i}: duration must be finite")
                rec["duration"] = int(math.floor(d + 0.5))
            if rtype not in _records.KNOWN_TYPES and "body" not in rec:
                raise ValueError(f"annotation {i}: record type {rtype!r} needs its raw 'body' bytes")
            out.append(rec)
        if sort:
            out.sort(key=lambda rec: rec["time"])
        return out


def _missing(v):
    if v is None:
        return True
    if isinstance(v, float) and math.isnan(v):
        return True
    try:
        import pandas as pd  # noqa: F401

        return v is pd.NaT or (not isinstance(v, (str, bytes, list, tuple, dict, np.ndarray)) and bool(pd.isna(v)))
    except (ImportError, TypeError, ValueError):
        return False
