/* The compiler- and CPU-specific part of the RED codec (neo_mef3/_red.pyx).

   Each primitive has a plain C99 path that any compiler builds; the faster paths are
   taken only where the compiler is known to provide them, and the CRC's CPU
   instructions only where the CPU is found (at run time) to have them.

   Define NEO_RED_PORTABLE when compiling to take the plain C paths everywhere, as a
   compiler this file does not know would: scripts/check_portable_build.py builds the
   codec that way and runs the codec tests on it.

   neo_red_div_by_magic(n, m)   floor(n * m / 2**64) for n < 2**32: the exact
       quotient floor(n / d) when m = floor((2**64 - 1) / d) + 1 (see neo_red_magic).
       unsigned __int128 (GCC, Clang), __umulh (MSVC on x64 and ARM64), or two
       32 x 32 -> 64-bit products (neo_red_div_by_magic_portable, always built).
   neo_red_crc_clmul            CRC-32 by carry-less multiplication (x86 PCLMULQDQ and
       SSE4.1; GCC, Clang, MSVC on x64), used only when neo_red_clmul_available()
       says the CPU has both; _red.pyx falls back to slicing-by-8 tables.
   neo_red_little_endian()      1 on a little-endian host (the codec reads the
       header's float and int64 fields in place, so it refuses other hosts).
*/
#ifndef NEO_RED_PLATFORM_H
#define NEO_RED_PLATFORM_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(_MSC_VER) && !defined(__clang__)
#define NEO_RED_INLINE static __inline
#else
#define NEO_RED_INLINE static inline
#endif

#ifdef NEO_RED_PORTABLE
#define NEO_RED_PORTABLE_BUILD 1
#else
#define NEO_RED_PORTABLE_BUILD 0
#endif

/* ---- 64 x 64 -> high 64 bits of the product, for exact division ------------------ */

#if !defined(NEO_RED_PORTABLE) && defined(__SIZEOF_INT128__)
#define NEO_RED_MULHI_NAME "int128"
#elif !defined(NEO_RED_PORTABLE) && defined(_MSC_VER) && (defined(_M_X64) || defined(_M_ARM64))
#include <intrin.h>
#define NEO_RED_MULHI_NAME "umulh"
#else
#define NEO_RED_MULHI_NAME "portable"
#endif

/* floor(n * m / 2**64) from 32-bit pieces: with m = hi * 2**32 + lo,
   n * m / 2**64 = (n * hi + n * lo / 2**32) / 2**32, and flooring the inner quotient
   first changes nothing (n * hi is a whole number). n * hi + (n * lo >> 32) stays below
   2**64 since n, hi, lo < 2**32. */
NEO_RED_INLINE uint32_t neo_red_div_by_magic_portable(uint32_t n, uint64_t m) {
    uint64_t hi = (uint64_t)n * (m >> 32);
    uint64_t lo = (uint64_t)n * (m & 0xFFFFFFFFu);
    return (uint32_t)((hi + (lo >> 32)) >> 32);
}

NEO_RED_INLINE uint32_t neo_red_div_by_magic(uint32_t n, uint64_t m) {
#if !defined(NEO_RED_PORTABLE) && defined(__SIZEOF_INT128__)
    return (uint32_t)(((unsigned __int128)n * m) >> 64);
#elif !defined(NEO_RED_PORTABLE) && defined(_MSC_VER) && (defined(_M_X64) || defined(_M_ARM64))
    return (uint32_t)__umulh((unsigned __int64)n, (unsigned __int64)m);
#else
    return neo_red_div_by_magic_portable(n, m);
#endif
}

/* The multiplier for an exact floor(n / d), n < 2**32, 2 <= d < 2**32: m * n / 2**64
   exceeds n / d by n * (m - 2**64 / d) / 2**64 < 2**-32 < 1 / d, too little to carry
   the quotient to the next whole number. d < 2 gives 0 (the caller then divides by 1
   without it). */
NEO_RED_INLINE uint64_t neo_red_magic(uint32_t d) {
    return d > 1 ? UINT64_C(0xFFFFFFFFFFFFFFFF) / d + 1 : 0;
}

/* ---- byte order ----------------------------------------------------------------- */

NEO_RED_INLINE int neo_red_little_endian(void) {
    const uint32_t one = 1;
    unsigned char first;
    memcpy(&first, &one, 1);
    return first == 1;
}

/* ---- CRC-32 by carry-less multiplication ----------------------------------------- */

#if defined(NEO_RED_PORTABLE)
    /* plain C only */
#elif (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
#define NEO_RED_CLMUL 1
#include <immintrin.h>
#include <cpuid.h>
#define NEO_RED_CLMUL_TARGET __attribute__((target("pclmul,sse4.1")))
static int neo_red_clmul_available(void) {
    unsigned int a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return 0;
    return ((c >> 1) & 1) && ((c >> 19) & 1);     /* ECX: PCLMULQDQ, SSE4.1 */
}
#elif defined(_MSC_VER) && defined(_M_X64) && !defined(_M_ARM64EC)
#define NEO_RED_CLMUL 1
#include <intrin.h>
#include <immintrin.h>
#define NEO_RED_CLMUL_TARGET
static int neo_red_clmul_available(void) {
    int r[4];
    __cpuid(r, 0);
    if (r[0] < 1)
        return 0;
    __cpuid(r, 1);
    return ((r[2] >> 1) & 1) && ((r[2] >> 19) & 1);
}
#endif

