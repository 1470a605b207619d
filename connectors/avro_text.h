/* Text field parsers and encoders shared by the connectors' native modules (PostgreSQL's
 * _speedups.c, MySQL's _snapshot.c and _speedups.c): every function is static inline, so each
 * module has its own copy and may use a few of them without unused-function warnings.
 *
 * Each works on a (pointer, length) slice of a value's text as the server writes it, and either
 * gives the exact value the Python path would, or DECLINE (the row then goes through the Python
 * path, which writes it or raises its clear error):
 *
 * - digits, parse_int64: plain decimal digits (an optional '-' for parse_int64);
 * - days_from_civil, days_in_month, parse_date_text ("YYYY-MM-DD", years 1-9999);
 * - parse_clock ("HH:MM:SS[.f{1,6}]", the caller checks the ranges);
 * - parse_timestamp_text ("YYYY-MM-DD HH:MM:SS[.f][+-HH[:MM[:SS]]]" as UTC microseconds);
 * - valid_utf8 (strict, as Python's decoder);
 * - enc_float, enc_decimal, enc_uuid: a value's text straight to its Avro binary;
 * - RecordPlan, record_bytes: the key and value records of a row's encoded columns.
 */
#ifndef STRANGLER_AVRO_TEXT_H
#define STRANGLER_AVRO_TEXT_H

#include "avro_out.h"

static inline int digits(const unsigned char *s, size_t n, int *value) {
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return DECLINE;
        v = v * 10 + (s[i] - '0');
    }
    *value = v;
    return 0;
}

static inline int parse_int64(const unsigned char *s, size_t n, int64_t *out) {
    size_t i = 0;
    int neg = 0;
    if (n > 0 && s[0] == '-') {
        neg = 1;
        i = 1;
    }
    if (i == n || n - i > 19) return DECLINE;
    uint64_t v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return DECLINE;
        v = v * 10 + (uint64_t)(s[i] - '0'); /* 19 digits cannot overflow 64 bits */
    }
    if (neg) {
        if (v > (uint64_t)INT64_MAX + 1) return DECLINE;
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX) return DECLINE;
        *out = (int64_t)v;
    }
    return 0;
}

/* days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil) */
static inline int64_t days_from_civil(int y, int m, int d) {
    y -= m <= 2;
    const int64_t era = (y >= 0 ? y : y - 399) / 400;
    const int64_t yoe = y - era * 400;
    const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static inline int days_in_month(int y, int m) {
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0)) return 29;
    return dim[m - 1];
}

/* "YYYY-MM-DD", year 1-9999 (5-digit years, BC and infinity are declined: pgtext refuses or
 * clamps them) */
static inline int parse_date_text(const unsigned char *s, size_t n, int64_t *days) {
    int y, m, d;
    if (n != 10 || s[4] != '-' || s[7] != '-') return DECLINE;
    if (digits(s, 4, &y) || digits(s + 5, 2, &m) || digits(s + 8, 2, &d)) return DECLINE;
    if (y < 1 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m)) return DECLINE;
    *days = days_from_civil(y, m, d);
    return 0;
}

/* "HH:MM:SS[.f{1,6}]" at s; *used is how many bytes it took; hour may be 24 (checked by the
 * caller) */
static inline int parse_clock(const unsigned char *s, size_t n, int *h, int *mi, int *sec, int *us,
                              size_t *used) {
    if (n < 8 || s[2] != ':' || s[5] != ':') return DECLINE;
    if (digits(s, 2, h) || digits(s + 3, 2, mi) || digits(s + 6, 2, sec)) return DECLINE;
    size_t i = 8;
    *us = 0;
    if (i < n && s[i] == '.') {
        size_t start = ++i;
        while (i < n && i - start < 6 && s[i] >= '0' && s[i] <= '9') *us = *us * 10 + (s[i++] - '0');
        if (i == start) return DECLINE;
        for (size_t k = i - start; k < 6; k++) *us *= 10;
    }
    *used = i;
    return 0;
}

#define DAY_US INT64_C(86400000000)

