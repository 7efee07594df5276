"""Packed sessions (``neo-mef3 pack`` / ``unpack``) and reading them in place, locally.

A packed session reads exactly as its directory (tar and zip, with our index or
made by other tools); packing is deterministic and uncompressed; unpacking gives the
directory back byte for byte and refuses archives that would write outside it.
"""
import io
import os
import shutil
import tarfile
import zipfile
from contextlib import redirect_stdout

import pytest

import neo_mef3
from neo_mef3 import cli
from neo_mef3.errors import FormatError, OutputExistsError
from neo_mef3.source.archive import PACK_INDEX
from neo_mef3.tools.pack import pack_session, unpack_session
from support.paths import DATA_DIR
from support.reader_report import reader_report

SESSIONS = [("plain", ""), ("encrypted", "pass2"), ("plain_mef3io", ""), ("encrypted_mef3io", "pass1")]


def _copy(name, tmp_path):
    dst = str(tmp_path / f"{name}.mefd")
    shutil.copytree(os.path.join(DATA_DIR, f"{name}.mefd"), dst)
    return dst


def _files(root):
    out = {}
    for d, _, names in os.walk(root):
        for n in names:
            p = os.path.join(d, n)
            with open(p, "rb") as f:
                out[os.path.relpath(p, root)] = f.read()
    return out


@pytest.mark.parametrize("name,password", SESSIONS)
@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_a_packed_session_reads_as_its_directory(tmp_path, name, password, kind):
    src = _copy(name, tmp_path)
    archive = pack_session(src, f"{src}.{kind}")["destination"]
    with neo_mef3.Reader(src, password=password) as r:
        want = reader_report(r, "<S>")
    with neo_mef3.Reader(archive, password=password) as r:
        assert type(r.source).__name__ == "ArchiveSource" and r.path == archive
        assert reader_report(r, "<S>") == want
        assert r.spec.open().channels == r.channels  # (reopens from its description)


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_archives_made_by_other_tools_read_too(tmp_path, kind):
    """A tar without our index (walked), members with './', a zip without the session
    directory (named after the archive)."""
    src = _copy("plain", tmp_path)
    with neo_mef3.Reader(src) as r:
        want = reader_report(r, "<S>")
    path = str(tmp_path / f"other.mefd.{kind}")
    if kind == "tar":
        with tarfile.open(path, "w", format=tarfile.GNU_FORMAT) as tf:
            tf.add(src, arcname="./plain.mefd")
        top = "plain.mefd"
    else:
        with zipfile.ZipFile(path, "w") as zf:
            for rel in sorted(_files(src)):
                zf.write(os.path.join(src, rel), rel)
        top = "other.mefd"
    with neo_mef3.Reader(path) as r:
        assert r.source.list_session().path == f"{path}/{top}"
        assert reader_report(r, "<S>") == want


def test_packing_is_deterministic_ordered_and_uncompressed(tmp_path):
    src = _copy("plain", tmp_path)
    a = pack_session(src, str(tmp_path / "a.mefd.tar"))["destination"]
    os.utime(os.path.join(src, "A.timd"), (1, 1))  # (times on disk do not enter the archive)
    b = pack_session(src, str(tmp_path / "b.mefd.tar"))["destination"]
    with open(a, "rb") as f, open(b, "rb") as g:
        assert f.read() == g.read()
    with tarfile.open(a) as tf:
        names = tf.getnames()
        members = tf.getmembers()
    assert names[:2] == ["plain.mefd", f"plain.mefd/{PACK_INDEX}"]
    files = [m.name for m in members if m.isreg() and not m.name.endswith(PACK_INDEX)]
    data = [n for n in files if n.endswith(".tdat")]
    assert files == sorted(set(files) - set(data)) + sorted(data)  # (small files first, then the data)
    assert all(m.mtime == 0 and m.uid == 0 for m in members)
    z = pack_session(src, str(tmp_path / "c.mefd.zip"))["destination"]
    with zipfile.ZipFile(z) as zf:
        assert {i.compress_type for i in zf.infolist()} == {zipfile.ZIP_STORED}
    with pytest.raises(OutputExistsError):
        pack_session(src, a)
    pack_session(src, a, overwrite=True)
    assert not [n for n in os.listdir(tmp_path) if "partial" in n]


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_unpack_restores_the_directory(tmp_path, kind):
    src = _copy("encrypted_mef3io", tmp_path)
    archive = pack_session(src, f"{src}.{kind}")["destination"]
    out = tmp_path / "out"
    out.mkdir()
    result = unpack_session(archive, str(out))
    assert result["destination"] == str(out / "encrypted_mef3io.mefd")
    assert _files(result["destination"]) == _files(src)
    with pytest.raises(OutputExistsError):
        unpack_session(archive, str(out))
    unpack_session(archive, str(out), overwrite=True)


