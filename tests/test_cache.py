"""The metadata cache (``Reader(path, cache=...)``): a warm open reports exactly what a
cold one does, any change to the session makes it stale, a damaged or foreign snapshot
is ignored with a warning and never trusted, and no password or decrypted identity is
ever written into it."""
import os
import shutil
import warnings

import numpy as np
import pytest

import neo_mef3
from neo_mef3.errors import MefWarning, PasswordError
from neo_mef3.reader import cache as cache_mod
from neo_mef3.source import LocalSource
from support.reports import session_report
from support.spellings import respell

HERE = os.path.dirname(__file__)
DATA = os.path.join(HERE, "data")
PAST = 1_600_000_000  # seconds: what the copied sessions are dated (long settled)


@pytest.fixture(autouse=True)
def user_cache_dir(tmp_path, monkeypatch):
    """Every test gets its own per-user cache directory (and signing key)."""
    d = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CACHE_HOME", str(d))
    return d / "neo_mef3"


def _copy(name, tmp_path, dest="s.mefd"):
    path = str(tmp_path / dest)
    shutil.copytree(os.path.join(DATA, f"{name}.mefd"), path)
    _settle(path)
    return path


def _settle(path):
    """Date every file and directory of a session in the past (a session written just
    now is not cached: its clock could hide a second change)."""
    for root, dirs, files in os.walk(path, topdown=False):
        for n in files + dirs:
            os.utime(os.path.join(root, n), (PAST, PAST))
    os.utime(path, (PAST, PAST))


def _everything(path, password="", cache=None):
    return session_report(path, password, cache=cache)


def _snapshot(path, cache):
    """What a cache file would give now: (tree, scan) or None."""
    return cache_mod.MetadataCache(cache, LocalSource(path)).load()


@pytest.mark.parametrize("name,password", [("plain", ""), ("plain_mef3io", ""), ("encrypted", "pass2"),
                                           ("encrypted_mef3io", "pass2"), ("encrypted", "pass1")])
def test_a_warm_open_reports_exactly_what_a_cold_one_does(tmp_path, name, password):
    path = _copy(name, tmp_path)
    cache = str(tmp_path / "s.cache")
    cold = _everything(path, password)
    first = _everything(path, password, cache)  # (cold, writes the snapshot)
    assert os.path.exists(cache)
    assert _snapshot(path, cache) is not None
    warm = _everything(path, password, cache)
    assert repr(first) == repr(cold)
    assert repr(warm) == repr(cold)


def test_a_warm_open_reads_no_metadata_file(tmp_path, monkeypatch):
    """Served from the snapshot: no channel listed, no .tmet read (the one-by-one path
    would show in read_file, the C scan in scan_session)."""
    path = _copy("plain", tmp_path)
    cache = str(tmp_path / "s.cache")
    with neo_mef3.Reader(path, cache=cache) as r:
        want = {ch: r.info(ch) for ch in r.channels}
    calls = []
    for method in ("scan_session", "scan_channels", "read_file", "read_files", "list_session"):
        real = getattr(LocalSource, method)
        monkeypatch.setattr(LocalSource, method, lambda self, *a, _m=method, _r=real, **k: calls.append(_m) or _r(
            self, *a, **k))
    with neo_mef3.Reader(path, cache=cache) as r:
        got = {ch: r.info(ch) for ch in r.channels}
    assert got == want
    assert [c for c in calls if c != "list_session"] == []


def _edits(path):
    """(label, edit) pairs: each changes one file or directory of the session in one way."""
    seg = os.path.join(path, "A.timd", "A-000000.segd")
    stem = os.path.join(seg, "A-000000.")

    def touch(p, dt=7):
        st = os.stat(p)
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns + dt * 10**9))

    def grow(p):
        with open(p, "ab") as f:
            f.write(b"\0")

    def same_size_rewrite(p):
        with open(p, "r+b") as f:
            data = f.read()
            f.seek(0)
            f.write(data)

    yield "tmet mtime", lambda: touch(stem + "tmet")
    yield "tidx size", lambda: grow(stem + "tidx")
    yield "tdat mtime", lambda: touch(stem + "tdat")
    yield "tdat rewritten (same bytes)", lambda: same_size_rewrite(stem + "tdat")
    yield "records file added to a segment", lambda: open(stem + "rdat", "wb").close()
    yield "segment directory added", lambda: os.mkdir(os.path.join(path, "A.timd", "A-000009.segd"))
    yield "channel directory added", lambda: os.mkdir(os.path.join(path, "Z.timd"))
    yield "session records added", lambda: open(os.path.join(path, "plain.rdat"), "wb").close()
    yield "tmet replaced (rename)", lambda: shutil.copy2(stem + "tmet", stem + "tmet.x") or os.replace(
        stem + "tmet.x", stem + "tmet")


