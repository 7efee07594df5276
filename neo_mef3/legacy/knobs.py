"""``MefWriter``'s knobs, as in mef_tools: block length, the NaN run that splits a write,
units, recording offset; a bad setter value keeps the old one (message and LegacyWarning)."""

from copy import copy
from typing import Any, Optional, Union

from .common import _say


class MefWriterKnobs:
    """The settable properties of :class:`MefWriter` and the block length they give."""

    def get_mefblock_len(self, fs: float) -> int:
        """Samples per RED block: ``mef_block_len`` if set, else fs (fs >= 5 kHz) or 10*fs."""
        if self.mef_block_len is not None:
            return self.mef_block_len
        if fs >= 5000:
            return int(fs)
        else:
            if fs < 0:
                return int(fs * 100)
            else:
                return int(fs * 10)

    @property
    def max_nans_written(self) -> Union[int, str]:
        """NaN runs shorter than this many samples are stored as 0; longer ones split the
        data ('fs': one second's worth)."""
        return self._max_nans_written

    @max_nans_written.setter
    def max_nans_written(self, max_samples: int) -> None:
        if (max_samples < 0) | (not (isinstance(max_samples, int))):
            _say("incorrect value, please provide positive int", warn=True)
            return
        self._max_nans_written = max_samples

    @property
    def data_units(self) -> bytes:
        """Units label (bytes) stored with new channels."""
        return self._data_units

    @data_units.setter
    def data_units(self, units_str: str) -> None:
        if (len(units_str) < 0) | (not (isinstance(units_str, str))):
            _say("incorrect value, please provide str with less than 20 chars", warn=True)
            return
        self._data_units = str.encode(units_str, "utf-8")
        self.section2_ts_dict["units_description"] = copy(self._data_units)

    @property
    def record_offset(self) -> Any:
        """mef_tools' recording-time offset knob (see docs/legacy.md: kept, not stored)."""
        return self._record_offset

    @record_offset.setter
    def record_offset(self, new_offset: Any) -> None:
        self._record_offset = new_offset

    @property
    def mef_block_len(self) -> Optional[int]:
        """Samples per RED block (None: derived from the sampling frequency)."""
        return self._mef_block_len

    @mef_block_len.setter
    def mef_block_len(self, new_mefblock_len: Optional[int]) -> None:
        self._mef_block_len = new_mefblock_len
