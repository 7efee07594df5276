"""The format layer on its own: layouts, times, passwords, AES, records."""

import struct

import numpy as np
import pytest

from neo_mef3.errors import CrcError, FormatError, PasswordError
from neo_mef3.format import crypto, layout, records, times


def _offset(dtype, name):
    return dtype.fields[name][1]


def test_layout_offsets_match_the_specification():
    # absolute offsets in the .tmet file, as the MEF 3.0 specification lists them
    tm = layout.TIME_SERIES_METADATA
    s2 = layout.TIME_SERIES_METADATA_SECTION_2
    s3 = layout.METADATA_SECTION_3
    base2 = _offset(tm, "section_2")
    base3 = _offset(tm, "section_3")
    assert base2 == 2560 and base3 == 13312
    assert base2 + _offset(s2, "recording_duration") == 6656
    assert base2 + _offset(s2, "sampling_frequency") == 8720
    assert base2 + _offset(s2, "units_conversion_factor") == 8760
    assert base2 + _offset(s2, "number_of_samples") == 8920
    assert base2 + _offset(s2, "maximum_contiguous_samples") == 8984
    assert base3 + _offset(s3, "GMT_offset") == 13336
    assert base3 + _offset(s3, "recording_location") == 13724
    uh = layout.UNIVERSAL_HEADER
    assert _offset(uh, "channel_name") == 52
    assert _offset(uh, "level_1_password_validation_field") == 868
    assert _offset(layout.TIME_SERIES_INDEX, "RED_block_flags") == 44
    assert _offset(layout.RED_BLOCK_HEADER, "statistics") == 48
    assert _offset(layout.RECORD_HEADER, "time") == 16


def test_times_negated_with_offset():
    t = 1_600_000_000_123_456
    assert times.to_stored(t) == -t
    assert times.to_uutc(-t) == t
    assert times.to_uutc(t) == t  # non-negative = already absolute
    assert times.to_uutc(times.to_stored(t, rto=1000), rto=1000) == t
    assert times.to_uutc(layout.UUTC_NO_ENTRY) is None
    arr = times.to_uutc_array(np.array([-t, t, layout.UUTC_NO_ENTRY]), rto=5)
    assert arr.tolist() == [t + 5, t, layout.UUTC_NO_ENTRY]


def test_aes_known_answer():
    # FIPS-197 appendix C.1 (AES-128)
    key = bytes(range(16))
    plain = bytes.fromhex("00112233445566778899aabbccddeeff")
    cipher = crypto.encrypt(plain, key)
    assert cipher.hex() == "69c4e0d86a7b0430d8cdb78070b4c55a"
    assert crypto.decrypt(cipher, key) == plain
    # a trailing partial block is left as is
    assert crypto.encrypt(plain + b"xyz", key)[-3:] == b"xyz"


def test_password_bytes_take_the_low_byte_of_each_character():
    assert crypto.password_bytes("ab") == b"ab" + bytes(14)
    assert crypto.password_bytes("\u0141x") == bytes([0x41, ord("x")]) + bytes(14)
    with pytest.raises(ValueError):
        crypto.password_bytes("x" * 16)
    with pytest.raises(ValueError):
        crypto.password_bytes("")


def test_unlock_levels():
    f1, f2 = crypto.validation_fields("pass1", "pass2")
    k1 = crypto.unlock("pass1", f1, f2)
    assert k1.access_level == 1 and k1.key(1) == crypto.password_bytes("pass1") and k1.key(2) is None
    k2 = crypto.unlock("pass2", f1, f2)
    assert k2.access_level == 2
    assert k2.key(1) == crypto.password_bytes("pass1")  # recovered from the level-2 field
    assert k2.key(2) == crypto.password_bytes("pass2")
    with pytest.raises(PasswordError) as exc:
        crypto.unlock("pass3", f1, f2, path="/x.mefd")
    assert "pass3" not in str(exc.value) and "/x.mefd" in str(exc.value)
    with pytest.raises(PasswordError):
        crypto.unlock("", f1, f2)
    assert crypto.unlock("", bytes(16), bytes(16)).access_level == 2
    assert "pass" not in repr(k2)


def _all_types():
    t = 1_600_000_000_000_000
    return [
        {"type": "Note", "time": t, "text": "hello \u00e9"},
        {"type": "SyLg", "time": t + 1, "text": "system"},
        {"type": "EDFA", "time": t + 2, "duration": 1_500_000, "text": "sleep"},
        {
            "type": "Seiz",
            "time": t + 3,
            "earliest_onset": t + 3,
            "latest_offset": t + 10_000_003,
            "duration": 10_000_000,
            "onset_code": 1,
            "marker_name_1": "m1",
            "marker_name_2": "m2",
            "annotation": "focal",
            "channels": [{"name": "LA1", "onset": t + 5, "offset": t + 9_000_000}],
        },
        {"type": "CSti", "time": t + 4, "task_type": "memory", "stimulus_duration": 250_000,
         "stimulus_type": "word", "patient_response": "yes"},
        {"type": "ESti", "time": t + 5, "amplitude": 2.5, "frequency": 50.0, "pulse_width": 200,
         "ampunit_code": 1, "mode_code": 1, "waveform": "biphasic", "anode": "LA1", "catode": "LA2"},
        {"type": "Curs", "time": t + 6, "id_number": 7, "trace_timestamp": t + 6, "latency": 12,
         "value": 3.25, "name": "cursor"},
        {"type": "Epoc", "time": t + 7, "id_number": 8, "timestamp": t + 7, "end_timestamp": t + 1007,
         "duration": 1000, "epoch_type": "sleep", "text": "N2"},
        {"type": "LNTP", "time": t + 8, "template": np.array([1, -2, 3, 2**31 - 1], np.int32)},
        {"type": "Xyzw", "time": t + 9, "body": b"\x01\x02\x03"},
    ]


