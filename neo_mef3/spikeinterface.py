"""SpikeInterface recording extractor for MEF 3.0 sessions.

``import neo_mef3`` does not import SpikeInterface; this module does (it is an optional
dependency: ``pip install spikeinterface``).

>>> from neo_mef3.spikeinterface import read_mef3
>>> rec = read_mef3("session.mefd", stream_id="0")
>>> traces_uV = rec.get_traces(start_frame=0, end_frame=1000, return_in_uV=True)

The extractor follows SpikeInterface's neo-based extractors (it is a
``NeoBaseRecordingExtractor`` over :class:`neo_mef3.MEF3RawIO`): int32 traces,
``gain_to_uV``/``offset_to_uV`` from the MEF conversion factor and units, channel ids =
MEF channel names, one SpikeInterface segment per neo segment (see docs/neo.md for how
MEF discontinuities map to segments).
"""

import weakref
from pathlib import Path

import numpy as np

from spikeinterface.extractors.neoextractors.neobaseextractor import NeoBaseRecordingExtractor

from ._neo_registration import register
from .source import is_url
from .source.locations import has_secrets

__all__ = ["MEF3RecordingExtractor", "read_mef3", "get_streams"]

register()  # SpikeInterface resolves "MEF3RawIO" as an attribute of neo.rawio


class MEF3RecordingExtractor(NeoBaseRecordingExtractor):
    """A MEF 3.0 session (one stream of it) as a SpikeInterface recording.

    Parameters
    ----------
    folder_path : str or Path
        The ``.mefd`` session directory, a URL of one (``s3://``, ``https://``, any
        fsspec URL) or a packed ``.mefd.tar`` / ``.mefd.zip``.
    stream_id : str or None
        Which stream (channels sharing a rate and a gap layout). Needed when the
        session has several; :func:`get_streams` lists them.
    stream_name : str or None
        Alternatively, the stream's name (e.g. ``"1000 Hz"``).
    password : str or None
        Password of an encrypted session (level 1 is enough for the signals). It is
        kept in the extractor's kwargs in memory (so worker processes can reopen the
        session) but never written to a file: with a password the extractor is marked
        not serializable to JSON or pickle files, so ``save()`` stores the traces
        without a provenance file and ``dump()`` refuses.
    storage_options : dict or None
        Options of the fsspec file system of a URL (see docs/remote.md). Credentials in
        them are treated as the password is: kept in memory for worker processes,
        never written (the extractor is then not serializable to files).
    keep_original_times : bool
        Segment start times in seconds since the Unix epoch instead of since the
        session start.
    all_annotations : bool
        Copy neo's annotations (filters, descriptions, ...) as properties.
    use_names_as_ids : bool
        Channel ids are the MEF channel names either way (neo ids = names).
    session_segments : bool
        False (default): the recording's segments follow this stream's own gaps (neo is
        opened with ``MEF3RawIO(stream_ids=[stream_id])``), so a continuous stream is
        one segment whatever other channels do. True: the session-wide neo segments
        (shared by all streams, cut wherever any stream resumes after a gap).
    keep_empty_segments : bool
        With ``session_segments=True``, a neo segment in which this stream has no sample
        (possible when streams' gaps differ, see docs/neo.md) is left out unless this is
        True: SpikeInterface cannot save a 0-sample segment. The annotation
        ``neo_segment_indices`` maps SpikeInterface segments to neo segments.
    """

    NeoRawIOClass = "MEF3RawIO"
    mode = "folder"
    name = "mef3"

    def __init__(
        self,
        folder_path,
        stream_id=None,
        stream_name=None,
        password=None,
        keep_original_times=False,
        all_annotations=False,
        use_names_as_ids=False,
        session_segments=False,
        keep_empty_segments=False,
        storage_options=None,
        on_error="raise",
    ):
        neo_kwargs = self.map_to_neo_kwargs(folder_path, password, keep_original_times, storage_options, on_error)
        if not session_segments:
            names, ids = self.get_streams(folder_path, password, keep_original_times, storage_options, on_error)
            if stream_id is None and stream_name is not None and stream_name in names:
                stream_id = ids[names.index(stream_name)]
            if stream_id is None and len(ids) == 1:
                stream_id = ids[0]
            if stream_id is not None:
                neo_kwargs["stream_ids"] = [str(stream_id)]
        NeoBaseRecordingExtractor.__init__(
            self,
            stream_id=stream_id,
            stream_name=stream_name,
            all_annotations=all_annotations,
            use_names_as_ids=use_names_as_ids,
            **neo_kwargs,
        )
        neo_indices = list(range(len(self._segments)))
        if not keep_empty_segments:
            kept = [(i, s) for i, s in enumerate(self._segments) if s.get_num_samples() > 0]
            if kept:  # a stream always has samples somewhere
                neo_indices = [i for i, _ in kept]
                self._segments[:] = [s for _, s in kept]
        self.annotate(neo_segment_indices=neo_indices)
        self._kwargs.update(
            dict(
                folder_path=str(folder_path) if is_url(str(folder_path)) else str(Path(folder_path).absolute()),
                password=password,
                keep_original_times=keep_original_times,
                session_segments=session_segments,
                keep_empty_segments=keep_empty_segments,
                storage_options=storage_options,
            )
        )
        if on_error == "skip":
            self._kwargs["on_error"] = on_error
            self._report_bad_blocks()
        # SpikeInterface writes kwargs into provenance.json/.pkl: never a password or a credential
        if password or has_secrets(storage_options or {}):
            self._serializability["json"] = False
            self._serializability["pickle"] = False

    @classmethod
    def map_to_neo_kwargs(cls, folder_path, password=None, keep_original_times=False, storage_options=None,
                          on_error="raise"):
        kwargs = {"dirname": str(folder_path), "password": password, "keep_original_times": keep_original_times,
                  "storage_options": storage_options}
        if on_error != "raise":
            kwargs["on_error"] = on_error
        return kwargs

    def _report_bad_blocks(self):
        """on_error="skip": after every trace read, the ``bad_blocks`` property lists the
        damaged spans met so far per channel ("t0-t1 s; ..." on the neo time axis, "" for
        none); damaged samples read as zeros (see MEF3RawIO)."""
        rawio = self.neo_reader
        ids = list(self.get_channel_ids())
        names = [str(n) for n in self.get_property("channel_names")] if "channel_names" in self.get_property_keys() \
            else [str(c) for c in ids]
        owner = weakref.ref(self)  # (the segments' wrappers must not keep the extractor alive)

        def update():
            rec = owner()
            if rec is not None:
                spans = rawio.bad_blocks.by_channel(rawio.time_origin)
                rec.set_property("bad_blocks", np.array([spans.get(n, "") for n in names], dtype=object))

        for seg in self._segments:
            read = seg.get_traces

            def get_traces(*args, _read=read, **kwargs):
                traces = _read(*args, **kwargs)
                update()
                return traces

            seg.get_traces = get_traces
        update()


def read_mef3(path, stream_id=None, password=None, **kwargs):
    """Open a MEF 3.0 session as a SpikeInterface recording (see MEF3RecordingExtractor)."""
    return MEF3RecordingExtractor(path, stream_id=stream_id, password=password, **kwargs)


def get_streams(path, password=None, storage_options=None, on_error="raise"):
    """(stream_names, stream_ids) of a session (``on_error="skip"``: of what is intact)."""
    return MEF3RecordingExtractor.get_streams(path, password, False, storage_options, on_error)
