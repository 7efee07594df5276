"""The format constants the Cython modules hard-code equal those of ``format/layout.py``.

``_red`` (the RED codec) and ``_scan`` (the channel scan) read and write fixed offsets
in C; ``neo_mef3.format.layout`` describes the same bytes as numpy dtypes. A field moved
or a flag renumbered in one place and not the other would shift samples or misjudge
files silently, so every constant the C code uses is compared here with the layout,
and the codec's header is read back through the layout's dtype.
"""
import numpy as np
import pytest

from neo_mef3 import _red
from neo_mef3.format import layout
from neo_mef3 import session as session_mod


def _field(dtype, name):
    """(offset, dtype) of a field of a structured dtype."""
    field_dtype, offset = dtype.fields[name][:2]
    return offset, field_dtype


def test_red_header_size_and_statistics_offset():
    assert _red.HEADER_BYTES == layout.RED_BLOCK_HEADER_BYTES == layout.RED_BLOCK_HEADER.itemsize
    offset, dtype = _field(layout.RED_BLOCK_HEADER, "statistics")
    assert _red.STATISTICS_OFFSET == offset
    assert _red.STATISTICS_OFFSET + dtype.itemsize == _red.HEADER_BYTES


def test_red_header_fields_match_the_layout():
    for name, (offset, type_) in _red.HEADER_FIELDS.items():
        assert name in layout.RED_BLOCK_HEADER.names, name
        assert (offset, np.dtype(type_)) == _field(layout.RED_BLOCK_HEADER, name), name
    # every field the codec does not name is a reserved region it leaves zero
    unnamed = set(layout.RED_BLOCK_HEADER.names) - set(_red.HEADER_FIELDS)
    assert unnamed == {"protected_region", "discretionary_region"}


def test_red_flags_sentinels_and_pad_match_the_layout():
    assert _red.FLAG_DISCONTINUITY == layout.RED_DISCONTINUITY
    assert _red.FLAG_LEVEL_1_ENCRYPTED == layout.RED_LEVEL_1_ENCRYPTED
    assert _red.FLAG_LEVEL_2_ENCRYPTED == layout.RED_LEVEL_2_ENCRYPTED
    assert _red.PAD_BYTE == layout.PAD_BYTE
    assert _red.RED_NAN == layout.RED_NAN
    assert _red.RED_MINIMUM_SAMPLE_VALUE == layout.RED_MINIMUM_SAMPLE_VALUE
    assert _red.RED_MAXIMUM_SAMPLE_VALUE == layout.RED_MAXIMUM_SAMPLE_VALUE


def test_encoded_header_reads_back_through_the_layout_dtype():
    # what the encoder writes where the codec's offsets say, read where the layout says
    rng = np.random.default_rng(5)
    x = np.cumsum(rng.integers(-300, 301, 777)).astype(np.int32)
    block = _red.encode_block(x, start_time=-123456789012, discontinuity=True)
    parsed = _red.block_header(block)
    hdr = np.frombuffer(block[:layout.RED_BLOCK_HEADER_BYTES], layout.RED_BLOCK_HEADER)[0]
    assert hdr["block_crc"] == parsed["crc"] == _red.crc32(block[4:])
    assert hdr["flags"] == parsed["flags"] == layout.RED_DISCONTINUITY
    assert hdr["detrend_slope"] == parsed["slope"] == 0.0
    assert hdr["detrend_intercept"] == parsed["intercept"] == 0.0
    assert hdr["scale_factor"] == parsed["scale_factor"] == 1.0
    assert hdr["number_of_samples"] == parsed["number_of_samples"] == x.size
    assert hdr["block_bytes"] == parsed["block_bytes"] == len(block)
    assert hdr["difference_bytes"] == parsed["difference_bytes"]
    assert hdr["start_time"] == parsed["start_time"] == -123456789012
    assert hdr["statistics"].tobytes() == parsed["statistics"]
    assert not hdr["protected_region"].any() and not hdr["discretionary_region"].any()

    # blocks are padded to a multiple of 8 with the layout's pad byte (the coded payload
    # itself ends with a zero byte)
    pads = []
    for n in range(1, 40):
        block = _red.encode_block(x[:n])
        payload_end = len(block.rstrip(bytes([layout.PAD_BYTE])))
        assert len(block) % 8 == 0 and block[payload_end - 1] == 0
        assert len(block) - payload_end == -payload_end % 8
        pads.append(len(block) - payload_end)
    assert max(pads) > 0


def test_status_codes_come_from_one_table():
    members = {s.name: int(s) for s in _red.BlockStatus}
    assert _red.STATUS_NAMES == {v: k for k, v in members.items()}
    assert sorted(members.values()) == list(range(len(members)))   # 0..9, no gaps
    for name, value in members.items():
        assert getattr(_red, name) == value and type(getattr(_red, name)) is int


needs_c_scan = pytest.mark.skipif(session_mod._scan is None, reason="no C scan on this platform (POSIX only)")


@needs_c_scan
def test_scan_tmet_offsets_match_the_layout():
    from neo_mef3 import _scan

    uh = layout.UNIVERSAL_HEADER
    s1 = layout.METADATA_SECTION_1
    expected = {
        "header_crc": _field(uh, "header_crc")[0],
        "body_crc": _field(uh, "body_crc")[0],
        "file_type": _field(uh, "file_type")[0],
        "mef_version_major": _field(uh, "mef_version_major")[0],
        "byte_order_code": _field(uh, "byte_order_code")[0],
        "section_2_encryption": layout.METADATA_SECTION_1_OFFSET + _field(s1, "section_2_encryption")[0],
        "section_3_encryption": layout.METADATA_SECTION_1_OFFSET + _field(s1, "section_3_encryption")[0],
    }
    assert _scan.TMET_FIELDS == expected
    assert _field(uh, "file_type")[1].itemsize == len(_scan.TMET_FILE_TYPE) + 1   # and a NUL
    assert _scan.TMET_FILE_TYPE.decode() == layout.TMET
    assert _scan.MEF_VERSION_MAJOR == layout.MEF_VERSION[0]
    assert _scan.LITTLE_ENDIAN_CODE == layout.LITTLE_ENDIAN_CODE
