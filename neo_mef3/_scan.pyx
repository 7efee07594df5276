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
from libc.stdint cimport int8_t, int32_t, int64_t, uint8_t, uint32_t
from libc.stdlib cimport malloc, calloc, realloc, free, qsort
from libc.string cimport memchr, memcpy, memset, strlen, memcmp
from cpython.bytes cimport PyBytes_FromStringAndSize, PyBytes_AS_STRING

from ._red cimport _crc_update

cimport numpy as cnp
import numpy as np

cnp.import_array()


cdef extern from *:
    """
    #include <errno.h>
    static void _clear_errno(void) { errno = 0; }
    #if defined(__linux__)
    #include <sys/syscall.h>
    #include <unistd.h>
    /* the directory listing without a DIR stream: fdopendir costs an fstat and two
       fcntl per directory, a third of the system calls of a one-segment channel */
    static long _getdents(int fd, char* buf, size_t n) { return syscall(SYS_getdents64, fd, buf, n); }
    #define _HAVE_GETDENTS 1
    #else
    static long _getdents(int fd, char* buf, size_t n) { (void)fd; (void)buf; (void)n; errno = ENOSYS; return -1; }
    #define _HAVE_GETDENTS 0
    #endif
    """
    void _clear_errno() nogil
    long _getdents(int fd, char* buf, size_t n) nogil
    int _HAVE_GETDENTS

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
    int dup(int fd)
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


cdef int _take(int chfd, const char* entry, unsigned char d_type, const char* name, size_t n, int64_t** buf,
               Py_ssize_t* cap, Py_ssize_t* k) noexcept nogil:
    """Append the key (``number << 8 | digits``, see :func:`_segment_number`) of a directory
    entry to ``buf`` if it is one of the channel's segment directories (links followed,
    as os.path.isdir); 0 or ENOMEM."""
    cdef stat st
    cdef int64_t* grown
    cdef int64_t v = _segment_number(entry, name, n)
    cdef bint is_dir
    if v < 0:
        return 0
    if d_type == DT_DIR:
        is_dir = True
    elif d_type == DT_UNKNOWN or d_type == DT_LNK:
        is_dir = fstatat(chfd, entry, &st, 0) == 0 and S_ISDIR(st.st_mode)
    else:
        is_dir = False
    if not is_dir:
        return 0
    if k[0] == cap[0]:
        cap[0] = 64 if cap[0] == 0 else 2 * cap[0]
        grown = <int64_t*>realloc(buf[0], cap[0] * sizeof(int64_t))
        if grown == NULL:
            return 12  # ENOMEM
        buf[0] = grown
    buf[0][k[0]] = v
    k[0] += 1
    return 0


cdef int _list(DIR* d, int chfd, const char* name, size_t n, int64_t** numbers, Py_ssize_t* count) noexcept nogil:
    """Sorted ``number << 8 | digits`` of the ``<name>-NNNNNN.segd`` directories of the open
    directory ``d`` (whose descriptor is ``chfd``); 0 or an errno (then nothing is allocated)."""
    cdef dirent* e
    cdef int64_t* buf = NULL
    cdef Py_ssize_t cap = 0, k = 0
    cdef int err
    while True:
        _clear_errno()
        e = readdir(d)
        if e == NULL:
            if errno != 0:  # (NULL with errno set: the listing failed, not ended)
                err = errno
                free(buf)
                return err
            break
        err = _take(chfd, e.d_name, e.d_type, name, n, &buf, &cap, &k)
        if err != 0:
            free(buf)
            return err
    if k:
        qsort(buf, k, sizeof(int64_t), _cmp_int64)
    numbers[0] = buf
    count[0] = k
    return 0


cdef enum:
    _DENTS_BYTES = 32768  # the listing buffer of list_channels
    # linux_dirent64: d_ino (8), d_off (8), d_reclen (2), d_type (1), d_name
    _DENT_RECLEN = 16
    _DENT_TYPE = 18
    _DENT_NAME = 19


cdef int _own_record_file(int chfd, const char* entry, unsigned char d_type, const char* name,
                          size_t n) noexcept nogil:
    """HAS_RDAT / HAS_RIDX when a directory entry is the channel's own ``<name>.rdat`` /
    ``<name>.ridx`` as ``os.access`` would find it (a link must lead somewhere), else 0."""
    cdef int flag = 0
    if strlen(entry) != n + 5 or memcmp(entry, name, n) != 0 or entry[n] != c'.':
        return 0
    if memcmp(entry + n + 1, b"rdat", 4) == 0:
        flag = _HAS_RDAT
    elif memcmp(entry + n + 1, b"ridx", 4) == 0:
        flag = _HAS_RIDX
    if flag and (d_type == DT_LNK or d_type == DT_UNKNOWN) and faccessat(chfd, entry, F_OK, 0) != 0:
        return 0
    return flag