/* "YYYY-MM-DD HH:MM:SS[.f][±HH[:MM[:SS]]]" as microseconds since 1970-01-01 UTC, within the
 * years 1-9999 after conversion to UTC (Python's datetime range) */
static inline int parse_timestamp_text(const unsigned char *s, size_t n, int64_t *micros) {
    int64_t days;
    int h, mi, sec, us;
    size_t used;
    if (n < 19 || s[10] != ' ' || parse_date_text(s, 10, &days)) return DECLINE;
    if (parse_clock(s + 11, n - 11, &h, &mi, &sec, &us, &used)) return DECLINE;
    if (h > 23 || mi > 59 || sec > 59) return DECLINE;
    size_t i = 11 + used;
    int64_t offset = 0;
    if (i < n) {
        int sign = s[i] == '+' ? 1 : s[i] == '-' ? -1 : 0;
        int oh = 0, om = 0, os = 0;
        if (sign == 0 || n - i < 3 || digits(s + i + 1, 2, &oh)) return DECLINE;
        i += 3;
        if (i < n) {
            if (n - i < 3 || s[i] != ':' || digits(s + i + 1, 2, &om)) return DECLINE;
            i += 3;
        }
        if (i < n) {
            if (n - i != 3 || s[i] != ':' || digits(s + i + 1, 2, &os)) return DECLINE;
            i += 3;
        }
        if (oh > 23 || om > 59 || os > 59) return DECLINE;
        offset = sign * ((int64_t)oh * 3600 + om * 60 + os);
    }
    int64_t seconds = days * 86400 + (int64_t)h * 3600 + mi * 60 + sec - offset;
    int64_t value = seconds * 1000000 + us;
    const int64_t lowest = days_from_civil(1, 1, 1) * DAY_US;
    const int64_t highest = (days_from_civil(9999, 12, 31) + 1) * DAY_US - 1;
    if (value < lowest || value > highest) return DECLINE;
    *micros = value;
    return 0;
}

/* strict UTF-8, as Python's decoder (no overlongs, no surrogates, nothing past U+10FFFF) */
static inline int valid_utf8(const unsigned char *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t need;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) need = 1;
        else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else
            return 0;
        if (n - i <= need) return 0;
        if (s[i + 1] < lo || s[i + 1] > hi) return 0;
        for (size_t k = 2; k <= need; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xBF) return 0;
        i += need + 1;
    }
    return 1;
}

/* ---- field encoders: text slice -> Avro binary at out ---------------------------------- */

