# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""One channel directory listed and its segments' small files read and checked, outside the GIL.

Opening a session costs a few system calls per segment (list the channel, read the
``.tmet``, size the ``.tidx``, look for ``.rdat``/``.ridx``); a session of 256 channels x
20 segments has 5120 of each. Made from Python, every call carries interpreter overhead
and holds the GIL. :func:`scan_channel` makes them all in C, relative to directory
descriptors (short path walks), with the GIL released so that several channels can be
scanned at once by threads.

Besides gathering bytes and sizes it judges each ``.tmet`` image while the bytes are in
cache: it computes the image's two CRC-32s (``_red``'s CRC) and checks that the image is
an intact, unencrypted MEF 3 ``.tmet`` (:func:`_plain_tmet`, the C twin of
``session._plain_tmet_py``). Everything else (what a missing or damaged file means) is
the Python layer's to judge (``neo_mef3.session``, ``neo_mef3.reader``), which reports
every problem by file.

POSIX only (openat/fstatat/faccessat/fdopendir): setup.py builds it on POSIX systems
only, and elsewhere ``neo_mef3.session`` scans in Python.
"""

from libc.errno cimport errno, EINTR
from libc.stdint cimport int8_t, int64_t, uint8_t, uint32_t
from libc.stdlib cimport malloc, realloc, free, qsort
from libc.string cimport memcpy, memset, strlen, memcmp
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING

from ._red cimport _crc_update

cimport numpy as cnp
import numpy as np

cnp.import_array()


cdef extern from *:
    """
    #include <errno.h>
    static void _clear_errno(void) { errno = 0; }
    """
    void _clear_errno() nogil

cdef extern from "<fcntl.h>" nogil:
    int openat(int dirfd, const char* path, int flags)
    int open(const char* path, int flags)
    enum:
        O_RDONLY
        O_DIRECTORY
        O_CLOEXEC

cdef extern from "<sys/uio.h>" nogil:
    struct iovec:
        void* iov_base
        size_t iov_len
    ssize_t readv(int fd, const iovec* io, int count)

cdef extern from "<unistd.h>" nogil:
    int close(int fd)
    int faccessat(int dirfd, const char* path, int mode, int flags)
    enum:
        F_OK

cdef extern from "<sys/stat.h>" nogil:
    ctypedef long off_t
    ctypedef unsigned int mode_t
    struct stat:
        off_t st_size
        mode_t st_mode
    int fstatat(int dirfd, const char* path, stat* st, int flags)
    bint S_ISDIR(mode_t m)

cdef extern from "<dirent.h>" nogil:
    ctypedef struct DIR:
        pass
    struct dirent:
        unsigned char d_type
        char d_name[256]
    DIR* fdopendir(int fd)
    dirent* readdir(DIR* d)
    int closedir(DIR* d)
    enum:
        DT_DIR
        DT_LNK
        DT_UNKNOWN

cdef enum:
    _HAS_RDAT = 1
    _HAS_RIDX = 2

# record-file flags in ``scan_channel``'s result
HAS_RDAT = _HAS_RDAT
HAS_RIDX = _HAS_RIDX

cdef enum:
    _NAME_MAX = 255            # a file name (one path component), in bytes

cdef enum:
    # what _plain_tmet reads of a .tmet image (the same as format/layout.py's
    # UNIVERSAL_HEADER and METADATA_SECTION_1, which tests/test_red_constants.py checks)
    _UH_HEADER_CRC = 0
    _UH_BODY_CRC = 4
    _UH_FILE_TYPE = 8          # 5 bytes: "tmet" and a NUL
    _UH_VERSION_MAJOR = 13
    _UH_BYTE_ORDER = 15
    _S1_SECTION_2_ENCRYPTION = 1024
    _S1_SECTION_3_ENCRYPTION = 1025
    _MEF_VERSION_MAJOR = 3
    _LITTLE_ENDIAN_CODE = 1

# the .tmet fields _plain_tmet reads: name (as in format/layout.py) -> offset in the file
TMET_FIELDS = {
    "header_crc": _UH_HEADER_CRC,
    "body_crc": _UH_BODY_CRC,
    "file_type": _UH_FILE_TYPE,
    "mef_version_major": _UH_VERSION_MAJOR,
    "byte_order_code": _UH_BYTE_ORDER,
    "section_2_encryption": _S1_SECTION_2_ENCRYPTION,
    "section_3_encryption": _S1_SECTION_3_ENCRYPTION,
}
TMET_FILE_TYPE = b"tmet"
MEF_VERSION_MAJOR = _MEF_VERSION_MAJOR
LITTLE_ENDIAN_CODE = _LITTLE_ENDIAN_CODE


cdef int _cmp_int64(const void* a, const void* b) noexcept nogil:
    cdef int64_t x = (<const int64_t*>a)[0]
    cdef int64_t y = (<const int64_t*>b)[0]
    return (x > y) - (x < y)


cdef int64_t _segment_number(const char* entry, const char* name, size_t n) noexcept nogil:
    """A directory entry named ``<name>-<digits>.segd`` (1 to 10 ASCII digits naming a
    number that fits MEF's int32 segment number; MEF writes six, other writers fewer) as
    ``number << 8 | digits``, or -1."""
    cdef size_t L = strlen(entry)
    cdef size_t i, w
    cdef int64_t v = 0
    if L < n + 7 or L > n + 16 or memcmp(entry, name, n) != 0 or entry[n] != c'-':
        return -1
    if memcmp(entry + L - 5, b".segd", 5) != 0:
        return -1
    w = L - n - 6
    for i in range(n + 1, n + 1 + w):
        if entry[i] < c'0' or entry[i] > c'9':
            return -1
        v = v * 10 + (entry[i] - c'0')
    if v > 2147483647:
        return -1
    return (v << 8) | <int64_t>w


cdef int _list(DIR* d, int chfd, const char* name, size_t n, int64_t** numbers, Py_ssize_t* count) noexcept nogil:
    """Sorted ``number << 8 | digits`` of the ``<name>-NNNNNN.segd`` directories of the open
    directory ``d`` (whose descriptor is ``chfd``); 0 or an errno (then nothing is allocated)."""
    cdef dirent* e
    cdef stat st
    cdef int64_t v
    cdef int64_t* buf = NULL
    cdef int64_t* grown
    cdef Py_ssize_t cap = 0, k = 0
    cdef int err
    cdef bint is_dir
    while True:
        _clear_errno()
        e = readdir(d)
        if e == NULL:
            if errno != 0:  # (NULL with errno set: the listing failed, not ended)
                err = errno
                free(buf)
                return err
            break
        v = _segment_number(e.d_name, name, n)
        if v < 0:
            continue
        if e.d_type == DT_DIR:
            is_dir = True
        elif e.d_type == DT_UNKNOWN or e.d_type == DT_LNK:  # follow links, as os.path.isdir
            is_dir = fstatat(chfd, e.d_name, &st, 0) == 0 and S_ISDIR(st.st_mode)
        else:
            is_dir = False
        if not is_dir:
            continue
        if k == cap:
            cap = 64 if cap == 0 else 2 * cap
            grown = <int64_t*>realloc(buf, cap * sizeof(int64_t))
            if grown == NULL:
                free(buf)
                return 12  # ENOMEM
            buf = grown
        buf[k] = v
        k += 1
    if k:
        qsort(buf, k, sizeof(int64_t), _cmp_int64)
    numbers[0] = buf
    count[0] = k
    return 0


cdef inline uint32_t _le32(const uint8_t* p) noexcept nogil:
    return p[0] | (<uint32_t>p[1] << 8) | (<uint32_t>p[2] << 16) | (<uint32_t>p[3] << 24)


cdef bint _plain_tmet(const uint8_t* p, int64_t got, int64_t size, uint32_t crc_h, uint32_t crc_b,
                      int64_t fs_offset) noexcept nogil:
    """Whether a .tmet image is one ``headers.parse_metadata`` takes as it is (nothing to
    decrypt): whole, type "tmet", version 3, little-endian, both stored CRCs right (or 0,
    "not set"), sections 2 and 3 not encrypted, a rate in (0, 1e9]. Mirrors
    ``session._plain_tmet_py``."""
    cdef double fs
    if got != size or size < _S1_SECTION_3_ENCRYPTION + 1 or fs_offset < 0 or fs_offset + 8 > size:
        return False
    if (memcmp(p + _UH_FILE_TYPE, b"tmet\0", 5) != 0 or p[_UH_VERSION_MAJOR] != _MEF_VERSION_MAJOR
            or p[_UH_BYTE_ORDER] != _LITTLE_ENDIAN_CODE):
        return False
    if <int8_t>p[_S1_SECTION_2_ENCRYPTION] > 0 or <int8_t>p[_S1_SECTION_3_ENCRYPTION] > 0:
        return False
    if _le32(p + _UH_HEADER_CRC) != 0 and _le32(p + _UH_HEADER_CRC) != crc_h:
        return False
    if _le32(p + _UH_BODY_CRC) != 0 and _le32(p + _UH_BODY_CRC) != crc_b:
        return False
    memcpy(&fs, p + fs_offset, 8)
    return fs > 0 and fs <= 1e9  # (False for NaN)


cdef int64_t _read_into(int dirfd, const char* path, char* out, int64_t size) noexcept nogil:
    """Read up to ``size`` bytes of a file with one readv: the count, ``size + 1`` if the
    file is longer, or -errno."""
    cdef int fd = openat(dirfd, path, O_RDONLY | O_CLOEXEC)
    cdef ssize_t r
    cdef char extra
    cdef iovec io[2]
    if fd < 0:
        r = -errno
        memset(out, 0, <size_t>size)
        return r
    io[0].iov_base = out
    io[0].iov_len = <size_t>size
    io[1].iov_base = &extra
    io[1].iov_len = 1
    while True:
        r = readv(fd, io, 2)
        if r < 0 and errno == EINTR:
            continue
        break
    if r < 0:
        r = -errno
    if r < size:  # no stale bytes past what the file held
        memset(out + (r if r > 0 else 0), 0, <size_t>(size - (r if r > 0 else 0)))
    close(fd)
    return r  # (a regular file reads short only at its end, as Reader._read_file assumes)


cdef size_t _file_name(char* dst, const char* name, size_t n, int64_t key, const char* ext) noexcept nogil:
    """Write ``<name>-<number>.<ext>`` (ext of 4 characters, NUL-terminated; the number in
    the digits of ``key = number << 8 | digits``) at dst (at least n + 17 bytes); its length."""
    cdef int i
    cdef int w = <int>(key & 0xFF)
    cdef int64_t number = key >> 8
    memcpy(dst, name, n)
    dst[n] = c'-'
    for i in range(w):
        dst[n + w - i] = <char>(c'0' + number % 10)
        number //= 10
    dst[n + w + 1] = c'.'
    memcpy(dst + n + w + 2, ext, 4)
    dst[n + w + 6] = 0
    return n + w + 6


cdef size_t _segment_file(char* dst, const char* name, size_t n, int64_t key, const char* ext) noexcept nogil:
    """``<name>-<number>.segd/<name>-<number>.<ext>`` at dst (at least 2 n + 36 bytes)."""
    cdef size_t k = _file_name(dst, name, n, key, b"segd")
    dst[k] = c'/'
    return k + 1 + _file_name(dst + k + 1, name, n, key, ext)


def scan_channel(bytes channel_dir, bytes channel, Py_ssize_t metadata_bytes, bint read_files=True,
                 Py_ssize_t crc_split=1024, Py_ssize_t keep=0, field_offsets=(), bint probe=True,
                 Py_ssize_t fs_offset=-1):
    """List a channel directory's segments and (``read_files``) look at their small files.

    Returns ``(error, numbers, heads, fields, first, lengths, plain, index_sizes,
    record_flags, channel_record_flags, widths)``. ``error`` is 0, or the errno with which
    the channel directory could not be opened or listed (then the rest is None).
    ``numbers``: int64, sorted, of the directories named ``<channel>-NNNNNN.segd``
    (NNNNNN six ASCII digits as MEF writes them, or 1 to 10 as other writers do; links to
    directories count); ``widths`` (uint8): the digits of each. Without ``read_files``
    the other results are None. With it, per segment in the order of ``numbers``, from its
    ``.tmet`` read (up to ``metadata_bytes``) into one reused buffer:

    * ``lengths[i]``: the bytes read, ``metadata_bytes + 1`` for a longer file, or -errno;
    * ``heads[i]``: its first ``keep`` bytes (zeros past what was read);
    * ``fields[i, j]``: the 8 bytes at ``field_offsets[j]`` as an int64 (0 if not read);
    * ``plain[i]`` (with ``fs_offset`` >= 0, the offset of the sampling frequency, else
      None): 1 if the image is an intact, unencrypted MEF 3 ``.tmet`` (its two CRCs,
      over ``[4, crc_split)`` and ``[crc_split, metadata_bytes)``, computed while the
      bytes are in cache), as :func:`_plain_tmet` checks;
    * with ``probe``, ``index_sizes[i]``: the size of its ``.tidx``, or -errno; and
      ``record_flags[i]``: HAS_RDAT | HAS_RIDX for its record files present (three
      system calls per segment; without ``probe`` both are None).

    ``first``: the first segment's whole ``.tmet`` image (bytes) when it was read whole,
    else None. ``channel_record_flags`` (with ``probe``, else None): HAS_RDAT | HAS_RIDX
    for the channel's own ``<channel>.rdat/.ridx``. Only ``keep`` bytes per segment are
    kept: a session of thousands of segments is opened without holding (or
    page-faulting) all its images.
    """
    cdef size_t n = len(channel)
    cdef const char* name = channel
    cdef const char* cdir = channel_dir
    cdef int chfd = -1, err = 0
    cdef DIR* d = NULL
    cdef int64_t* nums = NULL
    cdef uint8_t* scratch = NULL
    cdef char* first_p = NULL
    cdef Py_ssize_t k = 0, i, j, m
    cdef int64_t got
    cdef uint32_t crc_h, crc_b
    cdef char fname[2 * _NAME_MAX + 40]
    cdef stat st
    cdef int chflags = 0
    cdef bint check = fs_offset >= 0
    offsets = np.ascontiguousarray(field_offsets, np.int64).reshape(-1)
    m = offsets.shape[0]
    cdef const int64_t* off_p = <const int64_t*>cnp.PyArray_DATA(offsets)
    if n == 0 or n > _NAME_MAX or b"\0" in channel or b"/" in channel:
        raise ValueError(f"not a usable channel name: {channel!r}")
    if b"\0" in channel_dir:
        raise ValueError("a directory path with NUL")
    if metadata_bytes < 0 or not 0 <= keep <= metadata_bytes:
        raise ValueError("need 0 <= keep <= metadata_bytes")
    if metadata_bytes > 0 and not 4 <= crc_split <= metadata_bytes:
        raise ValueError("crc_split must be within the metadata")
    for j in range(m):
        if not 0 <= off_p[j] <= metadata_bytes - 8:
            raise ValueError(f"field offset {off_p[j]} outside the metadata")
    with nogil:
        chfd = open(cdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if chfd < 0:
            err = errno
        else:
            d = fdopendir(chfd)  # (owns chfd from here on: closedir closes it)
            if d == NULL:
                err = errno
                close(chfd)
            else:
                err = _list(d, chfd, name, n, &nums, &k)
                if err != 0:
                    closedir(d)
    if err != 0:
        return err, None, None, None, None, None, None, None, None, None, None
    try:
        keys = np.empty(k, np.int64)
        if k:
            memcpy(cnp.PyArray_DATA(keys), nums, k * sizeof(int64_t))
        numbers = keys >> 8
        widths = (keys & 0xFF).astype(np.uint8)
        if read_files:
            heads = np.zeros((k, keep), np.uint8)
            fields = np.zeros((k, m), np.int64)
            lengths = np.empty(k, np.int64)
            plain = np.zeros(k, np.uint8) if check else None
            index_sizes = np.empty(k, np.int64) if probe else None
            record_flags = np.zeros(k, np.uint8) if probe else None
            # (filled below before anything else can see it; dropped if not read whole)
            first = PyBytes_FromStringAndSize(NULL, metadata_bytes) if k else None
            scratch = <uint8_t*>malloc(metadata_bytes + 1)
            if scratch == NULL:
                raise MemoryError()
    except BaseException:
        closedir(d)
        raise
    finally:
        free(nums)
    if not read_files:
        closedir(d)
        return 0, numbers, None, None, None, None, None, None, None, None, widths
    if first is not None:
        first_p = PyBytes_AS_STRING(first)
    cdef int64_t* num_p = <int64_t*>cnp.PyArray_DATA(keys)
    cdef uint8_t* head_p = <uint8_t*>cnp.PyArray_DATA(heads)
    cdef int64_t* field_p = <int64_t*>cnp.PyArray_DATA(fields)
    cdef int64_t* len_p = <int64_t*>cnp.PyArray_DATA(lengths)
    cdef uint8_t* plain_p = <uint8_t*>cnp.PyArray_DATA(plain) if check else NULL
    cdef int64_t* idx_p = <int64_t*>cnp.PyArray_DATA(index_sizes) if probe else NULL
    cdef uint8_t* rec_p = <uint8_t*>cnp.PyArray_DATA(record_flags) if probe else NULL
    with nogil:
        for i in range(k):
            _segment_file(fname, name, n, num_p[i], b"tmet")
            got = _read_into(chfd, fname, <char*>scratch, metadata_bytes)
            len_p[i] = got
            if got > metadata_bytes:
                got = metadata_bytes
            if keep > 0 and got > 0:
                memcpy(head_p + i * keep, scratch, <size_t>(keep if got > keep else got))
            for j in range(m):
                if off_p[j] + 8 <= got:
                    memcpy(field_p + i * m + j, scratch + off_p[j], 8)
            if len_p[i] == metadata_bytes and metadata_bytes > 0:
                if check:
                    crc_h = _crc_update(scratch + 4, crc_split - 4, 0xFFFFFFFF)
                    crc_b = _crc_update(scratch + crc_split, metadata_bytes - crc_split, 0xFFFFFFFF)
                    plain_p[i] = _plain_tmet(scratch, len_p[i], metadata_bytes, crc_h, crc_b, fs_offset)
                if i == 0:
                    memcpy(first_p, scratch, <size_t>metadata_bytes)
            if not probe:
                continue
            _segment_file(fname, name, n, num_p[i], b"tidx")
            idx_p[i] = st.st_size if fstatat(chfd, fname, &st, 0) == 0 else -errno
            _segment_file(fname, name, n, num_p[i], b"rdat")
            if faccessat(chfd, fname, F_OK, 0) == 0:
                rec_p[i] |= _HAS_RDAT
            _segment_file(fname, name, n, num_p[i], b"ridx")
            if faccessat(chfd, fname, F_OK, 0) == 0:
                rec_p[i] |= _HAS_RIDX
        if probe:
            memcpy(fname, name, n)
            memcpy(fname + n, b".rdat", 6)
            if faccessat(chfd, fname, F_OK, 0) == 0:
                chflags |= _HAS_RDAT
            memcpy(fname + n, b".ridx", 6)
            if faccessat(chfd, fname, F_OK, 0) == 0:
                chflags |= _HAS_RIDX
        closedir(d)
    free(scratch)
    if k and lengths[0] != metadata_bytes:
        first = None
    return (0, numbers, heads, fields, first, lengths, plain, index_sizes, record_flags,
            chflags if probe else None, widths)
