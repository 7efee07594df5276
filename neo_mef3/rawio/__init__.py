"""neo.rawio for MEF 3.0 sessions: :class:`MEF3RawIO`, built on :class:`neo_mef3.Reader`.

How a MEF session maps onto neo (details and consequences in ``docs/neo.md``):

* **Continuous sections.** A channel's RED blocks, in time order, are cut into sections
  where a new MEF segment begins or a block starts half a sample period or more away
  from where the previous block's samples end (the discontinuity flag alone does not
  cut: the reference writers set it on every append). Inside a section sample ``i`` is
  at ``t_section + i / fs``.
* **Streams.** Channels with the same sampling rate, the same raw dtype and the same
  sections (same sample counts, starts within half a sample period) form one stream.
  A channel whose gaps differ from the others' is in a stream of its own.
* **Segments** are shared by all streams (neo's rule). A new neo segment starts at the
  start time of a section whenever that section's stream already has samples in the
  current segment. So in every segment each stream holds (part of) exactly one section
  (no gap, no invented sample), every stored sample is in exactly one segment at its
  true time, and a stream with nothing in a segment has a 0-sample signal there.
* **Records** become events/epochs on one event channel per record type (session-,
  channel- and segment-level records together; array annotations say where each came
  from). Each record goes to the last segment starting at or before its time (a record
  in a gap goes to the segment before the gap, one before the first sample to segment 0)
  and the segment's t_start/t_stop is widened to include it.

The modules: ``facade`` (:class:`MEF3RawIO`, neo's hooks), ``tables`` (each channel's
blocks, sections and scaling), ``header`` (streams, segments, neo's header arrays and
units), ``records`` (records read, labelled, assigned to segments; :data:`EPOCH_RECORD_TYPES`),
``annotations`` (the Block's, Segments', signals' and events' annotations), ``chunks``
(signal sizes, start times, raw chunks), ``events`` (event channels, event/epoch
timestamps) and ``skips`` (``on_error="skip"``: the ``bad blocks`` epochs).
"""

from .facade import MEF3RawIO
from .header import normalize_units  # noqa: F401  (public names of the former single module)
from .records import EPOCH_RECORD_TYPES, VIDEO_EPOCHS, record_duration, record_label  # noqa: F401

__all__ = ["MEF3RawIO", "EPOCH_RECORD_TYPES"]