static inline int enc_float(const unsigned char *s, size_t n, unsigned char *out, size_t *len,
                            int four) {
    char text[64];
    if (n == 0 || n >= sizeof text) return DECLINE;
    for (size_t i = 0; i < n; i++) { /* digits, sign, point, exponent, NaN / Infinity */
        unsigned char c = s[i];
        if (!((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' ||
              c == 'E' || c == 'N' || c == 'a' || c == 'I' || c == 'n' || c == 'f' ||
              c == 'i' || c == 't' || c == 'y'))
            return DECLINE;
    }
    memcpy(text, s, n);
    text[n] = '\0';
    /* the conversion float() uses: the same double as pgtext.parse_float */
    double x = PyOS_string_to_double(text, NULL, NULL);
    if (x == -1.0 && PyErr_Occurred()) {
        PyErr_Clear();
        return DECLINE;
    }
    /* struct.pack("<f") / ("<d") as encoding.py does */
    if ((four ? PyFloat_Pack4(x, (char *)out, 1) : PyFloat_Pack8(x, (char *)out, 1)) < 0) {
        PyErr_Clear(); /* too large for a float: the Python path explains */
        return DECLINE;
    }
    *len = four ? 4 : 8;
    return 0;
}

/* A numeric's text ("-123.45") as an Avro decimal of `scale`: the unscaled integer in two's
 * complement, big-endian, in (bit_length(|n|) + 8) // 8 bytes, as encoding._decimal_writer. */
static inline int enc_decimal(const unsigned char *s, size_t n, int scale, unsigned char *out,
                              size_t *len, uint32_t *limbs) {
    size_t i = 0;
    int neg = 0;
    if (n > 0 && s[0] == '-') {
        neg = 1;
        i = 1;
    }
    size_t int_start = i;
    while (i < n && s[i] >= '0' && s[i] <= '9') i++;
    size_t int_end = i, frac_start = i, frac_end = i;
    if (int_end == int_start) return DECLINE;
    if (i < n) {
        if (s[i] != '.') return DECLINE;
        frac_start = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9') i++;
        frac_end = i;
        if (i != n || frac_end == frac_start) return DECLINE;
    }
    size_t frac = frac_end - frac_start;
    if (frac > (size_t)scale) return DECLINE;
    /* magnitude in base 1e9 limbs, little-endian; limbs has room for (n + scale) / 9 + 2 */
    size_t nl = 0;
    uint32_t chunk = 0;
    int in_chunk = 0;
    size_t total = (int_end - int_start) + frac + ((size_t)scale - frac);
    size_t first = total % 9 ? total % 9 : 9; /* digits in the most significant chunk */
    size_t k = 0;
    for (size_t d = 0; d < total; d++) {
        unsigned v;
        if (d < int_end - int_start) v = s[int_start + d] - '0';
        else if (d < int_end - int_start + frac) v = s[frac_start + d - (int_end - int_start)] - '0';
        else v = 0;
        chunk = chunk * 10 + v;
        in_chunk++;
        if ((k == 0 && (size_t)in_chunk == first) || (k > 0 && in_chunk == 9)) {
            /* limbs = limbs * 1e9 + chunk (binary limbs of 32 bits) */
            uint64_t carry = chunk;
            uint64_t mul = k == 0 ? 1 : 1000000000u;
            for (size_t l = 0; l < nl; l++) {
                uint64_t t = (uint64_t)limbs[l] * mul + carry;
                limbs[l] = (uint32_t)t;
                carry = t >> 32;
            }
            while (carry) {
                limbs[nl++] = (uint32_t)carry;
                carry >>= 32;
            }
            chunk = 0;
            in_chunk = 0;
            k++;
        }
    }
    while (nl > 0 && limbs[nl - 1] == 0) nl--;
    if (nl == 0 && neg) return DECLINE; /* -0: encoding.py leaves it to fastavro */
    *len = put_decimal(out, limbs, nl, neg);
    return 0;
}

static inline int enc_uuid(const unsigned char *s, size_t n, unsigned char *out, size_t *len) {
    /* the canonical lowercase form only (str(uuid.UUID(text)) of it is itself) */
    if (n != 36) return DECLINE;
    for (size_t i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') return DECLINE;
        } else if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return DECLINE;
    }
    out[0] = 72; /* zig-zag 36 */
    memcpy(out + 1, s, 36);
    *len = 37;
    return 0;
}

/* ---- records: the key and value records of a row's encoded columns ----------------------- */

/* Where a column's encoding is in a row's work buffer. */
typedef struct {
    size_t off, len;
    int null, done;
} Slot;

/* Which columns make the records: the value fields (column index, nullable) in record order,
 * the key fields in key order, and each record's Confluent prefix. */
typedef struct {
    Py_ssize_t nvalue, nkey;
    Py_ssize_t *value_cols;
    int *value_nullable;
    Py_ssize_t *key_cols;
    unsigned char key_prefix[5], value_prefix[5];
} RecordPlan;

/* A sequence of column indexes, or of (index, flag) pairs when `flags` is given; a fresh array,
 * or NULL with an exception set. */