@pytest.mark.parametrize("which", range(9))
def test_any_change_to_any_file_makes_the_snapshot_stale(tmp_path, which):
    path = _copy("plain", tmp_path)
    cache = str(tmp_path / "s.cache")
    neo_mef3.Reader(path, cache=cache).close()
    assert _snapshot(path, cache) is not None
    label, edit = list(_edits(path))[which]
    edit()
    with warnings.catch_warnings():
        warnings.simplefilter("error", MefWarning)  # (stale is not damage: no warning)
        assert _snapshot(path, cache) is None, label


def test_an_append_by_the_writer_is_seen(tmp_path):
    path = str(tmp_path / "w.mefd")
    cache = str(tmp_path / "w.cache")
    t0, fs = 1_600_000_000_000_000, 100.0
    x = np.arange(1000, dtype=np.int32)
    with neo_mef3.Writer(path) as w:
        w.write_int32("A", x[:500], 1.0, t0, fs)
    _settle(path)
    with neo_mef3.Reader(path, cache=cache) as r:
        assert r.info("A")["number_of_samples"] == 500
    assert _snapshot(path, cache) is not None
    with neo_mef3.Writer(path) as w:
        w.write_int32("A", x[500:], 1.0, t0 + 5_000_000, fs)
    assert _snapshot(path, cache) is None
    with neo_mef3.Reader(path, cache=cache) as r:
        assert r.info("A")["number_of_samples"] == 1000
        assert np.array_equal(r.read_samples("A"), x)


def test_a_session_changed_just_now_is_not_cached(tmp_path):
    path = _copy("plain", tmp_path)
    os.utime(os.path.join(path, "A.timd", "A-000000.segd", "A-000000.tdat"))  # now
    cache = str(tmp_path / "s.cache")
    with neo_mef3.Reader(path, cache=cache) as r:
        assert r.info("A")["number_of_samples"] > 0
    assert not os.path.exists(cache)


