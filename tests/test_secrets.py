"""Secrets: passwords never reach disk, logs, reprs or messages; level-1 access never
shows a section-3 (subject identity) field; record bodies stay encrypted; password
validation follows the specification; writers refuse names that leave the session."""

import hashlib
import io
import logging
import os
import shutil
import struct
import warnings
from contextlib import redirect_stderr, redirect_stdout

import numpy as np
import pytest

import neo_mef3
from neo_mef3 import cli
from neo_mef3.check import check_session
from neo_mef3.errors import MefError, PasswordError
from neo_mef3.format import crypto, headers
from neo_mef3.format.layout import METADATA_SECTION_3, METADATA_SECTION_3_OFFSET, TIME_SERIES_METADATA
from support.paths import DATA_DIR as DATA
from support.read_oracles import read_pymef

T0 = 1_600_000_000_000_000
P1, P2 = "Lvl1-Pa55word", "Lvl2-Secr3t!"
SUBJECT = {"subject_name_1": "Johanna", "subject_name_2": "Quixotova", "subject_ID": "MRN-8675309",
           "recording_location": "Ward 7b, Hospital Zed"}


def _session(path, p1=P1, p2=P2):
    rng = np.random.default_rng(3)
    with neo_mef3.Writer(path, overwrite=True, password1=p1, password2=p2, block_length=256) as w:
        w.write("Fp1", np.round(rng.normal(0, 20, 3000), 2), T0, 256.0)
        w.write("Fp2", np.round(rng.normal(0, 20, 3000), 2), T0, 256.0)
        w.write_annotations([{"time": T0 + 1_000_000, "text": "seizure onset, patient Johanna"},
                             {"time": T0 + 2_000_000, "type": "EDFA", "text": "arousal", "duration": 5}])
        w.write_annotations([{"time": T0 + 3_000_000, "text": "electrode Fp1 loose"}], channel="Fp1")
    with neo_mef3.Writer(path, password2=p2) as w:  # an append by a second Writer
        w.write("Fp1", np.round(rng.normal(0, 20, 1000), 2), T0 + 3000 * 1_000_000 // 256, 256.0)
    _add_subject(path, p1, p2)
    return path


def _add_subject(path, p1, p2):
    """Put subject identity into every metadata section 3 (as an acquisition system would)."""
    keys = crypto.Keys.for_writing(p1, p2)
    for root, _, names in os.walk(path):
        for n in names:
            if not n.endswith(".tmet"):
                continue
            p = os.path.join(root, n)
            buf = bytearray(open(p, "rb").read())
            sl = slice(METADATA_SECTION_3_OFFSET, METADATA_SECTION_3_OFFSET + METADATA_SECTION_3.itemsize)
            s3 = np.frombuffer(bytearray(crypto.decrypt(bytes(buf[sl]), keys.key(2))), METADATA_SECTION_3, 1)[0].copy()
            for k, v in SUBJECT.items():
                s3[k] = v.encode()
            s3["GMT_offset"] = -18000
            buf[sl] = crypto.encrypt(s3.tobytes(), keys.key(2))
            headers.finalize_crcs(buf)
            with open(p, "wb") as f:
                f.write(buf)


@pytest.fixture(scope="module")
def enc(tmp_path_factory):
    return _session(str(tmp_path_factory.mktemp("secret") / "enc.mefd"))


def _forms(secret):
    forms = {secret.encode("utf-8"), secret.encode("utf-16-le"), secret.encode("latin-1"),
             crypto.password_bytes(secret)}
    return forms | {f.lower() for f in forms} | {bytes(crypto.password_bytes(secret)).hex().encode()}


def _files_of(path):
    for root, _, names in os.walk(path):
        for n in names:
            yield os.path.join(root, n)


def _assert_absent(blob, secrets, where):
    if isinstance(blob, str):
        blob = blob.encode("utf-8", "backslashreplace")
    for s in secrets:
        for form in _forms(s) if isinstance(s, str) and s in (P1, P2) else [s.encode() if isinstance(s, str) else s]:
            assert form not in blob, f"{s!r} found in {where}"


# --- passwords: never on disk, in logs, reprs or messages --------------------------------


def test_passwords_never_on_disk(enc, tmp_path):
    for p in _files_of(enc):
        with open(p, "rb") as f:
            _assert_absent(f.read(), [P1, P2], p)
    # nor in anything neo or the CLI writes
    from neo_mef3.io import MEF3IO

    blk = MEF3IO(enc, password=P2).read_block()
    out = str(tmp_path / "neo.mefd")
    MEF3IO(out).write_block(blk, password1=P1, password2=P2)
    for p in _files_of(out):
        with open(p, "rb") as f:
            _assert_absent(f.read(), [P1, P2], p)


def test_validation_fields_follow_the_specification(enc):
    """level 1: SHA-256(l1 bytes)[:16]; level 2: SHA-256(l2 bytes)[:16] XOR l1 bytes, where
    a password's bytes are the low byte of each character, zero padded to 16."""
    l1 = bytes(ord(c) & 0xFF for c in P1).ljust(16, b"\0")
    l2 = bytes(ord(c) & 0xFF for c in P2).ljust(16, b"\0")
    f1 = hashlib.sha256(l1).digest()[:16]
    f2 = bytes(a ^ b for a, b in zip(hashlib.sha256(l2).digest()[:16], l1))
    for p in _files_of(enc):
        with open(p, "rb") as f:
            uh = headers.parse_universal_header(f.read(1024), p)
        assert bytes(uh["level_1_password_validation_field"]) == f1, p
        assert bytes(uh["level_2_password_validation_field"]) == f2, p


def test_password_validation_like_meflib():
    enc = os.path.join(DATA, "encrypted.mefd")  # written by mef_tools (meflib)
    with neo_mef3.Reader(enc, password="pass1") as r:
        assert not r.info("E")["section3_available"]
    with neo_mef3.Reader(enc, password="pass2") as r:
        assert r.info("E")["section3_available"]
    for bad in ("", "Zq9xK", "pass1 ", "PASS2", "p" * 16, "pass2pass2pass2x"):
        with pytest.raises(PasswordError) as exc:
            neo_mef3.Reader(enc, password=bad)
        if bad:
            assert bad not in str(exc.value)
    # only the low byte of each character counts (meflib's terminal bytes): U+0170 ~ "p"
    keys = crypto.unlock("\u0170ass2", *_fields(enc))
    assert keys.access_level == 2
    # an unencrypted session ignores a password, as meflib does
    with neo_mef3.Reader(os.path.join(DATA, "plain.mefd"), password="anything") as r:
        assert r.info("A")["section3_available"]


def _fields(session):
    for p in _files_of(session):
        if p.endswith(".tmet"):
            uh = headers.parse_universal_header(open(p, "rb").read(1024), p)
            return bytes(uh["level_1_password_validation_field"]), bytes(uh["level_2_password_validation_field"])


def test_pymef_opens_our_encrypted_session(enc, oracles_installed):
    for pw in (P1, P2):
        got = read_pymef(enc, pw)
        assert set(got["channels"]) == {"Fp1", "Fp2"}


def test_writer_password_rules(tmp_path):
    p = str(tmp_path / "w.mefd")
    for kw in ({"password1": P1}, {"password2": P2}, {"password1": P1, "password2": P1},
               {"password1": "x" * 16, "password2": P2}):
        with pytest.raises(ValueError) as exc:
            neo_mef3.Writer(p, overwrite=True, **kw)
        for v in kw.values():
            assert v not in str(exc.value)
    enc = _session(str(tmp_path / "e.mefd"))
    for kw in ({}, {"password2": "Nq7Pw"}, {"password2": P1}, {"password1": "Nq7Pw", "password2": P2}):
        with pytest.raises(PasswordError) as exc:
            neo_mef3.Writer(enc, **kw)
        assert P1 not in str(exc.value) and P2 not in str(exc.value) and "Nq7Pw" not in str(exc.value)


def test_passwords_not_in_reprs_messages_logs_or_warnings(enc, tmp_path):
    from neo_mef3.io import MEF3IO
    from neo_mef3.rawio import MEF3RawIO

    seen = []
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    out, err = io.StringIO(), io.StringIO()
    try:
        with warnings.catch_warnings(record=True) as caught, redirect_stdout(out), redirect_stderr(err):
            warnings.simplefilter("always")
            r = neo_mef3.Reader(enc, password=P2)
            seen += [repr(r), repr(r.segment_metadata("Fp1")[0].keys), str(r.info("Fp1"))]
            seen.append(repr(r.toc("Fp1")[:2]))
            r.close()
            w = neo_mef3.Writer(str(tmp_path / "w.mefd"), overwrite=True, password1=P1, password2=P2)
            seen.append(repr(w))
            w.write("x", np.arange(10.0), T0, 10.0)
            seen.append(repr(vars(w)))
            w.close()
            raw = MEF3RawIO(enc, password=P2)
            raw.parse_header()
            seen += [repr(raw), str(raw)]
            blk = MEF3IO(enc, password=P2).read_block()
            seen.append(repr(blk.annotations))
            for attempt in ("Zq9x-nope", P1[:-1], P2 + "x"):
                try:
                    neo_mef3.Reader(enc, password=attempt)
                except MefError as exc:
                    seen += [str(exc), repr(exc)]
            cli.main(["info", enc, "--password", P2])
            cli.main(["check", enc, "--password", P2])
            cli.main(["check", enc, "--password", "Zq9x-nope"])
            seen.append(check_session(enc, P2).json())
        seen += [str(x.message) for x in caught]
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    seen += [log.getvalue(), out.getvalue(), err.getvalue()]
    blob = "\n".join(seen)
    _assert_absent(blob, [P1, P2, "Zq9x-nope", P2 + "x"], "reprs, messages, logs or output")


def test_spikeinterface_never_writes_the_password(enc, tmp_path):
    pytest.importorskip("spikeinterface")
    from neo_mef3.spikeinterface import get_streams, read_mef3

    rec = read_mef3(enc, password=P2, stream_id=get_streams(enc, password=P2)[1][0])
    _assert_absent(repr(rec), [P2], "repr")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        saved = rec.save(folder=str(tmp_path / "si"), n_jobs=1)
    for p in _files_of(str(tmp_path / "si")):
        with open(p, "rb") as f:
            _assert_absent(f.read(), [P1, P2], p)
    assert np.array_equal(saved.get_traces(), rec.get_traces())
    # parallel work in memory still gets what it needs to reopen the session
    assert rec.check_serializability("memory")


# --- level-1 access: no section-3 field anywhere -------------------------------------


def _everything_level(path, password, tmp_path):
    """Every text a user can get out of the session through our APIs, concatenated."""
    from neo_mef3.io import MEF3IO
    from neo_mef3.rawio import MEF3RawIO

    texts = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with neo_mef3.Reader(path, password=password) as r:
            for ch in r.channels:
                texts += [repr(r.info(ch)), repr(r.segments(ch)), repr(r.toc(ch))]
                meta = r.segment_metadata(ch)[0]
                texts.append(meta.record.tobytes().decode("latin-1"))
                try:
                    texts.append(repr(r.records(ch)))
                except PasswordError:
                    pass
            try:
                texts.append(repr(r.records()))
            except PasswordError:
                pass
        raw = MEF3RawIO(path, password=password)
        raw.parse_header()
        texts += [repr(raw.header), repr(raw.raw_annotations)]
        blk = MEF3IO(path, password=password).read_block()
        texts.append(repr(blk.annotations))
        for seg in blk.segments:
            texts.append(repr(seg.annotations))
            for obj in seg.analogsignals + seg.events + seg.epochs:
                texts += [repr(obj.annotations), repr(getattr(obj, "array_annotations", {})), obj.name or ""]
        try:
            from neo_mef3.spikeinterface import get_streams, read_mef3

            for sid in get_streams(path, password=password)[1]:
                rec = read_mef3(path, password=password, all_annotations=True, stream_id=sid)
                texts.append(repr(rec._annotations))
                texts += [repr(rec.get_property(k)) for k in rec.get_property_keys()]
        except ImportError:  # pragma: no cover
            pass
        buf = io.StringIO()
        with redirect_stdout(buf):
            cli.main(["info", path, "--password", password])
            cli.main(["check", "--json", path, "--password", password])
        texts.append(buf.getvalue())
    return "\n".join(texts)


def test_level_1_shows_no_section_3_field(enc, tmp_path):
    full = _everything_level(enc, P2, tmp_path)
    for v in SUBJECT.values():  # the test would see them
        assert v in full
    limited = _everything_level(enc, P1, tmp_path)
    for v in SUBJECT.values():
        assert v not in limited, f"{v!r} visible with the level-1 password"
    with neo_mef3.Reader(enc, password=P1) as r:
        info = r.info("Fp1")
        for k in ("subject_name_1", "subject_name_2", "subject_id", "recording_location", "GMT_offset",
                  "recording_time_offset"):
            assert info[k] is None, k
        assert r.segment_metadata("Fp1")[0].s3 is None
        with pytest.raises(PasswordError):
            r.records()
        with pytest.raises(PasswordError):
            r.records("Fp1")


# --- records stay encrypted -----------------------------------------------------------


def test_record_bodies_are_encrypted_on_disk(enc):
    texts = [b"seizure onset", b"arousal", b"electrode Fp1 loose", b"Johanna"]
    for p in _files_of(enc):
        if not p.endswith(".rdat"):
            continue
        data = open(p, "rb").read()
        for t in texts:
            assert t not in data, (t, p)
        pos = 1024
        while pos < len(data):  # every record header says level 2
            assert struct.unpack_from("b", data, pos + 11)[0] == 2  # RECORD_HEADER.encryption
            pos += 24 + struct.unpack_from("<I", data, pos + 12)[0]
    with neo_mef3.Reader(enc, password=P2) as r:
        assert [x["text"] for x in r.records()] == ["seizure onset, patient Johanna", "arousal"]
        assert [x["text"] for x in r.records("Fp1")] == ["electrode Fp1 loose"]


def test_metadata_sections_encrypted_on_disk(enc):
    for p in _files_of(enc):
        if p.endswith(".tmet"):
            data = open(p, "rb").read()
            rec = np.frombuffer(data, TIME_SERIES_METADATA, 1)[0]
            assert rec["section_1"]["section_2_encryption"] == 1 and rec["section_1"]["section_3_encryption"] == 2
            assert b"uV" not in data[2560:13312]  # section 2 (units) is ciphertext
            for v in SUBJECT.values():
                assert v.encode() not in data


# --- names that would leave the session directory ------------------------------------

BAD_NAMES = ["../evil", "..", ".", "a/b", "a\\b", "/etc/x", "x\x00y", ".hidden", " lead", "trail ",
             "../../tmp/evil", "ok/../../evil", "x" * 300]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_writer_refuses_escaping_channel_names(tmp_path, name):
    sess = tmp_path / "in" / "s.mefd"
    with neo_mef3.Writer(str(sess), overwrite=True) as w:
        with pytest.raises(ValueError):
            w.write(name, np.arange(10.0), T0, 10.0)
        with pytest.raises(ValueError):
            w.write_int32(name, np.arange(10), 1.0, T0, 10.0)
        w.write("ok", np.arange(10.0), T0, 10.0)
        with pytest.raises((ValueError, MefError)):
            w.write_annotations([{"time": T0, "text": "x"}], channel=name)
    assert sorted(os.listdir(tmp_path)) == ["in"]
    assert sorted(os.listdir(tmp_path / "in")) == ["s.mefd"]
    assert sorted(os.listdir(sess)) == ["ok.timd"]


@pytest.mark.parametrize("name", ["..mefd", ".mefd", " x.mefd", "a\x00.mefd"])
def test_writer_refuses_bad_session_names(tmp_path, name):
    with pytest.raises(ValueError):
        neo_mef3.Writer(str(tmp_path / name), overwrite=True)


def test_neo_write_refuses_escaping_channel_names(tmp_path):
    import neo
    import quantities as pq

    from neo_mef3.io import MEF3IO

    blk = neo.Block()
    seg = neo.Segment()
    blk.segments.append(seg)
    sig = neo.AnalogSignal(np.zeros((100, 1)), units="uV", sampling_rate=100 * pq.Hz, name="sig")
    sig.array_annotate(channel_names=np.array(["../../escaped"]))
    seg.analogsignals.append(sig)
    out = tmp_path / "sub" / "n.mefd"
    try:
        MEF3IO(str(out)).write_block(blk)
    except (ValueError, MefError):
        pass
    for root, dirs, files in os.walk(tmp_path):
        for d in dirs + files:
            assert "escaped" not in d or str(out) in os.path.join(root, d), os.path.join(root, d)
    assert not (tmp_path / "escaped.timd").exists() and not (tmp_path.parent / "escaped.timd").exists()


def test_reader_ignores_symlinked_escape_attempts_in_names(tmp_path):
    """A session is read from its own directory tree only: a channel name is never
    turned into a path outside it (names come from directory entries, not headers)."""
    path = str(tmp_path / "plain.mefd")
    shutil.copytree(os.path.join(DATA, "plain.mefd"), path)
    with neo_mef3.Reader(path) as r:
        with pytest.raises(MefError):
            r.read("../plain.mefd/A")
        with pytest.raises(MefError):
            r.info("..")


def test_legacy_writer_refuses_escaping_channel_names(tmp_path):
    from neo_mef3.legacy import MefWriter

    w = MefWriter(str(tmp_path / "s.mefd"), overwrite=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in ("../escaped", "a/b", ".."):
            with pytest.raises(ValueError):
                w.write_data(np.arange(100.0), name, T0, 10)
    assert sorted(os.listdir(tmp_path)) == ["s.mefd"]
    assert not any("escaped" in n for n in os.listdir(tmp_path / "s.mefd"))
