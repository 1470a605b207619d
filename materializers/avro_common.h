/* What the materializers' C modules (_speedups.c, _fused.c) share: the kinds of Avro
 * values their readers know (as native.Kind), calendar arithmetic for dates and timestamps, and
 * ISO text as isoformat() writes it, and the position sort key of a PostgreSQL LSN header. Header-only (static inline). */
#ifndef STRANGLER_MATERIALIZERS_AVRO_COMMON_H
#define STRANGLER_MATERIALIZERS_AVRO_COMMON_H

#include <Python.h>
#include <stdint.h>

enum Kind { /* as native.Kind */
            K_NULL = 0,
            K_BOOLEAN = 1,
            K_LONG = 2,
            K_FLOAT = 3,
            K_DOUBLE = 4,
            K_STRING = 5,
            K_BYTES = 6,
            K_ENUM = 7,
            K_FIXED = 8,
            K_TS_MICROS = 9,
            K_TS_MILLIS = 10,
            K_LOCAL_TS_MICROS = 11,
            K_LOCAL_TS_MILLIS = 12,
            K_DATE = 13,
            K_LAST = 13 };

#define FIRST_DAY (-719162) /* 0001-01-01 */
#define LAST_DAY 2932896    /* 9999-12-31 */
#define US_PER_DAY 86400000000LL

/* Days since 1970-01-01 -> proleptic Gregorian year, month, day (H. Hinnant's algorithm). */
static inline void civil_from_days(int64_t z, int *y, int *m, int *d) {
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

/* `value` as `width` decimal digits, zero-padded, at `at`; just after them. */
static inline char *digits(char *at, int value, int width) {
    for (int i = width - 1; i >= 0; i--) {
        at[i] = (char)('0' + value % 10);
        value /= 10;
    }
    return at + width;
}

/* "YYYY-MM-DD" (as isoformat() writes a date) at `at`; just after it. */
static inline char *ymd_text(char *at, int y, int m, int d) {
    at = digits(at, y, 4);
    *at++ = '-';
    at = digits(at, m, 2);
    *at++ = '-';
    return digits(at, d, 2);
}

/* "HH:MM:SS[.ffffff]" (as isoformat() writes a time: microseconds only when not zero) at `at`;
 * just after it. */
static inline char *clock_text(char *at, int h, int m, int s, int us) {
    at = digits(at, h, 2);
    *at++ = ':';
    at = digits(at, m, 2);
    *at++ = ':';
    at = digits(at, s, 2);
    if (us) {
        *at++ = '.';
        at = digits(at, us, 6);
    }
    return at;
}

static inline int hex_digit(unsigned char ch) {
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* "16/B374D848" -> 0x16B374D848 as 8 bytes big-endian, as decoding._lsn gives it; 0 if the
 * text is not that form (no exception). */
static inline int parse_lsn(const unsigned char *s, Py_ssize_t n, unsigned char out[8]) {
    Py_ssize_t slash = -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (s[i] == '/') {
            slash = i;
            break;
        }
    }
    if (slash < 1 || slash > 8 || n - slash - 1 < 1 || n - slash - 1 > 8) return 0;
    uint64_t high = 0, low = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i == slash) continue;
        int digit = hex_digit(s[i]);
        if (digit < 0) return 0;
        if (i < slash)
            high = high << 4 | (uint64_t)digit;
        else
            low = low << 4 | (uint64_t)digit;
    }
    uint64_t v = high << 32 | low; /* as the Python path: (high << 32) | low, both < 2**32 */
    for (int i = 7; i >= 0; i--) {
        out[i] = (unsigned char)(v & 0xFF);
        v >>= 8;
    }
    return 1;
}

#endif