static inline Py_ssize_t *index_array(PyObject *seq, Py_ssize_t ncols, Py_ssize_t *count,
                                      int **flags, const char *what) {
    PyObject *fast = PySequence_Fast(seq, what);
    if (fast == NULL) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    Py_ssize_t *out = PyMem_Calloc(n ? (size_t)n : 1, sizeof *out);
    int *second = flags ? PyMem_Calloc(n ? (size_t)n : 1, sizeof *second) : NULL;
    if (out == NULL || (flags && second == NULL)) {
        PyErr_NoMemory();
        goto fail;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(fast, i);
        Py_ssize_t index;
        int flag = 0;
        if (flags) {
            if (!PyTuple_Check(item)) {
                PyErr_Format(PyExc_TypeError, "%s: expected tuples", what);
                goto fail;
            }
            if (!PyArg_ParseTuple(item, "np", &index, &flag)) goto fail;
        } else {
            index = PyLong_AsSsize_t(item);
            if (index == -1 && PyErr_Occurred()) goto fail;
        }
        if (index < 0 || index >= ncols) {
            PyErr_Format(PyExc_ValueError, "%s: column index %zd out of range", what, index);
            goto fail;
        }
        out[i] = index;
        if (flags) second[i] = flag;
    }
    Py_DECREF(fast);
    *count = n;
    if (flags) *flags = second;
    return out;
fail:
    Py_DECREF(fast);
    PyMem_Free(out);
    PyMem_Free(second);
    return NULL;
}

static inline void plan_free(RecordPlan *plan) {
    PyMem_Free(plan->value_cols);
    PyMem_Free(plan->value_nullable);
    PyMem_Free(plan->key_cols);
}

/* The plan of `value_fields` ((column index, nullable) pairs) and `key_fields` (column
 * indexes) over ncols columns, none of whose codes[] may be `skip`; 0, or -1 with an exception
 * set. */
static inline int plan_init(RecordPlan *plan, PyObject *value_fields, PyObject *key_fields,
                            Py_ssize_t ncols, const int *codes, int skip, unsigned long key_id,
                            unsigned long value_id) {
    if (key_id > 0xFFFFFFFFul || value_id > 0xFFFFFFFFul) {
        PyErr_SetString(PyExc_ValueError, "schema ids are 32-bit");
        return -1;
    }
    plan->value_cols = index_array(value_fields, ncols, &plan->nvalue, &plan->value_nullable,
                                   "value_fields: (column index, nullable) pairs");
    if (plan->value_cols == NULL) return -1;
    plan->key_cols = index_array(key_fields, ncols, &plan->nkey, NULL, "key_fields: column indexes");
    if (plan->key_cols == NULL) return -1;
    for (Py_ssize_t i = 0; i < plan->nvalue; i++)
        if (codes[plan->value_cols[i]] == skip) goto skipped;
    for (Py_ssize_t i = 0; i < plan->nkey; i++)
        if (codes[plan->key_cols[i]] == skip) goto skipped;
    put_prefix(plan->key_prefix, (uint32_t)key_id);
    put_prefix(plan->value_prefix, (uint32_t)value_id);
    return 0;
skipped:
    PyErr_SetString(PyExc_ValueError, "a key or value field cannot be of code 0 (skip)");
    return -1;
}

/* The record of `fields` (column indexes; `nullable`: whether each is a null union, NULL for
 * none) from the encodings in slots/work, as bytes; Py_None where a field without null is NULL
 * (declined: the Python path explains); NULL on error. */
static inline PyObject *record_bytes(const unsigned char *prefix, const Slot *slots,
                                     const unsigned char *work, const Py_ssize_t *fields,
                                     const int *nullable, Py_ssize_t count) {
    size_t size = 5;
    for (Py_ssize_t i = 0; i < count; i++) {
        const Slot *slot = &slots[fields[i]];
        int may_be_null = nullable != NULL && nullable[i];
        if (slot->null && !may_be_null) Py_RETURN_NONE;
        size += slot->null ? 1 : slot->len + (size_t)may_be_null;
    }
    PyObject *bytes = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)size);
    if (bytes == NULL) return NULL;
    unsigned char *p = (unsigned char *)PyBytes_AS_STRING(bytes);
    memcpy(p, prefix, 5);
    p += 5;
    for (Py_ssize_t i = 0; i < count; i++) {
        const Slot *slot = &slots[fields[i]];
        if (nullable != NULL && nullable[i]) *p++ = slot->null ? 0 : 2; /* union branch */
        if (!slot->null) {
            memcpy(p, work + slot->off, slot->len);
            p += slot->len;
        }
    }
    return bytes;
}

#endif