def _damaged(data):
    b = bytearray(data)
    b[len(b) // 2] ^= 0x10
    return bytes(b)


@pytest.mark.parametrize("how", ["flipped byte", "cut short", "empty", "not a cache", "other user's key",
                                 "other session", "garbage header"])
def test_a_damaged_or_foreign_snapshot_is_ignored_with_a_warning(tmp_path, how, user_cache_dir):
    path = _copy("plain", tmp_path)
    cache = str(tmp_path / "s.cache")
    want = _everything(path)
    neo_mef3.Reader(path, cache=cache).close()
    with open(cache, "rb") as f:
        good = f.read()
    if how == "flipped byte":
        bad = _damaged(good)
    elif how == "cut short":
        bad = good[: len(good) - 100]
    elif how == "empty":
        bad = b""
    elif how == "not a cache":
        bad = os.urandom(5000)
    elif how == "other user's key":
        with open(user_cache_dir / "key", "wb") as f:
            f.write(os.urandom(32))
        bad = good
    elif how == "garbage header":  # (signed, so only a bug could make one: still refused)
        body = cache_mod.MAGIC + cache_mod._HEAD.pack(5) + b"{nope" + good[len(cache_mod.MAGIC) + 9:-32]
        import hashlib
        import hmac

        key = cache_mod._user_key(str(user_cache_dir))
        bad = body + hmac.new(key, body, hashlib.sha256).digest()
    else:  # a snapshot of another session under this name
        other = _copy("plain_mef3io", tmp_path, "o.mefd")
        other_cache = str(tmp_path / "o.cache")
        neo_mef3.Reader(other, cache=other_cache).close()
        with open(other_cache, "rb") as f:
            bad = f.read()
    with open(cache, "wb") as f:
        f.write(bad)
    if how != "empty":
        with pytest.warns(MefWarning, match="metadata cache .* is ignored"):
            got = _everything(path, cache=cache)
    else:
        with pytest.warns(MefWarning):
            got = _everything(path, cache=cache)
    assert repr(got) == repr(want)
    assert _snapshot(path, cache) is not None  # (a good snapshot written over it)


def test_a_snapshot_of_another_version_is_replaced_silently(tmp_path, monkeypatch):
    path = _copy("plain", tmp_path)
    cache = str(tmp_path / "s.cache")
    neo_mef3.Reader(path, cache=cache).close()
    monkeypatch.setattr(cache_mod, "_package_version", lambda: "another")
    with warnings.catch_warnings():
        warnings.simplefilter("error", MefWarning)
        assert _snapshot(path, cache) is None
        neo_mef3.Reader(path, cache=cache).close()
    assert _snapshot(path, cache) is not None


IDENTITY = {"subject_name_1": "Wilhelmina", "subject_name_2": "Quackenbush", "subject_id": "MRN-48151623",
            "recording_location": "Saint Elsewhere Hospital", "channel_description": "left hippocampus depth",
            "session_description": "presurgical monitoring"}


def _encrypted_session(tmp_path):
    path = str(tmp_path / "e.mefd")
    t0, fs = 1_600_000_000_000_000, 256.0
    x = np.arange(2000, dtype=np.int32) % 97
    with neo_mef3.Writer(path, password1="lvl1-Secret", password2="lvl2-Secret") as w:
        w.set_metadata(IDENTITY)
        for ch in ("LA1", "LA2"):
            w.write_int32(ch, x[:1000], 1.0, t0, fs)
            w.write_int32(ch, x[1000:], 1.0, t0 + 10_000_000, fs, new_segment=True)
    _settle(path)
    return path


def test_no_password_or_decrypted_identity_lands_in_the_cache(tmp_path):
    path = _encrypted_session(tmp_path)
    cache = str(tmp_path / "s.cache")
    with neo_mef3.Reader(path, password="lvl2-Secret", cache=cache) as r:
        infos = [r.info(ch) for ch in r.channels]
        segments = [r.segments(ch) for ch in r.channels]
    for key, value in IDENTITY.items():
        assert infos[0][key] == value
    assert segments[0][1]["channel_description"] == IDENTITY["channel_description"]
    with open(cache, "rb") as f:
        data = f.read()
    for secret in list(IDENTITY.values()) + ["lvl1-Secret", "lvl2-Secret"]:
        for code in ("utf-8", "utf-16-le"):
            assert secret.encode(code) not in data, secret
    assert _snapshot(path, cache) is not None  # (a real snapshot, served below)
    # made with the level-2 password: serves neither a Reader without one ...
    with pytest.raises(PasswordError):
        neo_mef3.Reader(path, cache=cache)
    with pytest.raises(PasswordError):
        neo_mef3.Reader(path, password="wrong", cache=cache)
    # ... nor more than level 1 to a level-1 Reader
    with neo_mef3.Reader(path, password="lvl1-Secret", cache=cache) as r:
        info = r.info("LA1")
        assert not info["section3_available"] and info["subject_name_1"] is None
        assert info["channel_description"] == IDENTITY["channel_description"]
    # and the level-2 warm open gives all of it again
    with neo_mef3.Reader(path, password="lvl2-Secret", cache=cache) as r:
        assert [r.info(ch) for ch in r.channels] == infos


def test_auto_keeps_one_snapshot_per_session_in_the_user_cache_directory(tmp_path, user_cache_dir):
    a = _copy("plain", tmp_path, "a.mefd")
    b = _copy("plain_mef3io", tmp_path, "b.mefd")
    for path in (a, b, a):
        with neo_mef3.Reader(path, cache="auto") as r:
            r.info(r.channels[0])
    files = sorted(f for f in os.listdir(user_cache_dir) if f.endswith(".cache"))
    assert len(files) == 2
    assert os.stat(user_cache_dir / "key").st_mode & 0o077 == 0  # (the signing key is the user's alone)
    for path in (a, b):
        named = cache_mod.MetadataCache.for_reader("auto", LocalSource(path)).path
        assert os.path.dirname(named) == str(user_cache_dir) and os.path.basename(named) in files
        assert _snapshot(path, named) is not None


def test_the_spec_carries_the_cache(tmp_path):
    import pickle

    path = _copy("plain", tmp_path)
    cache = str(tmp_path / "s.cache")
    with neo_mef3.Reader(path, cache=cache) as r:
        spec = r.spec
    again = pickle.loads(pickle.dumps(spec))
    assert again == spec and again.cache == cache
    with again.open() as r:
        assert r.cache == cache and r.channels


def test_the_snapshot_is_written_atomically(tmp_path, monkeypatch):
    """Through a temporary file and a rename: an interrupted write leaves the old
    snapshot (or none), never half a file."""
    path = _copy("plain", tmp_path)
    cache = str(tmp_path / "s.cache")
    neo_mef3.Reader(path, cache=cache).close()
    assert sorted(os.listdir(tmp_path)) == ["s.cache", "s.mefd", "xdg"]
    with open(cache, "rb") as f:
        before = f.read()
    os.utime(os.path.join(path, "A.timd"), (PAST + 5, PAST + 5))  # (stale: a new one is written)

    def crash(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.warns(MefWarning, match="cannot be written"):
        neo_mef3.Reader(path, cache=cache).close()
    with open(cache, "rb") as f:
        assert f.read() == before


def test_other_writers_folder_spellings_and_video_channels_stay_in_the_snapshot(tmp_path):
    """Segment folders spelled unpadded (``A-0.segd``) are found by their own spelling on
    a warm open, and the session's video channels are still listed."""
    path = str(tmp_path / "u.mefd")
    t0, fs = 1_600_000_000_000_000, 100.0
    with neo_mef3.Writer(path) as w:
        w.write_int32("A", np.arange(1000, dtype=np.int32), 1.0, t0, fs)
        w.write_int32("A", np.arange(500, dtype=np.int32), 1.0, t0 + 20_000_000, fs, new_segment=True)
        w.write_int32("B", np.arange(300, dtype=np.int32), 1.0, t0, fs)
    respell(os.path.join(path, "A.timd"), "A", 0, "0")
    respell(os.path.join(path, "A.timd"), "A", 1, "01")
    os.mkdir(os.path.join(path, "cam.vidd"))
    _settle(path)
    cache = str(tmp_path / "u.cache")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MefWarning)  # (the empty video channel has no clips to show neo)
        cold = _everything(path)
        first = _everything(path, cache=cache)
        assert _snapshot(path, cache) is not None
        warm = _everything(path, cache=cache)
    assert [os.path.basename(s["path"]) for s in cold["A", "segments"]] == ["A-0.segd", "A-01.segd"]
    assert cold["A", "raw"][0][:1000] == list(range(1000))
    assert repr(first) == repr(cold) and repr(warm) == repr(cold)
    with neo_mef3.Reader(path, cache=cache) as r:
        assert r.video_channels == ["cam"]
        assert r.segment_files("A")[1].tdat.endswith(os.path.join("A-01.segd", "A-01.tdat"))
    respell(os.path.join(path, "B.timd"), "B", 0, "00")  # another spelling: the snapshot is stale
    assert _snapshot(path, cache) is None
    with neo_mef3.Reader(path, cache=cache) as r:
        assert os.path.basename(r.segments("B")[0]["path"]) == "B-00.segd"


def test_urls_and_packed_sessions_are_read_without_a_snapshot(tmp_path, user_cache_dir):
    """Listed sources give no change tokens (a store says what changed only in a fresh
    listing): cache= is ignored for them, nothing is written, the values are the same."""
    fsspec = pytest.importorskip("fsspec")
    from neo_mef3.tools.pack import pack_session

    path = _copy("plain", tmp_path)
    with neo_mef3.Reader(path) as r:
        want = {ch: r.read_raw(ch)["samples"].tolist() for ch in r.channels}
    packed = pack_session(path, str(tmp_path / "p.mefd.tar"))["destination"]
    cache = str(tmp_path / "s.cache")
    for where, options, kind in ((path, {"fs": fsspec.filesystem("file")}, "FsspecSource"),
                                 (packed, {}, "ArchiveSource")):
        for named in (cache, "auto"):
            with neo_mef3.Reader(where, cache=named, **options) as r:
                assert type(r.source).__name__ == kind
                assert cache_mod.MetadataCache.for_reader(named, r.source) is None
                assert {ch: r.read_raw(ch)["samples"].tolist() for ch in r.channels} == want
    assert not os.path.exists(cache)
    assert not os.path.exists(user_cache_dir) or not any(f.endswith(".cache") for f in os.listdir(user_cache_dir))