cdef int _list_fd(int chfd, const char* name, size_t n, char* dents, int64_t** numbers,
                  Py_ssize_t* count, int* own) noexcept nogil:
    """:func:`_list` of the directory open as ``chfd`` (left open), with raw getdents64
    where there is one (``dents``: a buffer of _DENTS_BYTES); 0 or an errno. ``own``
    (if not NULL) gets HAS_RDAT | HAS_RIDX for the channel's record files seen in the
    listing, or -1 when the listing could not tell (the caller then looks)."""
    cdef int64_t* buf = NULL
    cdef Py_ssize_t cap = 0, k = 0
    cdef long got, pos
    cdef unsigned short reclen
    cdef int err, fd
    cdef DIR* d
    if not _HAVE_GETDENTS:
        fd = dup(chfd)
        if fd < 0:
            return errno
        d = fdopendir(fd)
        if d == NULL:
            err = errno
            close(fd)
            return err
        err = _list(d, chfd, name, n, numbers, count)
        closedir(d)
        if own != NULL:
            own[0] = -1
        return err
    if own != NULL:
        own[0] = 0
    while True:
        got = _getdents(chfd, dents, _DENTS_BYTES)
        if got < 0:
            if errno == EINTR:
                continue
            err = errno
            free(buf)
            return err
        if got == 0:
            break
        pos = 0
        while pos < got:
            memcpy(&reclen, dents + pos + _DENT_RECLEN, 2)
            err = _take(chfd, dents + pos + _DENT_NAME, <unsigned char>dents[pos + _DENT_TYPE], name, n, &buf,
                        &cap, &k)
            if err != 0:
                free(buf)
                return err
            if own != NULL:
                own[0] |= _own_record_file(chfd, dents + pos + _DENT_NAME, <unsigned char>dents[pos + _DENT_TYPE],
                                           name, n)
            pos += reclen
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


# --- many channels at once --------------------------------------------------------------
#
# A Reader opening a session calls these two instead of scan_channel per channel:
# list_channels lists many channel directories (relative to the session's descriptor,
# without a DIR stream), read_segments reads the .tmet of any set of segments into
# arrays the caller made. Both split their work over up to ``threads`` POSIX threads of
# their own: a handful of system calls per channel is too little work to hand to a
# Python thread pool (a hand-off costs as much as scanning a few channels).

cdef extern from *:
    """
    #include <pthread.h>
    #include <stdlib.h>

    /* Chunks [0, n) of a job shared by this thread and up to threads - 1 helper threads
       that claim chunks as they get a CPU. The caller never waits for a helper that has
       not started (on a busy machine a new thread can wait for a CPU for milliseconds):
       it works through the chunks itself and waits only for those a helper claimed.
       The state is on the heap, freed by whoever leaves it last. */
    typedef void (*_scan_chunk_fn)(void* ctx, long chunk);

    typedef struct {
        _scan_chunk_fn fn;
        void* ctx;
        long n;
        long next;           /* next chunk to claim */
        long done;           /* chunks finished */
        int refs;            /* this thread and the helpers still holding the state */
        pthread_mutex_t lock;
        pthread_cond_t finished;
    } _scan_shared;

    static void _scan_release(_scan_shared* s) {
        if (__atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL) == 0) {
            pthread_mutex_destroy(&s->lock);
            pthread_cond_destroy(&s->finished);
            free(s);
        }
    }

    static long _scan_work(_scan_shared* s) {
        long k, mine = 0;
        while ((k = __atomic_fetch_add(&s->next, 1, __ATOMIC_ACQ_REL)) < s->n) {
            s->fn(s->ctx, k);
            mine++;
            pthread_mutex_lock(&s->lock);
            if (++s->done == s->n)
                pthread_cond_signal(&s->finished);
            pthread_mutex_unlock(&s->lock);
        }
        return mine;
    }

    static void* _scan_helper(void* arg) {
        _scan_shared* s = (_scan_shared*)arg;
        _scan_work(s);
        _scan_release(s);
        return NULL;
    }

    /* fn(ctx, k) for every chunk k in [0, n), on this thread and up to threads - 1
       others; returns when all are done (0), or -1 when out of memory (nothing run). */
    static int _scan_run_chunks(_scan_chunk_fn fn, void* ctx, long n, int threads) {
        pthread_t t;
        pthread_attr_t attr;
        int i;
        _scan_shared* s;
        if (n <= 0)
            return 0;
        if (threads <= 1 || n == 1) {
            for (i = 0; i < n; i++)
                fn(ctx, i);
            return 0;
        }
        s = (_scan_shared*)calloc(1, sizeof(_scan_shared));
        if (s == NULL)
            return -1;
        s->fn = fn;
        s->ctx = ctx;
        s->n = n;
        s->refs = 1;
        pthread_mutex_init(&s->lock, NULL);
        pthread_cond_init(&s->finished, NULL);
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        for (i = 1; i < threads && i < n; i++) {
            __atomic_add_fetch(&s->refs, 1, __ATOMIC_ACQ_REL);
            if (pthread_create(&t, &attr, _scan_helper, s) != 0) {
                __atomic_sub_fetch(&s->refs, 1, __ATOMIC_ACQ_REL);
                break;
            }
        }
        pthread_attr_destroy(&attr);
        _scan_work(s);
        pthread_mutex_lock(&s->lock);
        while (s->done < s->n)
            pthread_cond_wait(&s->finished, &s->lock);
        pthread_mutex_unlock(&s->lock);
        _scan_release(s);
        return 0;
    }
    """
    ctypedef void (*_scan_chunk_fn)(void* ctx, long chunk) noexcept nogil
    int _scan_run_chunks(_scan_chunk_fn fn, void* ctx, long n, int threads) nogil