#ifdef NEO_RED_CLMUL
#define NEO_RED_CLMUL_NAME "pclmulqdq"
/* Folding 64 bytes at a time, then Barrett reduction (Gopal et al., "Fast CRC
   Computation for Generic Polynomials Using PCLMULQDQ Instruction", Intel 2009; the
   scheme of zlib/Chromium's crc32_simd with this polynomial's constants:
   k1 = x^544, k2 = x^480, k3 = x^160, k4 = x^96, k5 = x^64 (mod P), each bit-reflected
   and shifted left 1; poly = P and mu = floor(x^64 / P), reflected). Works on the raw
   CRC register (start 0xFFFFFFFF, no final XOR), as the table code. len must be a
   multiple of 16 and at least 64. */
NEO_RED_CLMUL_TARGET
static uint32_t neo_red_crc_clmul(const uint8_t* buf, size_t len, uint32_t crc) {
    const __m128i k1k2 = _mm_set_epi64x(0x0be6d8f38LL, 0x1c06a9816LL);
    const __m128i k3k4 = _mm_set_epi64x(0x14b0602f8LL, 0x07b4bc878LL);
    const __m128i k5k0 = _mm_set_epi64x(0, 0x018c5564cLL);
    const __m128i poly = _mm_set_epi64x(0x017d232cdLL, 0x1d663b05dLL);
    __m128i x0, x1, x2, x3, x4, x5, x6, x7, x8, y5, y6, y7, y8;
    x1 = _mm_loadu_si128((const __m128i*)(buf + 0x00));
    x2 = _mm_loadu_si128((const __m128i*)(buf + 0x10));
    x3 = _mm_loadu_si128((const __m128i*)(buf + 0x20));
    x4 = _mm_loadu_si128((const __m128i*)(buf + 0x30));
    x1 = _mm_xor_si128(x1, _mm_cvtsi32_si128((int)crc));
    x0 = k1k2;
    buf += 64;
    len -= 64;
    while (len >= 64) {
        x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
        x6 = _mm_clmulepi64_si128(x2, x0, 0x00);
        x7 = _mm_clmulepi64_si128(x3, x0, 0x00);
        x8 = _mm_clmulepi64_si128(x4, x0, 0x00);
        x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
        x2 = _mm_clmulepi64_si128(x2, x0, 0x11);
        x3 = _mm_clmulepi64_si128(x3, x0, 0x11);
        x4 = _mm_clmulepi64_si128(x4, x0, 0x11);
        y5 = _mm_loadu_si128((const __m128i*)(buf + 0x00));
        y6 = _mm_loadu_si128((const __m128i*)(buf + 0x10));
        y7 = _mm_loadu_si128((const __m128i*)(buf + 0x20));
        y8 = _mm_loadu_si128((const __m128i*)(buf + 0x30));
        x1 = _mm_xor_si128(_mm_xor_si128(x1, x5), y5);
        x2 = _mm_xor_si128(_mm_xor_si128(x2, x6), y6);
        x3 = _mm_xor_si128(_mm_xor_si128(x3, x7), y7);
        x4 = _mm_xor_si128(_mm_xor_si128(x4, x8), y8);
        buf += 64;
        len -= 64;
    }
    x0 = k3k4;
    x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
    x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
    x1 = _mm_xor_si128(_mm_xor_si128(x1, x2), x5);
    x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
    x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
    x1 = _mm_xor_si128(_mm_xor_si128(x1, x3), x5);
    x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
    x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
    x1 = _mm_xor_si128(_mm_xor_si128(x1, x4), x5);
    while (len >= 16) {
        x2 = _mm_loadu_si128((const __m128i*)buf);
        x5 = _mm_clmulepi64_si128(x1, x0, 0x00);
        x1 = _mm_clmulepi64_si128(x1, x0, 0x11);
        x1 = _mm_xor_si128(_mm_xor_si128(x1, x2), x5);
        buf += 16;
        len -= 16;
    }
    /* 128 -> 64 bits */
    x2 = _mm_clmulepi64_si128(x1, x0, 0x10);
    x3 = _mm_setr_epi32(~0, 0, ~0, 0);
    x1 = _mm_srli_si128(x1, 8);
    x1 = _mm_xor_si128(x1, x2);
    x0 = k5k0;
    x2 = _mm_srli_si128(x1, 4);
    x1 = _mm_and_si128(x1, x3);
    x1 = _mm_clmulepi64_si128(x1, x0, 0x00);
    x1 = _mm_xor_si128(x1, x2);
    /* Barrett reduction to 32 bits */
    x0 = poly;
    x2 = _mm_and_si128(x1, x3);
    x2 = _mm_clmulepi64_si128(x2, x0, 0x10);
    x2 = _mm_and_si128(x2, x3);
    x2 = _mm_clmulepi64_si128(x2, x0, 0x00);
    x1 = _mm_xor_si128(x1, x2);
    return (uint32_t)_mm_extract_epi32(x1, 1);
}
#else
#define NEO_RED_CLMUL_NAME "none"
static uint32_t neo_red_crc_clmul(const uint8_t* buf, size_t len, uint32_t crc) {
    (void)buf;
    (void)len;
    return crc;
}
static int neo_red_clmul_available(void) { return 0; }
#endif

#endif /* NEO_RED_PLATFORM_H */