@pytest.mark.parametrize("encrypted", [False, True])
def test_records_round_trip_every_type(encrypted):
    recs = _all_types()
    keys = crypto.Keys.for_writing("pass1", "pass2")
    data, index, max_bytes = records.build_records(recs, keys=keys, encryption_level=2 if encrypted else 0)
    assert len(index) == len(recs)
    assert index["file_offset"][0] == 1024
    assert max_bytes == max(np.diff(np.append(index["file_offset"], 1024 + len(data))))
    if encrypted:
        assert b"hello" not in data and b"focal" not in data
        with pytest.raises(PasswordError):
            records.parse_records(data, crypto.Keys(1, level_1_key=b"x" * 16))
    back = records.parse_records(data, keys, expected=len(recs))
    for want, got in zip(recs, back):
        assert got["type"] == want["type"] and got["time"] == want["time"]
        assert got["encryption"] == (2 if encrypted else 0)
        for key, value in want.items():
            if key in ("type", "time"):
                continue
            if key == "template":
                assert np.array_equal(got[key], value)
            elif key == "body":
                assert got[key][: len(value)] == value  # padded with 0x7e to 16 bytes
                assert set(got[key][len(value):]) == {0x7E}
            elif key == "channels":
                assert got[key] == value
            else:
                assert got[key] == value, key


def test_records_damage_is_detected():
    data, _, _ = records.build_records(_all_types()[:3])
    keys = crypto.Keys(2)
    flipped = bytearray(data)
    flipped[30] ^= 0x01
    with pytest.raises(CrcError):
        records.parse_records(bytes(flipped), keys)
    with pytest.raises(FormatError):
        records.parse_records(data[:-5], keys)
    with pytest.raises(FormatError):
        records.parse_records(data, keys, expected=5)
    huge = bytearray(data)
    struct.pack_into("<I", huge, 12, 2**32 - 1)  # absurd body size
    with pytest.raises(FormatError):
        records.parse_records(bytes(huge), keys)
    # every header byte after the CRC is covered, the encryption level too: a level made
    # negative (never on disk) must not switch the check off (found by the damage campaign)
    for offset, value in ((11, 0xCD), (11, 0xFF), (8, ord("m")), (9, 0xD2)):
        hit = bytearray(data)
        hit[offset] = value
        with pytest.raises(CrcError):
            records.parse_records(bytes(hit), keys)


def test_image_reader_reads_every_field_as_the_numpy_record_gives_it():
    """fields.ImageReader (what Reader.info reads) against fields.value on the numpy
    record: text cut at its first NUL (or filling its field), invalid UTF-8 replaced,
    numbers, section 3 locked; and an image too short raises as before."""
    from neo_mef3.format import fields

    reader = fields.ImageReader([(f.name, f.section, f.stored) for f in fields.FIELDS]
                                + [("session_name", "uh", "session_name")])
    rng = np.random.default_rng(1)
    for trial in range(60):
        img = bytearray(layout.TIME_SERIES_METADATA.itemsize)
        rec = np.frombuffer(img, layout.TIME_SERIES_METADATA)
        for f in fields.FIELDS:
            sec = rec["section_2" if f.section == 2 else "section_3"]
            if f.kind == "text":
                full = bytes(rng.integers(1, 256, f.size, dtype=np.uint8))
                sec[f.stored] = [b"", "µV é".encode(), full[: f.size // 2] + b"\0" + full[f.size // 2 + 1:], full,
                                 b"\xff\xfe bad"][trial % 5]
            else:
                sec[f.stored] = rng.integers(-1000, 1000) / (7 if f.kind == "float" else 1)
        rec["universal_header"]["session_name"] = bytes(rng.integers(1, 256, 256, dtype=np.uint8))
        for s3 in (True, False):
            for raw in (bytes(img), memoryview(bytes(img))):
                got = reader.read(raw, s3)
                for f in fields.FIELDS:
                    want = fields.value(f, rec["section_2"][0], rec["section_3"][0] if s3 else None)
                    assert got[f.name] == want, (f.name, trial)
                assert got["session_name"] == layout.text(rec["universal_header"]["session_name"][0])
    end = max(layout.offset_of(layout.TIME_SERIES_METADATA, "section_2" if f.section == 2 else "section_3", f.stored)
              + layout.TIME_SERIES_METADATA[f"section_{f.section}"][f.stored].itemsize for f in fields.FIELDS)
    reader.read(bytes(img[:end]))
    with pytest.raises(struct.error):  # (its last field cut short)
        reader.read(bytes(img[: end - 1]))