cdef enum:
    _MAX_THREADS = 64
    _ENOMEM = 12
    _LIST_CHUNK = 16   # channels a thread lists at a time
    _READ_CHUNK = 16   # segments a thread reads at a time


cdef int _c_names(list items, const char*** ptrs, size_t** lens, str what) except -1:
    """C pointers and lengths of a list of bytes, each one path component (checked)."""
    cdef Py_ssize_t i, n = len(items), k
    cdef const char* p
    ptrs[0] = <const char**>malloc((n + 1) * sizeof(char*))
    lens[0] = <size_t*>malloc((n + 1) * sizeof(size_t))
    if ptrs[0] == NULL or lens[0] == NULL:
        free(ptrs[0])
        free(lens[0])
        ptrs[0] = NULL
        lens[0] = NULL
        raise MemoryError()
    for i in range(n):
        item = items[i]
        if isinstance(item, bytes):
            p = PyBytes_AS_STRING(item)
            k = len(<bytes>item)
            if 0 < k <= _NAME_MAX and memchr(p, 0, k) == NULL and memchr(p, c'/', k) == NULL:
                ptrs[0][i] = p
                lens[0][i] = k
                continue
        free(ptrs[0])
        free(lens[0])
        ptrs[0] = NULL  # (nothing left for the caller to free)
        lens[0] = NULL
        raise ValueError(f"not a usable {what}: {item!r}")
    return 0


cdef int _channel_names(list dirnames, list names, const char*** dp, size_t** dl, const char*** np_,
                        size_t** nl) except -1:
    """:func:`_c_names` of the channels' directories and names (nothing left allocated
    when either is refused)."""
    _c_names(dirnames, dp, dl, "channel directory")
    try:
        _c_names(names, np_, nl, "channel name")
    except BaseException:
        free(dp[0])
        free(dl[0])
        dp[0] = NULL
        dl[0] = NULL
        raise
    return 0


cdef size_t _in_channel(char* dst, const char* dirname, size_t dn, const char* name, size_t n, int64_t key,
                        const char* ext) noexcept nogil:
    """``<dirname>/<name>-<number>.segd/<name>-<number>.<ext>`` at dst, the number spelled
    as ``key`` says (:func:`_file_name`; at least dn + 2 n + 38 bytes)."""
    memcpy(dst, dirname, dn)
    dst[dn] = c'/'
    return dn + 1 + _segment_file(dst + dn + 1, name, n, key, ext)


cdef size_t _channel_file(char* dst, const char* dirname, size_t dn, const char* name, size_t n,
                          const char* ext) noexcept nogil:
    """``<dirname>/<name>.<ext>`` (ext of 4 characters) at dst (at least dn + n + 7 bytes)."""
    memcpy(dst, dirname, dn)
    dst[dn] = c'/'
    memcpy(dst + dn + 1, name, n)
    dst[dn + 1 + n] = c'.'
    memcpy(dst + dn + 2 + n, ext, 4)
    dst[dn + 6 + n] = 0
    return dn + 6 + n


