# The part of the RED/CRC module that other Cython modules use (neo_mef3._scan).
from libc.stdint cimport uint8_t, uint32_t, int64_t

cdef uint32_t _crc_update(const uint8_t* p, int64_t n, uint32_t crc) noexcept nogil