def _evil_tar(path, member):
    with tarfile.open(path, "w") as tf:
        d = tarfile.TarInfo("x.mefd")
        d.type = tarfile.DIRTYPE
        tf.addfile(d)
        tf.addfile(member, io.BytesIO(b"x" * member.size) if member.isreg() else None)


@pytest.mark.parametrize("case", ["dotdot", "absolute", "symlink", "hardlink", "device"])
def test_unpack_refuses_escapes_and_links(tmp_path, case):
    name = {"dotdot": "x.mefd/../escaped", "absolute": "/tmp/escaped"}.get(case, "x.mefd/link")
    m = tarfile.TarInfo(name)
    if case == "symlink":
        m.type, m.linkname = tarfile.SYMTYPE, "/etc/passwd"
    elif case == "hardlink":
        m.type, m.linkname = tarfile.LNKTYPE, "x.mefd"
    elif case == "device":
        m.type = tarfile.CHRTYPE
    else:
        m.size = 1
    archive = str(tmp_path / "x.mefd.tar")
    _evil_tar(archive, m)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(FormatError, match="refusing"):
        unpack_session(archive, str(out))
    assert os.listdir(out) == [] and not os.path.exists(tmp_path / "escaped")


def test_unpack_refuses_a_zip_symlink_and_traversal(tmp_path):
    archive = str(tmp_path / "x.mefd.zip")
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo("x.mefd/link")
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(FormatError, match="link"):
        unpack_session(archive, str(tmp_path))
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("x.mefd/../../escaped", b"x")
    with pytest.raises(FormatError, match="leaves"):
        unpack_session(archive, str(tmp_path))
    assert sorted(os.listdir(tmp_path)) == ["x.mefd.zip"]


def test_compressed_archives_and_a_stale_index_are_clear_errors(tmp_path):
    src = _copy("plain", tmp_path)
    z = str(tmp_path / "deflated.mefd.zip")
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel in sorted(_files(src)):
            zf.write(os.path.join(src, rel), f"plain.mefd/{rel}")
    with pytest.raises(FormatError, match="compressed"):
        neo_mef3.Reader(z)
    t = pack_session(src, str(tmp_path / "stale.mefd.tar"))["destination"]
    with open(t, "r+b") as f:  # (shift everything after the index by rewriting a member's header)
        data = bytearray(f.read())
        k = data.index(b"plain.mefd/A.timd/A-000000.segd/A-000000.tmet")
        data[k + 124: k + 136] = b"00000000001\0"  # (its size field: no longer what the index says)
        f.seek(0)
        f.write(data)
    with pytest.raises(FormatError, match="pack index|tar header") as err:
        neo_mef3.Reader(t).read("A")
    assert t in str(err.value)


def test_the_pack_and_unpack_commands(tmp_path):
    src = _copy("plain", tmp_path)
    for command in ("pack", "unpack"):
        buf = io.StringIO()
        with redirect_stdout(buf), pytest.raises(SystemExit):
            cli.main([command, "--help"])
        assert "examples:" in buf.getvalue() and f"neo-mef3 {command} subject.mefd" in buf.getvalue()
    buf = io.StringIO()
    with redirect_stdout(buf):
        assert cli.main(["pack", src, "-q"]) == 0
        assert cli.main(["pack", src, "-q"]) == 2  # (exists)
        assert cli.main(["pack", src, "--overwrite", "-q"]) == 0
        shutil.rmtree(src)
        assert cli.main(["unpack", src + ".tar", "-q"]) == 0
    assert _files(src) == _files(os.path.join(DATA_DIR, "plain.mefd"))