cdef int _in_session(const char* sdir, int* sfd, _scan_chunk_fn fn, void* ctx, long chunks, int threads,
                     const int* failed) noexcept nogil:
    """Open the session directory (its descriptor into ``*sfd``, which the chunks use),
    run ``fn`` over the chunks, close it: 0, the errno of the open, or ENOMEM (the run
    could not start, or a chunk set ``*failed``)."""
    cdef int err = 0
    sfd[0] = open(sdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if sfd[0] < 0:
        return errno
    if _scan_run_chunks(fn, ctx, chunks, threads) != 0:
        err = _ENOMEM
    close(sfd[0])
    if failed != NULL and failed[0]:
        err = _ENOMEM
    return err


cdef void _free_names(const char** dp, size_t* dl, const char** np_, size_t* nl) noexcept nogil:
    free(dp)
    free(dl)
    free(np_)
    free(nl)


cdef int _threads_for(Py_ssize_t chunks, Py_ssize_t threads) noexcept nogil:
    """How many threads share `chunks` (one for fewer than 4: a thread costs about what
    a chunk does)."""
    if chunks < 4 or threads <= 1:
        return 1
    if threads > chunks:
        threads = chunks
    return <int>(threads if threads < _MAX_THREADS else _MAX_THREADS)


ctypedef struct _ListCtx:
    int sfd
    const char** dp
    size_t* dl
    const char** np_
    size_t* nl
    Py_ssize_t n_ch
    bint probe
    int32_t* err_p
    int64_t* cnt_p
    uint8_t* flag_p
    int64_t** chunk_nums       # per chunk, its channels' segment keys one after the other
    Py_ssize_t* chunk_total
    int failed                 # ENOMEM somewhere: nothing usable


cdef void _list_chunk(void* arg, long chunk) noexcept nogil:
    cdef _ListCtx* ctx = <_ListCtx*>arg
    cdef Py_ssize_t i, k, cap = 0, total = 0
    cdef Py_ssize_t lo = chunk * _LIST_CHUNK
    cdef Py_ssize_t hi = lo + _LIST_CHUNK if lo + _LIST_CHUNK < ctx.n_ch else ctx.n_ch
    cdef int chfd, own
    cdef int64_t* nums = NULL
    cdef int64_t* out = NULL
    cdef int64_t* grown
    cdef char fname[2 * _NAME_MAX + 16]
    cdef char* dents = <char*>malloc(_DENTS_BYTES)
    if dents == NULL:
        ctx.failed = _ENOMEM
        return
    for i in range(lo, hi):
        chfd = openat(ctx.sfd, ctx.dp[i], O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if chfd < 0:
            ctx.err_p[i] = errno
            continue
        k = 0
        own = 0
        ctx.err_p[i] = _list_fd(chfd, ctx.np_[i], ctx.nl[i], dents, &nums, &k, &own if ctx.probe else NULL)
        close(chfd)
        if ctx.err_p[i] == 0:
            if k > 0:
                if total + k > cap:
                    cap = 2 * (total + k) if 2 * (total + k) > 64 else 64
                    grown = <int64_t*>realloc(out, cap * sizeof(int64_t))
                    if grown == NULL:
                        free(nums)
                        ctx.failed = _ENOMEM
                        break
                    out = grown
                memcpy(out + total, nums, k * sizeof(int64_t))
                total += k
                ctx.cnt_p[i] = k
            free(nums)
        nums = NULL
        if ctx.probe and ctx.err_p[i] == 0 and own >= 0:
            ctx.flag_p[i] = <uint8_t>own
        elif ctx.probe:
            _channel_file(fname, ctx.dp[i], ctx.dl[i], ctx.np_[i], ctx.nl[i], b"rdat")
            if faccessat(ctx.sfd, fname, F_OK, 0) == 0:
                ctx.flag_p[i] |= _HAS_RDAT
            _channel_file(fname, ctx.dp[i], ctx.dl[i], ctx.np_[i], ctx.nl[i], b"ridx")
            if faccessat(ctx.sfd, fname, F_OK, 0) == 0:
                ctx.flag_p[i] |= _HAS_RIDX
    free(dents)
    ctx.chunk_nums[chunk] = out
    ctx.chunk_total[chunk] = total


def list_channels(bytes session_dir, list dirnames, list names, bint probe=False, Py_ssize_t threads=1):
    """List the segments of many channels of one session, on up to `threads` threads.

    ``dirnames[i]``: the directory of channel ``names[i]`` inside ``session_dir`` (one
    path component). Returns ``(error, errors, counts, keys, channel_record_flags)``:
    ``error`` is 0 or the errno with which the session directory could not be opened
    (the rest None); per channel ``errors[i]`` (int32) 0 or the errno of its listing,
    ``counts[i]`` its segments; ``keys`` (int64) the segments' ``number << 8 | digits``
    (the number and how many digits its folder's name spells it with), channel after
    channel, each channel's sorted (the folders :func:`scan_channel` lists); with ``probe``,
    ``channel_record_flags[i]`` (uint8) HAS_RDAT | HAS_RIDX for the channel's own record
    files, else None.
    """
    cdef Py_ssize_t n_ch = len(names), total = 0, c
    cdef long chunks = (n_ch + _LIST_CHUNK - 1) // _LIST_CHUNK
    cdef const char* sdir = session_dir
    cdef int err = 0
    cdef _ListCtx ctx
    if len(dirnames) != n_ch:
        raise ValueError("one directory per channel name")
    if b"\0" in session_dir:
        raise ValueError("a directory path with NUL")
    errors = np.zeros(n_ch, np.int32)
    counts = np.zeros(n_ch, np.int64)
    flags = np.zeros(n_ch, np.uint8)
    memset(&ctx, 0, sizeof(ctx))
    ctx.n_ch = n_ch
    ctx.probe = probe
    ctx.err_p = <int32_t*>cnp.PyArray_DATA(errors)
    ctx.cnt_p = <int64_t*>cnp.PyArray_DATA(counts)
    ctx.flag_p = <uint8_t*>cnp.PyArray_DATA(flags)
    ctx.chunk_nums = <int64_t**>calloc(chunks + 1, sizeof(int64_t*))
    ctx.chunk_total = <Py_ssize_t*>calloc(chunks + 1, sizeof(Py_ssize_t))
    try:
        if ctx.chunk_nums == NULL or ctx.chunk_total == NULL:
            raise MemoryError()
        _channel_names(dirnames, names, &ctx.dp, &ctx.dl, &ctx.np_, &ctx.nl)
    except BaseException:
        free(ctx.chunk_nums)
        free(ctx.chunk_total)
        raise
    cdef int k = _threads_for(chunks, threads)
    with nogil:
        err = _in_session(sdir, &ctx.sfd, _list_chunk, &ctx, chunks, k, &ctx.failed)
    _free_names(ctx.dp, ctx.dl, ctx.np_, ctx.nl)
    for c in range(chunks):
        total += ctx.chunk_total[c]
    numbers = np.empty(total if err == 0 else 0, np.int64)
    total = 0
    for c in range(chunks):
        if err == 0 and ctx.chunk_total[c]:
            memcpy(<int64_t*>cnp.PyArray_DATA(numbers) + total, ctx.chunk_nums[c], ctx.chunk_total[c] * sizeof(int64_t))
            total += ctx.chunk_total[c]
        free(ctx.chunk_nums[c])
    free(ctx.chunk_nums)
    free(ctx.chunk_total)
    if err == _ENOMEM:
        raise MemoryError()
    if err != 0:
        return err, None, None, None, None
    return 0, errors, counts, numbers, flags if probe else None


cdef void* _rows(arr, Py_ssize_t rows, Py_ssize_t width, dtype, str what) except NULL:
    """The data of an output array the caller made: C-contiguous, of ``dtype``, ``rows``
    rows of ``width`` items (anything else raises: the scan writes into it blindly)."""
    cdef cnp.ndarray a
    if not isinstance(arr, cnp.ndarray):
        raise TypeError(f"{what} must be a numpy array")
    a = <cnp.ndarray>arr
    if (a.dtype != dtype or not a.flags.c_contiguous or not a.flags.writeable or a.shape[0] != rows
            or a.size != rows * width):
        raise ValueError(f"{what} must be a writeable C-contiguous {dtype} array of {rows} x {width}")
    return cnp.PyArray_DATA(a) if a.size else <void*>1


ctypedef struct _ReadCtx:
    int sfd
    const char** dp
    size_t* dl
    const char** np_
    size_t* nl
    const int64_t* ch_p
    const int64_t* num_p    # the segments' keys (number << 8 | digits)
    Py_ssize_t lo           # the rows [lo, hi) in chunks of _READ_CHUNK
    Py_ssize_t hi
    Py_ssize_t metadata_bytes
    Py_ssize_t crc_split
    Py_ssize_t keep
    const int64_t* off_p
    Py_ssize_t m
    Py_ssize_t fs_offset
    uint8_t* head_p
    int64_t* field_p
    int64_t* len_p
    uint8_t* plain_p
    char** img_p            # per row from lo: where its whole image goes, or NULL
    bint probe
    int64_t* idx_p
    uint8_t* rec_p
    int failed


cdef void _read_chunk(void* arg, long chunk) noexcept nogil:
    cdef _ReadCtx* ctx = <_ReadCtx*>arg
    cdef Py_ssize_t r, j, keep = ctx.keep, m = ctx.m, size = ctx.metadata_bytes
    cdef Py_ssize_t lo = ctx.lo + chunk * _READ_CHUNK
    cdef Py_ssize_t hi = lo + _READ_CHUNK if lo + _READ_CHUNK < ctx.hi else ctx.hi
    cdef int64_t got, c
    cdef uint32_t crc_h, crc_b
    cdef stat st
    cdef char fname[4 * _NAME_MAX + 64]
    cdef uint8_t* buf
    cdef uint8_t* scratch = <uint8_t*>malloc(size + 1)
    if scratch == NULL:
        ctx.failed = _ENOMEM
        return
    for r in range(lo, hi):
        c = ctx.ch_p[r]
        _in_channel(fname, ctx.dp[c], ctx.dl[c], ctx.np_[c], ctx.nl[c], ctx.num_p[r], b"tmet")
        # (an image kept whole is read where it is kept: no copy)
        buf = <uint8_t*>ctx.img_p[r - ctx.lo] if ctx.img_p[r - ctx.lo] != NULL else scratch
        got = _read_into(ctx.sfd, fname, <char*>buf, size)
        ctx.len_p[r] = got
        if got > size:
            got = size
        if keep > 0:
            memset(ctx.head_p + r * keep, 0, <size_t>keep)
            if got > 0:
                memcpy(ctx.head_p + r * keep, buf, <size_t>(keep if got > keep else got))
        for j in range(m):
            ctx.field_p[r * m + j] = 0
            if ctx.off_p[j] + 8 <= got:
                memcpy(ctx.field_p + r * m + j, buf + ctx.off_p[j], 8)
        ctx.plain_p[r] = 0
        if ctx.len_p[r] == size:
            crc_h = _crc_update(buf + 4, ctx.crc_split - 4, 0xFFFFFFFF)
            crc_b = _crc_update(buf + ctx.crc_split, size - ctx.crc_split, 0xFFFFFFFF)
            ctx.plain_p[r] = _plain_tmet(buf, ctx.len_p[r], size, crc_h, crc_b, ctx.fs_offset)
        if ctx.probe:
            _in_channel(fname, ctx.dp[c], ctx.dl[c], ctx.np_[c], ctx.nl[c], ctx.num_p[r], b"tidx")
            ctx.idx_p[r] = st.st_size if fstatat(ctx.sfd, fname, &st, 0) == 0 else -errno
            ctx.rec_p[r] = 0
            _in_channel(fname, ctx.dp[c], ctx.dl[c], ctx.np_[c], ctx.nl[c], ctx.num_p[r], b"rdat")
            if faccessat(ctx.sfd, fname, F_OK, 0) == 0:
                ctx.rec_p[r] |= _HAS_RDAT
            _in_channel(fname, ctx.dp[c], ctx.dl[c], ctx.np_[c], ctx.nl[c], ctx.num_p[r], b"ridx")
            if faccessat(ctx.sfd, fname, F_OK, 0) == 0:
                ctx.rec_p[r] |= _HAS_RIDX
    free(scratch)


def read_segments(bytes session_dir, list dirnames, list names, channel_of, keys, Py_ssize_t lo, Py_ssize_t hi,
                  Py_ssize_t metadata_bytes, Py_ssize_t crc_split, Py_ssize_t keep, field_offsets,
                  Py_ssize_t fs_offset, heads, fields, lengths, plain, whole, index_sizes=None, record_flags=None,
                  Py_ssize_t threads=1):
    """Read and judge the ``.tmet`` of segments ``[lo, hi)`` of a list of segments, on up
    to `threads` threads.

    Segment ``r`` is the folder ``keys[r]`` (``number << 8 | digits``, as
    :func:`list_channels` gives them) of channel ``names[channel_of[r]]`` (in the
    directory ``dirnames[channel_of[r]]`` of ``session_dir``). Its results go into row
    ``r`` of arrays the caller made: ``heads`` (uint8, ``keep`` bytes a row), ``fields``
    (int64, one per ``field_offsets``), ``lengths`` (int64), ``plain`` (uint8), exactly
    as :func:`scan_channel` computes them (with ``fs_offset`` >= 0); with
    ``index_sizes`` (int64) and ``record_flags`` (uint8), the probe of
    :func:`scan_channel`. ``whole`` (uint8): rows whose whole image is kept. Returns
    ``(error, images)``: ``error`` 0 or the errno with which the session directory could
    not be opened; ``images`` a dict row -> bytes of the rows of ``whole`` read whole.
    """
    cdef Py_ssize_t total = len(keys), n_ch = len(names), j, m, r
    cdef int64_t number, width
    cdef const char* sdir = session_dir
    cdef int err = 0
    cdef _ReadCtx ctx
    cdef bint probe = index_sizes is not None
    if b"\0" in session_dir:
        raise ValueError("a directory path with NUL")
    if len(dirnames) != n_ch:
        raise ValueError("one directory per channel name")
    if not 0 <= lo <= hi <= total:
        raise ValueError("rows outside the segments")
    if metadata_bytes <= 0 or not 0 <= keep <= metadata_bytes or not 4 <= crc_split <= metadata_bytes:
        raise ValueError("need 0 <= keep <= metadata_bytes and crc_split within the metadata")
    if fs_offset < 0:
        raise ValueError("fs_offset is needed to judge the images")
    offsets = np.ascontiguousarray(field_offsets, np.int64).reshape(-1)
    m = offsets.shape[0]
    cdef const int64_t* off_p = <const int64_t*>cnp.PyArray_DATA(offsets)
    for j in range(m):
        if not 0 <= off_p[j] <= metadata_bytes - 8:
            raise ValueError(f"field offset {off_p[j]} outside the metadata")
    memset(&ctx, 0, sizeof(ctx))
    ctx.ch_p = <const int64_t*>_rows(channel_of, total, 1, np.int64, "channel_of")
    ctx.num_p = <const int64_t*>_rows(keys, total, 1, np.int64, "keys")
    ctx.head_p = <uint8_t*>_rows(heads, total, keep, np.uint8, "heads")
    ctx.field_p = <int64_t*>_rows(fields, total, m, np.int64, "fields")
    ctx.len_p = <int64_t*>_rows(lengths, total, 1, np.int64, "lengths")
    ctx.plain_p = <uint8_t*>_rows(plain, total, 1, np.uint8, "plain")
    cdef const uint8_t* whole_p = <const uint8_t*>_rows(whole, total, 1, np.uint8, "whole")
    if probe:
        ctx.idx_p = <int64_t*>_rows(index_sizes, total, 1, np.int64, "index_sizes")
        ctx.rec_p = <uint8_t*>_rows(record_flags, total, 1, np.uint8, "record_flags")
    for r in range(lo, hi):
        if not 0 <= ctx.ch_p[r] < n_ch:
            raise ValueError("channel_of names a channel not in the list")
        number, width = ctx.num_p[r] >> 8, ctx.num_p[r] & 0xFF
        if not (1 <= width <= 10 and 0 <= number <= 2147483647 and number < 10 ** width):
            raise ValueError("a segment key that is no number of 1 to 10 digits fitting int32")
    ctx.lo = lo
    ctx.hi = hi
    ctx.metadata_bytes = metadata_bytes
    ctx.crc_split = crc_split
    ctx.keep = keep
    ctx.off_p = off_p
    ctx.m = m
    ctx.fs_offset = fs_offset
    ctx.probe = probe
    # the images kept whole, made now (with the GIL) and filled below
    images = {}
    ctx.img_p = <char**>malloc((hi - lo + 1) * sizeof(char*))
    if ctx.img_p == NULL:
        raise MemoryError()
    for r in range(lo, hi):
        ctx.img_p[r - lo] = NULL
        if whole_p[r]:
            image = PyBytes_FromStringAndSize(NULL, metadata_bytes)
            images[r] = image
            ctx.img_p[r - lo] = PyBytes_AS_STRING(image)
    try:
        _channel_names(dirnames, names, &ctx.dp, &ctx.dl, &ctx.np_, &ctx.nl)
    except BaseException:
        free(ctx.img_p)
        raise
    cdef long chunks = (hi - lo + _READ_CHUNK - 1) // _READ_CHUNK
    cdef int k = _threads_for(chunks, threads)
    with nogil:
        err = _in_session(sdir, &ctx.sfd, _read_chunk, &ctx, chunks, k, &ctx.failed)
    free(ctx.img_p)
    _free_names(ctx.dp, ctx.dl, ctx.np_, ctx.nl)
    if err == _ENOMEM:
        raise MemoryError()
    if err != 0:
        return err, {}
    for r in list(images):
        if ctx.len_p[r] != metadata_bytes:
            del images[r]
    return 0, images


# --- change tokens ----------------------------------------------------------------------
#
# A warm open from the metadata cache (neo_mef3.reader.cache) checks that no file or
# directory of the session changed since the cache was made: one stat per path, made here
# relative to the session's descriptor, on threads of their own.

cdef extern from *:
    """
    #include <sys/stat.h>
    #include <stdint.h>
    /* size, mtime (ns), ctime (ns), inode of a stat result */
    static void _stat_token(const struct stat* st, int64_t* out) {
        out[0] = (int64_t)st->st_size;
    #if defined(__APPLE__)
        out[1] = (int64_t)st->st_mtimespec.tv_sec * 1000000000LL + st->st_mtimespec.tv_nsec;
        out[2] = (int64_t)st->st_ctimespec.tv_sec * 1000000000LL + st->st_ctimespec.tv_nsec;
    #else
        out[1] = (int64_t)st->st_mtim.tv_sec * 1000000000LL + st->st_mtim.tv_nsec;
        out[2] = (int64_t)st->st_ctim.tv_sec * 1000000000LL + st->st_ctim.tv_nsec;
    #endif
        out[3] = (int64_t)st->st_ino;
    }
    """
    void _stat_token(const stat* st, int64_t* out) nogil

cdef enum:
    _STAT_CHUNK = 64   # paths a thread looks at at a time


ctypedef struct _StatCtx:
    int sfd
    const char** paths
    Py_ssize_t n
    int64_t* out


cdef void _stat_chunk(void* arg, long chunk) noexcept nogil:
    cdef _StatCtx* ctx = <_StatCtx*>arg
    cdef Py_ssize_t i, lo = chunk * _STAT_CHUNK
    cdef Py_ssize_t hi = lo + _STAT_CHUNK if lo + _STAT_CHUNK < ctx.n else ctx.n
    cdef stat st
    for i in range(lo, hi):
        if fstatat(ctx.sfd, ctx.paths[i], &st, 0) == 0:
            _stat_token(&st, ctx.out + 4 * i)
        else:
            ctx.out[4 * i] = -errno
            ctx.out[4 * i + 1] = 0
            ctx.out[4 * i + 2] = 0
            ctx.out[4 * i + 3] = 0


cdef bint _inside(const char* p, Py_ssize_t n) noexcept nogil:
    """Whether a relative path stays inside its directory: not empty, not absolute, no
    ".." component."""
    cdef Py_ssize_t i, start = 0
    if n == 0 or p[0] == c'/':
        return False
    for i in range(n + 1):
        if i == n or p[i] == c'/':
            if i - start == 2 and p[start] == c'.' and p[start + 1] == c'.':
                return False
            start = i + 1
    return True


def stat_paths(bytes session_dir, bytes paths, Py_ssize_t threads=1):
    """``(error, tokens)``: per path of ``paths`` (NUL-separated, each relative to
    ``session_dir``; "." for the directory itself) the row ``(size, mtime_ns, ctime_ns,
    inode)`` of an int64 ``(n, 4)`` array, links followed as ``os.stat`` does,
    ``(-errno, 0, 0, 0)`` for a path that cannot be looked at. ``error``: 0, or the
    errno with which the session directory could not be opened."""
    cdef const char* sdir = session_dir
    cdef int err = 0
    cdef _StatCtx ctx
    cdef Py_ssize_t n = 0, i
    cdef char* buf
    if b"\0" in session_dir:
        raise ValueError("a directory path with NUL")
    n = paths.count(b"\0") + 1 if paths else 0
    copy = paths + b"\0"  # (each path NUL-terminated in place)
    buf = PyBytes_AS_STRING(copy)
    tokens = np.zeros((n, 4), np.int64)
    ctx.n = n
    ctx.out = <int64_t*>cnp.PyArray_DATA(tokens)
    ctx.paths = <const char**>malloc((n + 1) * sizeof(char*))
    if ctx.paths == NULL:
        raise MemoryError()
    cdef Py_ssize_t at = 0, k = 0, size = len(copy) if n else 0
    for i in range(size):
        if buf[i] == 0:
            if not _inside(buf + at, i - at):
                free(ctx.paths)
                raise ValueError(f"not a path inside the session: {(<bytes>copy)[at:i]!r}")
            ctx.paths[k] = buf + at
            k += 1
            at = i + 1
    cdef long chunks = (n + _STAT_CHUNK - 1) // _STAT_CHUNK
    cdef int t = _threads_for(chunks, threads)
    with nogil:
        err = _in_session(sdir, &ctx.sfd, _stat_chunk, &ctx, chunks, t, NULL)
    free(ctx.paths)
    if err == _ENOMEM:
        raise MemoryError()
    return err, tokens
