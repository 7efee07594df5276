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

Precision (``write(..., precision=-1)``) and segments
-----------------------------------------------------
docs/writing.md states the rules; in short (:func:`.quantize.resolution`): a chunk's
resolution is the smallest ``p`` at which its values are exact decimals in their own
float type (whole numbers always; finer decimals up to three digits beyond the step
rule), else the power of ten at most 1/1000 of its typical sample-to-sample change,
never finer than int32 holds at its magnitude (a PrecisionWarning when that is coarser
than the values need). A write appends to the channel's last segment when its counts
fit int32 at the segment's factor and that factor keeps their resolution (exact values:
whole multiples of it; others: at most 1/100 of their typical change); otherwise it
starts a new segment at its own precision and says why (``reason``). A pinned
``precision`` is used as given: finer values are rounded (PrecisionWarning, naming the
bound), values beyond int32 clamped and counted (ClampedSamplesWarning), as +-inf are
in every mode. Quantization is ``numpy.rint(x * 10**p)`` (round half to even).

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

The in-place header rewrites change only the header's first 512-byte sector, so a
torn write leaves the old header or the new one. A crash during or after step 1 leaves
unindexed bytes after the last block: readers go by the index and ignore them. After
step 2 the index holds entries past its declared count (and possibly a torn partial
entry): ``format.headers.parse_index`` keeps every whole entry that continues the
committed ones and checks the body CRC over the committed part, so those blocks are
returned. Between steps 3 and 5 the metadata still describes the previous state;
meflib clamps its block count to the smallest of the declared counts and reads the old
data. Body CRCs are extended incrementally from the stored ones, so an append costs
O(new data).

A Writer opening a session repairs what such a crash left (:mod:`.repair`): it adopts
every index entry past the declared count that matches its block exactly, cuts what
lies past the last one, recomputes the CRCs and rewrites the headers and metadata --
unless another Writer has the session open (:mod:`.lock`). ``neo-mef3 repair`` does the
same for every segment. With ``durable=False`` the order is kept but nothing is
flushed: safe against a crashing process, not against a power cut (docs/writing.md).
Ctrl-C and a ``cancel`` stop a write between encoded chunks (:mod:`.interrupts`); a
write stopped before its index is extended removes its blocks.

Records (``write_annotations``) replace a level's ``.rdat``/``.ridx``: both are written
to temporary files and renamed, ``.rdat`` first.

The package: :mod:`.facade` (the Writer: checks a call, dispatches it), :mod:`.plan`
(what a write does: conflicts, blocks, flags), :mod:`.quantize` (values to counts,
precision, block cuts), :mod:`.encode` (RED chunks into a file body), :mod:`.segments`
(the file steps of a new segment and of an append), :mod:`.recovery` (what is on disk,
and what a crash left), :mod:`.repair` (healing it), :mod:`.lock` (who may repair),
:mod:`.interrupts` (Ctrl-C at safe points), :mod:`.summary` (what a Writer did),
:mod:`.annotations` (records files) and :mod:`.state` (what the Writer keeps per channel).
"""

from .facade import Writer
from .quantize import MAX_PRECISION, MIN_PRECISION, default_block_length, infer_precision
from .repair import repair_session

__all__ = ["Writer", "infer_precision", "default_block_length", "MAX_PRECISION", "MIN_PRECISION", "repair_session"]
