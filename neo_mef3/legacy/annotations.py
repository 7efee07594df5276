"""``MefWriter``'s annotations as mef_tools writes them: this call's records first, then
the ones already stored, through the native Writer's records files."""

from typing import Any, Optional

import numpy as np

from .common import _open_reader
from .records import _native_record, _read_pymef_records


class MefWriterAnnotations:
    """``MefWriter.write_annotations`` and pymef's read of the stored records (the
    writer's native-writer handling and password come from :class:`MefWriter`)."""

    def write_annotations(self, annotations: Any, channel: Optional[str] = None) -> None:
        """Add annotations (a pandas DataFrame with ``time``, ``type``, ``text`` and
        optionally ``duration`` columns) to the session or to a channel.

        The new records go first, then the ones already stored, as in mef_tools. The
        DataFrame's ``time``/``duration`` columns are cast to int64 in place.
        """
        # check int of time column
        if not np.issubdtype(annotations["time"].dtype, np.int64):
            annotations["time"] = annotations["time"].astype(np.int64)

        # check duration for int
        if "duration" in annotations.columns:
            if not np.issubdtype(annotations["duration"].dtype, np.int64):
                annotations["duration"] = annotations["duration"].astype(np.int64)

        start_time = int(annotations["time"].min())
        end_time = int(annotations["time"].max())
        record_list = annotations.to_dict("records")

        # read old annotations
        print(" Reading previously stored annotations...")
        previous_list = self._read_annotation_record(channel=channel)
        if previous_list is not None:
            if not previous_list:
                raise KeyError("time")  # pandas, on an empty frame of previous records
            times = [r["time"] for r in previous_list]
            read_start, read_end = min(times), max(times)
            if read_start < start_time:
                start_time = read_start
            if read_end > end_time:
                end_time = read_end

            record_list.extend(previous_list)

        self._write_annotation_record(start_time, end_time, record_list, channel=channel)
        print(f"Annotations written, total {len(record_list)}, channel: {channel}")
        return

    def _write_annotation_record(self, start_time, end_time, record_list, channel=None):
        """Replace the records of the level with `record_list` (through the native Writer)."""
        records = [_native_record(rec) for rec in record_list]
        block_len = self._writer_conf[0] if self._writer_conf else 0
        writer = self._writer or self._native_writer(block_len or 1)
        try:
            # mef_tools' order: this call's records first, then the stored ones
            writer.write_annotations(records, channel=channel, sort=False)
        finally:
            self._close_writer()
        self._md_loaded = True

    def _read_annotation_record(self, channel=None):
        """pymef ``read_records`` on the session as last loaded; None (and a message) on failure."""
        annot_list = None
        try:
            if not self._md_loaded:
                raise TypeError("'NoneType' object is not subscriptable")
            self._close_writer()
            reader = _open_reader(self._path, self._read_password())
            try:
                annot_list = _read_pymef_records(reader, channel)
            finally:
                reader.close()
        except (TypeError, KeyError):
            print("WARNING: read of annotations record failed, no annotations returned")
        return annot_list
