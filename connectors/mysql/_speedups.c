/* Native hot path of the MySQL connector: the row images of WRITE/UPDATE/DELETE_ROWS events
 * (v1 and v2 bodies, binlog_row_image=FULL) decoded straight into the row dicts that
 * TableCodec.from_binlog makes of python-mysql-replication's values.
 *
 * A RowDecoder is built once per table version (connectors/mysql/native.py) from one entry
 * per column: the column's layout in the binlog (its field type and TABLE_MAP metadata) and the
 * form of the value the connector publishes (enum Form below, mirrored by native.Form). Where
 * the Python path goes through a converter this code does not reproduce (UUID, INET6), or
 * reports a zero date or an out-of-range TIME, the column's converter is called ("hook") with
 * the value python-mysql-replication would have given it, so warnings and errors are the
 * Python path's own.
 *
 * A RowEncoder (further down) goes further for the stream: a row event's images straight to the
 * Avro key and value records of the table's published schema, with no row dict at all.
 *
 * Every read is bounds-checked: a truncated or malformed image raises ValueError (IndexError
 * for an enum index outside the labels, as the library does), never reads past the buffer.
 * Built by setuptools as strangler.connectors.mysql._speedups.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "../avro_out.h"
/* the shared helpers (valid_utf8, days_from_civil, days_in_month); its text parsers are not
 * used here (all static inline: an unused one costs nothing and raises no warning) */
#include "../avro_text.h"

/* binlog field types (MySQL's enum_field_types) */
enum {
    T_DECIMAL = 0, T_TINY = 1, T_SHORT = 2, T_LONG = 3, T_FLOAT = 4, T_DOUBLE = 5,
    T_TIMESTAMP = 7, T_LONGLONG = 8, T_INT24 = 9, T_DATE = 10, T_YEAR = 13, T_VARCHAR = 15,
    T_BIT = 16, T_TIMESTAMP2 = 17, T_DATETIME2 = 18, T_TIME2 = 19, T_NEWDECIMAL = 246,
    T_ENUM = 247, T_SET = 248, T_BLOB = 252, T_STRING = 254, T_GEOMETRY = 255,
};

/* the published form of a value (native.Form) */
enum Form {
    F_INT = 1,       /* int */
    F_BOOL = 2,      /* nonzero integer -> True */
    F_DECIMAL = 3,   /* NEWDECIMAL, or an integer as Decimal (bigint unsigned) */
    F_FLOAT = 4,     /* FLOAT / DOUBLE as float */
    F_BIT = 5,       /* bit(1) -> bool, bit(n) -> ceil(n/8) big-endian bytes */
    F_TEXT = 6,      /* strings decoded with the column's encoding; enum -> its label */
    F_BYTES = 7,     /* binary strings as bytes, right-padded with 0x00 to `pad` bytes */
    F_SET = 8,       /* members comma-separated in definition order */
    F_DATE = 9,      /* date; zero date -> hook(zero_date) */
    F_DATETIME = 10, /* datetime (UTC); invalid -> hook(zero_date) */
    F_TIMESTAMP = 11, /* datetime (UTC); the zero timestamp -> hook(naive epoch) */
    F_TIME = 12,     /* time; outside 0..24h -> hook(timedelta) (which raises) */
    F_YEAR = 13,     /* year; 0000 -> 0 */
    F_GEOMETRY = 14, /* WKB: the bytes after the 4-byte SRID */
    F_HOOK = 15,     /* hook(the library's value): bytes, or str for text charsets */
};

typedef struct {
    PyObject *name;     /* the row dict's key (interned str) */
    PyObject *encoding; /* str: decode strings with it; NULL: keep bytes */
    PyObject *labels;   /* tuple of str (enum: '' first), or NULL */
    PyObject *hook;     /* callable, or NULL */
    const char *enc;    /* UTF-8 of encoding (owned by it), NULL when fast UTF-8 or bytes */
    int layout;         /* binlog field type */
    int form;
    int a;              /* metadata: length bytes, size, bits, precision, fsp */
    int b;              /* metadata: unsigned flag, decimal scale */
    int pad;            /* F_BYTES: pad to this many bytes (0: no padding) */
    int utf8;           /* encoding is UTF-8 (fast path) */
    int ascii;          /* the encoding decodes bytes 0..127 as ASCII (fast path for those) */
} Column;

typedef struct {
    PyObject_HEAD
    Py_ssize_t ncols;
    Column *cols;
    PyObject *zero_date;
} RowDecoder;

static PyObject *DecimalType; /* decimal.Decimal */
static PyObject *Epoch;       /* datetime(1970, 1, 1), naive */

/* ---- the reader: a position in a buffer, every read checked ------------------------------ */

typedef struct {
    const unsigned char *p;
    const unsigned char *end;
} Reader;

static int truncated(void) {
    PyErr_SetString(PyExc_ValueError, "truncated row event: a value runs past the event's end");
    return -1;
}

static int take(Reader *r, Py_ssize_t n, const unsigned char **out) {
    if (n < 0 || r->end - r->p < n) {
        *out = NULL; /* never read (callers return), but compilers cannot always tell */
        return truncated();
    }
    *out = r->p;
    r->p += n;
    return 0;
}

static uint64_t le(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) {
        v = (v << 8) | p[i];
    }
    return v;
}

static uint64_t be(const unsigned char *p, int n) {
    uint64_t v = 0;
    for (int i = 0; i < n; i++) {
        v = (v << 8) | p[i];
    }
    return v;
}

/* a big-endian two's-complement integer of n (1..8) bytes */
static int64_t be_signed(const unsigned char *p, int n) {
    uint64_t v = be(p, n);
    if (n < 8 && (v & ((uint64_t)1 << (8 * n - 1)))) {
        v |= ~(uint64_t)0 << (8 * n);
    }
    return (int64_t)v;
}

static int64_t le_signed(const unsigned char *p, int n) {
    uint64_t v = le(p, n);
    if (n < 8 && (v & ((uint64_t)1 << (8 * n - 1)))) {
        v |= ~(uint64_t)0 << (8 * n);
    }
    return (int64_t)v;
}

/* ---- values ------------------------------------------------------------------------------ */

static PyObject *call_hook(const Column *c, PyObject *arg) {
    if (arg == NULL) {
        return NULL;
    }
    PyObject *out = PyObject_CallOneArg(c->hook, arg);
    Py_DECREF(arg);
    return out;
}

static PyObject *read_int(const Column *c, Reader *r) {
    int n;
    switch (c->layout) {
    case T_TINY: n = 1; break;
    case T_SHORT: n = 2; break;
    case T_INT24: n = 3; break;
    case T_LONG: n = 4; break;
    default: n = 8; break;
    }
    const unsigned char *p;
    if (take(r, n, &p) < 0) {
        return NULL;
    }
    if (c->form == F_BOOL) {
        return PyBool_FromLong(le(p, n) != 0);
    }
    PyObject *value = c->b ? PyLong_FromUnsignedLongLong(le(p, n))
                           : PyLong_FromLongLong(le_signed(p, n));
    if (value == NULL || c->form != F_DECIMAL) {
        return value;
    }
    PyObject *decimal = PyObject_CallOneArg(DecimalType, value);
    Py_DECREF(value);
    return decimal;
}

static const int DIG2BYTES[10] = {0, 1, 1, 2, 2, 3, 3, 4, 4, 4};

/* MySQL's packed decimal, spelled exactly as python-mysql-replication spells it before
 * handing the text to Decimal: sign, compressed integral digits, 9-digit groups, '.', groups,
 * compressed fractional digits. The first byte's top bit is the sign (set: non-negative);
 * negative numbers have every byte inverted. */
static PyObject *read_decimal(const Column *c, Reader *r) {
    int precision = c->a, scale = c->b;
    int integral = precision - scale;
    int ui = integral / 9, ci = integral % 9, uf = scale / 9, cf = scale % 9;
    int size = DIG2BYTES[ci] + 4 * ui + 4 * uf + DIG2BYTES[cf];
    const unsigned char *src;
    if (take(r, size, &src) < 0) {
        return NULL;
    }
    unsigned char buf[64];
    char text[16 + 24 * 16];
    memcpy(buf, src, (size_t)size);
    int negative = !(buf[0] & 0x80);
    buf[0] ^= 0x80;
    int64_t mask = negative ? -1 : 0;
    const unsigned char *p = buf;
    char *t = text;
    char *tend = text + sizeof text;
    if (negative) {
        *t++ = '-';
    }
    if (DIG2BYTES[ci] > 0) {
        t += snprintf(t, (size_t)(tend - t), "%lld", (long long)(be_signed(p, DIG2BYTES[ci]) ^ mask));
        p += DIG2BYTES[ci];
    }
    for (int i = 0; i < ui; i++, p += 4) {
        t += snprintf(t, (size_t)(tend - t), "%09lld", (long long)(be_signed(p, 4) ^ mask));
    }
    *t++ = '.';
    for (int i = 0; i < uf; i++, p += 4) {
        t += snprintf(t, (size_t)(tend - t), "%09lld", (long long)(be_signed(p, 4) ^ mask));
    }
    if (DIG2BYTES[cf] > 0) {
        t += snprintf(t, (size_t)(tend - t), "%0*lld", cf, (long long)(be_signed(p, DIG2BYTES[cf]) ^ mask));
    }
    PyObject *str = PyUnicode_FromStringAndSize(text, t - text);
    if (str == NULL) {
        return NULL;
    }
    PyObject *value = PyObject_CallOneArg(DecimalType, str);
    Py_DECREF(str);
    return value;
}

static PyObject *read_float(const Column *c, Reader *r) {
    const unsigned char *p;
    if (c->layout == T_FLOAT) {
        if (take(r, 4, &p) < 0) {
            return NULL;
        }
        uint32_t bits = (uint32_t)le(p, 4);
        float f;
        memcpy(&f, &bits, sizeof f);
        return PyFloat_FromDouble((double)f);
    }
    if (take(r, 8, &p) < 0) {
        return NULL;
    }
    uint64_t bits = le(p, 8);
    double d;
    memcpy(&d, &bits, sizeof d);
    return PyFloat_FromDouble(d);
}

static PyObject *read_bit(const Column *c, Reader *r) {
    int bits = c->a;
    int nbytes = (bits + 7) / 8;
    const unsigned char *p;
    if (take(r, nbytes, &p) < 0) {
        return NULL;
    }
    if (bits == 1) {
        return PyBool_FromLong(p[0] & 1);
    }
    /* the library reads only the low bits%8 bits of the first byte; masked here, not in the
     * result (a one-byte bytes object is CPython's shared, immutable cached one) */
    int first = bits % 8 ? bits % 8 : 8;
    char buf[8];
    memcpy(buf, p, (size_t)nbytes);
    buf[0] = (char)(p[0] & ((1 << first) - 1));
    return PyBytes_FromStringAndSize(buf, nbytes);
}

static int read_length(const Column *c, Reader *r, Py_ssize_t *len) {
    const unsigned char *p;
    if (take(r, c->a, &p) < 0) {
        return -1;
    }
    *len = (Py_ssize_t)le(p, c->a);
    return 0;
}

static int all_ascii(const unsigned char *p, Py_ssize_t len) {
    for (Py_ssize_t i = 0; i < len; i++) {
        if (p[i] & 0x80) {
            return 0;
        }
    }
    return 1;
}

/* a string as the library gives it: decoded with the column's encoding, or bytes */
static PyObject *string_value(const Column *c, const unsigned char *p, Py_ssize_t len) {
    if (c->utf8) {
        return PyUnicode_DecodeUTF8((const char *)p, len, "strict");
    }
    if (c->enc != NULL) {
        if (c->ascii && all_ascii(p, len)) { /* what the codec gives, without its machinery */
            return PyUnicode_DecodeASCII((const char *)p, len, "strict");
        }
        return PyUnicode_Decode((const char *)p, len, c->enc, "strict");
    }
    return PyBytes_FromStringAndSize((const char *)p, len);
}

/* p[0..len) right-padded with 0x00 to `pad` bytes. PyBytes_FromStringAndSize(NULL, …) gives a
 * new object even for one byte (only size 0 gives the shared empty bytes, and nothing is
 * written to it then) */
static PyObject *padded_bytes(const unsigned char *p, Py_ssize_t len, Py_ssize_t pad) {
    Py_ssize_t size = len < pad ? pad : len;
    PyObject *out = PyBytes_FromStringAndSize(NULL, size);
    if (out != NULL) {
        memcpy(PyBytes_AS_STRING(out), p, (size_t)len);
        memset(PyBytes_AS_STRING(out) + len, 0, (size_t)(size - len));
    }
    return out;
}

static PyObject *read_string(const Column *c, Reader *r) {
    Py_ssize_t len;
    const unsigned char *p;
    if (read_length(c, r, &len) < 0 || take(r, len, &p) < 0) {
        return NULL;
    }
    switch (c->form) {
    case F_TEXT:
        if (c->utf8 || c->enc == NULL) { /* bytes become text as UTF-8 (types._to_text) */
            return PyUnicode_DecodeUTF8((const char *)p, len, "strict");
        }
        return string_value(c, p, len);
    case F_BYTES:
        return padded_bytes(p, len, c->pad);
    case F_GEOMETRY:
        return len <= 4 ? PyBytes_FromStringAndSize("", 0)
                        : PyBytes_FromStringAndSize((const char *)p + 4, len - 4);
    default: /* F_HOOK */
        return call_hook(c, string_value(c, p, len));
    }
}

static PyObject *read_enum(const Column *c, Reader *r) {
    const unsigned char *p;
    if (take(r, c->a, &p) < 0) {
        return NULL;
    }
    uint64_t index = le(p, c->a);
    if (c->labels == NULL || PyTuple_GET_SIZE(c->labels) == 0) {
        Py_RETURN_NONE; /* no labels in the TABLE_MAP: the library gives None */
    }
    if (index >= (uint64_t)PyTuple_GET_SIZE(c->labels)) {
        PyErr_Format(PyExc_IndexError, "enum index %llu outside the column's labels",
                     (unsigned long long)index);
        return NULL;
    }
    PyObject *label = PyTuple_GET_ITEM(c->labels, (Py_ssize_t)index);
    Py_INCREF(label);
    return label;
}

static PyObject *read_set(const Column *c, Reader *r) {
    const unsigned char *p;
    if (take(r, c->a, &p) < 0) {
        return NULL;
    }
    uint64_t members = le(p, c->a);
    Py_ssize_t n = c->labels == NULL ? 0 : PyTuple_GET_SIZE(c->labels);
    PyObject *chosen = PyList_New(0);
    if (chosen == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n && i < 64; i++) {
        if ((members >> i) & 1) {
            if (PyList_Append(chosen, PyTuple_GET_ITEM(c->labels, i)) < 0) {
                Py_DECREF(chosen);
                return NULL;
            }
        }
    }
    static PyObject *comma;
    if (comma == NULL && (comma = PyUnicode_InternFromString(",")) == NULL) {
        Py_DECREF(chosen);
        return NULL;
    }
    PyObject *out = PyUnicode_Join(comma, chosen);
    Py_DECREF(chosen);
    return out;
}

/* the fractional seconds of a temporal value, as the library reads them: fsp 1-2 in one
 * byte, 3-4 in two, 5-6 in three, big-endian and signed; odd fsp store one digit too many */
static int read_fsp(int fsp, Reader *r, int64_t *micros) {
    int n = fsp >= 1 && fsp <= 6 ? (fsp + 1) / 2 : 0;
    *micros = 0;
    if (n == 0) {
        return 0;
    }
    const unsigned char *p;
    if (take(r, n, &p) < 0) {
        return -1;
    }
    int64_t v = be_signed(p, n);
    if (fsp % 2) {
        v /= 10; /* C division truncates toward zero, as int(v / 10) does */
    }
    static const int64_t scale[7] = {1000000, 100000, 10000, 1000, 100, 10, 1};
    *micros = v * scale[fsp];
    return 0;
}

static int check_micros(int64_t micros) {
    if (micros > 999999) {
        PyErr_SetString(PyExc_ValueError, "microsecond must be in 0..999999");
        return -1;
    }
    return 0;
}

static PyObject *utc_datetime(int y, int mo, int d, int h, int mi, int s, int64_t us) {
    return PyDateTimeAPI->DateTime_FromDateAndTime(y, mo, d, h, mi, s, (int)us,
                                                   PyDateTime_TimeZone_UTC,
                                                   PyDateTimeAPI->DateTimeType);
}

static PyObject *read_date(const Column *c, Reader *r, PyObject *zero) {
    const unsigned char *p;
    if (take(r, 3, &p) < 0) {
        return NULL;
    }
    uint32_t v = (uint32_t)le(p, 3);
    int year = (int)((v >> 9) & 0x7FFF), month = (int)((v >> 5) & 0xF), day = (int)(v & 0x1F);
    if (year == 0 || month == 0 || day == 0) {
        Py_INCREF(zero);
        return call_hook(c, zero);
    }
    return PyDate_FromDate(year, month, day); /* an invalid date raises, as the library's */
}

static PyObject *read_datetime(const Column *c, Reader *r, PyObject *zero) {
    const unsigned char *p;
    int64_t us;
    if (take(r, 5, &p) < 0) {
        return NULL;
    }
    uint64_t v = be(p, 5);
    if (read_fsp(c->a, r, &us) < 0) {
        return NULL;
    }
    int ym = (int)((v >> 22) & 0x1FFFF);
    int day = (int)((v >> 17) & 0x1F), hour = (int)((v >> 12) & 0x1F);
    int minute = (int)((v >> 6) & 0x3F), second = (int)(v & 0x3F);
    if (us < 0) {
        us = 0; /* the library adds only a positive fraction */
    }
    PyObject *value = utc_datetime(ym / 13, ym % 13, day, hour, minute, second,
                                   us > 999999 ? 0 : us);
    if (value == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_ValueError)) {
            return NULL;
        }
        PyErr_Clear(); /* the library's "out of datetime2 range": a zero date */
        Py_INCREF(zero);
        return call_hook(c, zero);
    }
    if (check_micros(us) < 0) { /* a valid date with a fraction out of range: raised */
        Py_DECREF(value);
        return NULL;
    }
    return value;
}

static PyObject *read_timestamp(const Column *c, Reader *r) {
    const unsigned char *p;
    int64_t us;
    if (take(r, 4, &p) < 0) {
        return NULL;
    }
    int64_t secs = be_signed(p, 4);
    if (read_fsp(c->a, r, &us) < 0) {
        return NULL;
    }
    if (us < 0) {
        us = 0; /* the library adds only a positive fraction */
    }
    if (check_micros(us) < 0) {
        return NULL;
    }
    if (secs == 0 && us == 0) { /* the zero TIMESTAMP, stored as 0 */
        Py_INCREF(Epoch);
        return call_hook(c, Epoch);
    }
    /* datetime.fromtimestamp(secs, UTC): the library's utcfromtimestamp, made aware */
    PyObject *args = Py_BuildValue("(LO)", (long long)secs, PyDateTime_TimeZone_UTC);
    if (args == NULL) {
        return NULL;
    }
    PyObject *value = PyDateTimeAPI->DateTime_FromTimestamp(
        (PyObject *)PyDateTimeAPI->DateTimeType, args, NULL);
    Py_DECREF(args);
    if (value == NULL || us == 0) {
        return value;
    }
    PyObject *out = utc_datetime(
        PyDateTime_GET_YEAR(value), PyDateTime_GET_MONTH(value), PyDateTime_GET_DAY(value),
        PyDateTime_DATE_GET_HOUR(value), PyDateTime_DATE_GET_MINUTE(value),
        PyDateTime_DATE_GET_SECOND(value), us);
    Py_DECREF(value);
    return out;
}

static PyObject *read_time(const Column *c, Reader *r) {
    const unsigned char *p;
    int64_t frac;
    if (take(r, 3, &p) < 0) {
        return NULL;
    }
    uint32_t v = (uint32_t)be(p, 3);
    if (read_fsp(c->a, r, &frac) < 0) {
        return NULL;
    }
    int sign = (v & 0x800000) ? 1 : -1;
    if (sign < 0) {
        v = (0x1000000 - v) & 0xFFFFFF; /* the library's ~data + 1 */
    }
    int64_t hours = (v >> 12) & 0x3FF, minutes = (v >> 6) & 0x3F, seconds = v & 0x3F;
    int64_t total = sign * (((hours * 60 + minutes) * 60 + seconds) * 1000000 + frac);
    if (total >= 0 && total < INT64_C(86400000000)) {
        int64_t s = total / 1000000;
        return PyTime_FromTime((int)(s / 3600), (int)(s / 60 % 60), (int)(s % 60),
                               (int)(total % 1000000));
    }
    /* outside a day: the converter raises its error with the library's timedelta */
    int64_t day_us = INT64_C(86400000000);
    int64_t days = total >= 0 ? total / day_us : -((-total + day_us - 1) / day_us);
    int64_t rest = total - days * day_us;
    return call_hook(c, PyDelta_FromDSU((int)days, (int)(rest / 1000000), (int)(rest % 1000000)));
}

static PyObject *read_year(Reader *r) {
    const unsigned char *p;
    if (take(r, 1, &p) < 0) {
        return NULL;
    }
    return PyLong_FromLong(p[0] == 0 ? 0 : 1900 + p[0]);
}

static PyObject *read_value(const RowDecoder *self, const Column *c, Reader *r) {
    switch (c->layout) {
    case T_TINY: case T_SHORT: case T_INT24: case T_LONG: case T_LONGLONG:
        return read_int(c, r);
    case T_NEWDECIMAL: return read_decimal(c, r);
    case T_FLOAT: case T_DOUBLE: return read_float(c, r);
    case T_BIT: return read_bit(c, r);
    case T_STRING: case T_VARCHAR: case T_BLOB: case T_GEOMETRY: return read_string(c, r);
    case T_ENUM: return read_enum(c, r);
    case T_SET: return read_set(c, r);
    case T_DATE: return read_date(c, r, self->zero_date);
    case T_DATETIME2: return read_datetime(c, r, self->zero_date);
    case T_TIMESTAMP2: return read_timestamp(c, r);
    case T_TIME2: return read_time(c, r);
    case T_YEAR: return read_year(r);
    default:
        PyErr_Format(PyExc_ValueError, "unsupported column layout %d", c->layout);
        return NULL;
    }
}

/* one row image: the NULL bitmap, then each non-NULL value */
static PyObject *read_row(const RowDecoder *self, Reader *r) {
    const unsigned char *nulls;
    if (take(r, (self->ncols + 7) / 8, &nulls) < 0) {
        return NULL;
    }
    PyObject *row = PyDict_New();
    if (row == NULL) {
        return NULL;
    }
    for (Py_ssize_t i = 0; i < self->ncols; i++) {
        const Column *c = &self->cols[i];
        PyObject *value;
        if (nulls[i / 8] & (1 << (i % 8))) {
            value = Py_None;
            Py_INCREF(value);
        } else if ((value = read_value(self, c, r)) == NULL) {
            Py_DECREF(row);
            return NULL;
        }
        int failed = PyDict_SetItem(row, c->name, value);
        Py_DECREF(value);
        if (failed) {
            Py_DECREF(row);
            return NULL;
        }
    }
    return row;
}

/* ---- the type ---------------------------------------------------------------------------- */

static void clear_columns(RowDecoder *self) {
    for (Py_ssize_t i = 0; self->cols != NULL && i < self->ncols; i++) {
        Column *c = &self->cols[i];
        Py_XDECREF(c->name);
        Py_XDECREF(c->encoding);
        Py_XDECREF(c->labels);
        Py_XDECREF(c->hook);
    }
    PyMem_Free(self->cols);
    self->cols = NULL;
    self->ncols = 0;
}

static void RowDecoder_dealloc(RowDecoder *self) {
    clear_columns(self);
    Py_XDECREF(self->zero_date);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int layout_serves(int layout, int form) {
    switch (form) {
    case F_INT: case F_BOOL:
        return layout == T_TINY || layout == T_SHORT || layout == T_INT24 || layout == T_LONG ||
               layout == T_LONGLONG;
    case F_DECIMAL:
        return layout == T_NEWDECIMAL || layout == T_LONGLONG;
    case F_FLOAT: return layout == T_FLOAT || layout == T_DOUBLE;
    case F_BIT: return layout == T_BIT;
    case F_TEXT:
        return layout == T_STRING || layout == T_VARCHAR || layout == T_BLOB || layout == T_ENUM;
    case F_BYTES: case F_HOOK:
        return layout == T_STRING || layout == T_VARCHAR || layout == T_BLOB;
    case F_SET: return layout == T_SET;
    case F_DATE: return layout == T_DATE;
    case F_DATETIME: return layout == T_DATETIME2;
    case F_TIMESTAMP: return layout == T_TIMESTAMP2;
    case F_TIME: return layout == T_TIME2;
    case F_YEAR: return layout == T_YEAR;
    case F_GEOMETRY: return layout == T_GEOMETRY;
    default: return 0;
    }
}

static int check_metadata(const Column *c) {
    switch (c->layout) {
    case T_STRING: case T_VARCHAR: case T_BLOB: case T_GEOMETRY:
        return c->a >= 1 && c->a <= 4;
    case T_ENUM: case T_SET:
        return c->a >= 1 && c->a <= 8;
    case T_BIT:
        return c->a >= 1 && c->a <= 64;
    case T_NEWDECIMAL:
        return c->a >= 1 && c->a <= 65 && c->b >= 0 && c->b <= c->a && c->b <= 38;
    case T_DATETIME2: case T_TIMESTAMP2: case T_TIME2:
        return c->a >= 0 && c->a <= 6;
    default:
        return 1;
    }
}

static int hook_needed(const Column *c) {
    return c->form == F_HOOK || c->form == F_DATE || c->form == F_DATETIME ||
           c->form == F_TIMESTAMP || c->form == F_TIME;
}

/* 1 if `encoding` decodes every byte 0..127 to the same ASCII character (cp1252, latin2, …;
 * not UTF-16), 0 if not, -1 on an error other than the codec refusing */
static int ascii_compatible(const char *encoding) {
    char ascii[128];
    for (int i = 0; i < 128; i++) {
        ascii[i] = (char)i;
    }
    PyObject *decoded = PyUnicode_Decode(ascii, 128, encoding, "strict");
    if (decoded == NULL) {
        if (PyErr_ExceptionMatches(PyExc_UnicodeError)) {
            PyErr_Clear();
            return 0;
        }
        return -1;
    }
    PyObject *expected = PyUnicode_DecodeASCII(ascii, 128, "strict");
    int same = expected == NULL ? -1 : PyUnicode_Compare(decoded, expected) == 0;
    Py_DECREF(decoded);
    Py_XDECREF(expected);
    if (same < 0 || PyErr_Occurred()) {
        return -1;
    }
    return same;
}

/* the column's strings are decoded with `encoding` (a str), or kept as bytes (None) */
static int set_encoding(Column *c, PyObject *encoding) {
    if (encoding == Py_None) {
        return 0;
    }
    if (!PyUnicode_Check(encoding)) {
        PyErr_SetString(PyExc_TypeError, "encoding must be a str or None");
        return -1;
    }
    Py_INCREF(encoding);
    c->encoding = encoding;
    const char *enc = PyUnicode_AsUTF8(encoding);
    if (enc == NULL) {
        return -1;
    }
    c->utf8 = strcmp(enc, "utf-8") == 0 || strcmp(enc, "utf8") == 0;
    c->enc = c->utf8 ? NULL : enc;
    if (c->enc != NULL && (c->ascii = ascii_compatible(c->enc)) < 0) {
        return -1;
    }
    return 0;
}

static int init_column(Column *c, PyObject *spec) {
    PyObject *name, *encoding, *labels, *hook;
    if (!PyTuple_Check(spec) ||
        !PyArg_ParseTuple(spec, "UiiiiiOOO;a column is (name, layout, form, a, b, pad, "
                          "encoding, labels, hook)", &name, &c->layout, &c->form, &c->a, &c->b,
                          &c->pad, &encoding, &labels, &hook)) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "a column spec must be a tuple");
        }
        return -1;
    }
    Py_INCREF(name);
    PyUnicode_InternInPlace(&name);
    c->name = name;
    if (!layout_serves(c->layout, c->form) || !check_metadata(c) || c->pad < 0) {
        PyErr_Format(PyExc_ValueError, "column %R: layout %d, form %d, metadata (%d, %d) "
                     "not supported", name, c->layout, c->form, c->a, c->b);
        return -1;
    }
    if (set_encoding(c, encoding) < 0) {
        return -1;
    }
    if (labels != Py_None) {
        if (!PyTuple_Check(labels)) {
            PyErr_SetString(PyExc_TypeError, "labels must be a tuple or None");
            return -1;
        }
        Py_INCREF(labels);
        c->labels = labels;
    }
    if (hook != Py_None) {
        Py_INCREF(hook);
        c->hook = hook;
    }
    if (hook_needed(c) && (c->hook == NULL || !PyCallable_Check(c->hook))) {
        PyErr_Format(PyExc_TypeError, "column %R needs a callable hook", name);
        return -1;
    }
    return 0;
}

static int RowDecoder_init(RowDecoder *self, PyObject *args, PyObject *kwds) {
    static char *keywords[] = {"columns", "zero_date", NULL};
    PyObject *columns, *zero_date;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!O", keywords, &PyTuple_Type, &columns,
                                     &zero_date)) {
        return -1;
    }
    clear_columns(self);
    Py_ssize_t n = PyTuple_GET_SIZE(columns);
    self->cols = PyMem_Calloc((size_t)(n ? n : 1), sizeof(Column));
    if (self->cols == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->ncols = n;
    Py_INCREF(zero_date);
    Py_XSETREF(self->zero_date, zero_date);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (init_column(&self->cols[i], PyTuple_GET_ITEM(columns, i)) < 0) {
            clear_columns(self);
            return -1;
        }
    }
    return 0;
}

enum { OP_WRITE = 0, OP_DELETE = 1, OP_UPDATE = 2 };

static PyObject *pair(PyObject *before, PyObject *after) {
    PyObject *out = PyTuple_Pack(2, before, after);
    Py_DECREF(before);
    Py_DECREF(after);
    return out;
}

/* the rows of one row event: a list of (before, after), None for the image an op lacks */
static PyObject *RowDecoder_decode(RowDecoder *self, PyObject *args) {
    Py_buffer image;
    int op;
    if (self->cols == NULL) {
        PyErr_SetString(PyExc_ValueError, "RowDecoder is not initialised");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "y*i", &image, &op)) {
        return NULL;
    }
    PyObject *rows = NULL;
    if (op < OP_WRITE || op > OP_UPDATE) {
        PyErr_Format(PyExc_ValueError, "op must be 0 (write), 1 (delete) or 2 (update), not %d", op);
        goto done;
    }
    rows = PyList_New(0);
    if (rows == NULL) {
        goto done;
    }
    Reader r = {(const unsigned char *)image.buf, (const unsigned char *)image.buf + image.len};
    while (r.p < r.end) {
        PyObject *first = read_row(self, &r), *item;
        if (first == NULL) {
            Py_CLEAR(rows);
            goto done;
        }
        if (op == OP_UPDATE) {
            PyObject *second = read_row(self, &r);
            if (second == NULL) {
                Py_DECREF(first);
                Py_CLEAR(rows);
                goto done;
            }
            item = pair(first, second);
        } else {
            Py_INCREF(Py_None);
            item = op == OP_WRITE ? pair(Py_None, first) : pair(first, Py_None);
        }
        if (item == NULL || PyList_Append(rows, item) < 0) {
            Py_XDECREF(item);
            Py_CLEAR(rows);
            goto done;
        }
        Py_DECREF(item);
    }
done:
    PyBuffer_Release(&image);
    return rows;
}

static PyMethodDef RowDecoder_methods[] = {
    {"decode", (PyCFunction)RowDecoder_decode, METH_VARARGS,
     "decode(image, op) -> list of (before, after): the rows of one row event's images "
     "(op 0 write, 1 delete, 2 update)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject RowDecoderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "strangler.connectors.mysql._speedups.RowDecoder",
    .tp_basicsize = sizeof(RowDecoder),
    .tp_dealloc = (destructor)RowDecoder_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "RowDecoder(columns, zero_date): decodes one table version's row images.",
    .tp_methods = RowDecoder_methods,
    .tp_init = (initproc)RowDecoder_init,
    .tp_new = PyType_GenericNew,
};

/* ---- encoding: row images straight to the published Avro records --------------------------
 *
 * A RowEncoder is a RowDecoder's columns configured with a table's published schema: the value
 * record's fields and the key record's fields, each a source column (excluded columns are not
 * fields, so they are skipped), whether it is nullable (["null", T]), and its Avro kind (enum
 * Kind, from the schema's type: native_stream.py). encode(image, op) gives per row the framed
 * key and value records (value None for deletes) that FastTableSerializer writes for the values
 * the decoder would give; an update whose key changed gives the old key's tombstone first.
 *
 * Anything not written exactly as the Python path writes it is declined: encode returns None
 * and the event goes the Python path, which writes it, warns, or raises its own error (zero
 * dates, TIME outside a day, NULL in a key or NOT NULL field, an enum index outside its
 * labels, invalid text, a malformed or truncated image). */

enum Kind {
    K_BOOLEAN = 1, K_LONG = 2, K_FLOAT = 3, K_DOUBLE = 4, K_BYTES = 5, K_STRING = 6,
    K_DECIMAL = 7, K_DATE = 8, K_TIME = 9, K_TIMESTAMP = 10, K_UUID = 11,
};

typedef struct {
    Py_ssize_t col; /* the source column */
    int nullable;   /* ["null", T]: the union's branch index first */
    int kind;
    int scale;      /* K_DECIMAL */
} Field;

typedef struct {
    const unsigned char *p; /* NULL: SQL NULL */
    Py_ssize_t n;
} Span;

typedef struct {
    PyObject_HEAD
    RowDecoder *decoder;
    Py_ssize_t ncols; /* the decoder's, when configured */
    Field *value;
    Field *key;
    Py_ssize_t nvalue, nkey;
    uint32_t key_id, value_id;
    int key_float; /* a float key field: -0.0 and 0.0 are one key with different bytes */
    Span *spans;   /* 2 * ncols: the first and second image of a row */
    unsigned char *check; /* per column: 1 if its values must be checked where not written
                           * (the Python path decodes every value: it may raise or warn) */
    unsigned char *check_written; /* the same, 0 for the value record's columns */
    Buf buf;
    Buf scratch; /* checked values are written here and dropped */
} RowEncoder;

static int fsp_bytes(int fsp) {
    return fsp >= 1 && fsp <= 6 ? (fsp + 1) / 2 : 0;
}

/* where one non-NULL value of column c is (strings: after their length); DECLINE if it
 * runs past the end */
static int span_value(const Column *c, Reader *r, Span *s) {
    Py_ssize_t n;
    switch (c->layout) {
    case T_TINY: case T_YEAR: n = 1; break;
    case T_SHORT: n = 2; break;
    case T_INT24: case T_DATE: n = 3; break;
    case T_LONG: case T_FLOAT: n = 4; break;
    case T_LONGLONG: case T_DOUBLE: n = 8; break;
    case T_BIT: n = (c->a + 7) / 8; break;
    case T_ENUM: case T_SET: n = c->a; break;
    case T_NEWDECIMAL: {
        int integral = c->a - c->b;
        n = DIG2BYTES[integral % 9] + 4 * (integral / 9) + 4 * (c->b / 9) + DIG2BYTES[c->b % 9];
        break;
    }
    case T_DATETIME2: n = 5 + fsp_bytes(c->a); break;
    case T_TIMESTAMP2: n = 4 + fsp_bytes(c->a); break;
    case T_TIME2: n = 3 + fsp_bytes(c->a); break;
    case T_STRING: case T_VARCHAR: case T_BLOB: case T_GEOMETRY:
        if (r->end - r->p < c->a) {
            return DECLINE;
        }
        n = (Py_ssize_t)le(r->p, c->a);
        r->p += c->a;
        break;
    default:
        return DECLINE;
    }
    if (r->end - r->p < n) {
        return DECLINE;
    }
    s->p = r->p;
    s->n = n;
    r->p += n;
    return 0;
}

/* one row image's values: spans[i] for column i */
static int span_row(const RowDecoder *d, Reader *r, Span *spans) {
    Py_ssize_t bitmap = (d->ncols + 7) / 8;
    if (r->end - r->p < bitmap) {
        return DECLINE;
    }
    const unsigned char *nulls = r->p;
    r->p += bitmap;
    for (Py_ssize_t i = 0; i < d->ncols; i++) {
        if (nulls[i / 8] & (1 << (i % 8))) {
            spans[i].p = NULL;
            spans[i].n = 0;
        } else if (span_value(&d->cols[i], r, &spans[i]) != 0) {
            return DECLINE;
        }
    }
    return 0;
}

static int out_bytes(Buf *b, const void *p, size_t n) {
    if (buf_reserve(b, n) < 0) {
        return -1;
    }
    if (n > 0) {
        memcpy(b->p + b->len, p, n);
    }
    b->len += n;
    return 0;
}

static int out_byte(Buf *b, unsigned char v) {
    return out_bytes(b, &v, 1);
}

static int out_long(Buf *b, int64_t v) {
    if (buf_reserve(b, 10) < 0) {
        return -1;
    }
    b->len += put_long(b->p + b->len, v);
    return 0;
}

/* Avro bytes or string: the length, then the bytes */
static int out_blob(Buf *b, const void *p, size_t n) {
    if (out_long(b, (int64_t)n) < 0) {
        return -1;
    }
    return out_bytes(b, p, n);
}

static int out_decimal(Buf *b, const uint32_t *limbs, size_t nl, int neg) {
    if (buf_reserve(b, 10 + 4 * nl + 1) < 0) {
        return -1;
    }
    b->len += put_decimal(b->p + b->len, limbs, nl, neg);
    return 0;
}

/* a str's UTF-8 as an Avro string; DECLINE if it has none (lone surrogates) */
static int out_str(Buf *b, PyObject *text) {
    Py_ssize_t n;
    const char *utf8 = PyUnicode_AsUTF8AndSize(text, &n);
    if (utf8 == NULL) {
        PyErr_Clear();
        return DECLINE;
    }
    return out_blob(b, utf8, (size_t)n);
}

static int encode_text(const Column *c, const unsigned char *p, Py_ssize_t n, Buf *b) {
    if (c->layout == T_ENUM) {
        uint64_t index = le(p, c->a);
        if (c->labels == NULL || index >= (uint64_t)PyTuple_GET_SIZE(c->labels)) {
            return DECLINE; /* no labels: None; outside them: the Python path raises */
        }
        return out_str(b, PyTuple_GET_ITEM(c->labels, (Py_ssize_t)index));
    }
    if (c->utf8 || c->enc == NULL || (c->ascii && all_ascii(p, n))) {
        /* UTF-8 (bytes become text as UTF-8 too), or ASCII in an ASCII-compatible charset */
        return valid_utf8(p, (size_t)n) ? out_blob(b, p, (size_t)n) : DECLINE;
    }
    PyObject *text = PyUnicode_Decode((const char *)p, n, c->enc, "strict");
    if (text == NULL) {
        PyErr_Clear();
        return DECLINE;
    }
    int rc = out_str(b, text);
    Py_DECREF(text);
    return rc;
}

static int encode_set(const Column *c, const unsigned char *p, Buf *b) {
    uint64_t members = le(p, c->a);
    Py_ssize_t count = c->labels == NULL ? 0 : PyTuple_GET_SIZE(c->labels);
    size_t total = 0;
    int first = 1;
    for (int pass = 0; pass < 2; pass++) { /* the length, then the text */
        if (pass == 1 && out_long(b, (int64_t)total) < 0) {
            return -1;
        }
        first = 1;
        for (Py_ssize_t i = 0; i < count && i < 64; i++) {
            if (!((members >> i) & 1)) {
                continue;
            }
            Py_ssize_t n;
            const char *utf8 = PyUnicode_AsUTF8AndSize(PyTuple_GET_ITEM(c->labels, i), &n);
            if (utf8 == NULL) {
                PyErr_Clear();
                return DECLINE;
            }
            if (pass == 0) {
                total += (size_t)n + (first ? 0 : 1);
            } else if ((!first && out_byte(b, ',') < 0) || out_bytes(b, utf8, (size_t)n) < 0) {
                return -1;
            }
            first = 0;
        }
    }
    return 0;
}

/* limbs = limbs * mul + add (limbs has room for 8; the magnitude of 65 digits needs 7) */
static void mul_add(uint32_t *limbs, size_t *nl, uint32_t mul, uint32_t add) {
    uint64_t carry = add;
    for (size_t i = 0; i < *nl; i++) {
        uint64_t t = (uint64_t)limbs[i] * mul + carry;
        limbs[i] = (uint32_t)t;
        carry = t >> 32;
    }
    if (carry) {
        limbs[(*nl)++] = (uint32_t)carry;
    }
}

static const uint32_t POW10[10] = {
    1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000,
};

/* MySQL's packed decimal as its unscaled magnitude and sign; DECLINE for digit groups out of
 * range (the library's text of them is not the number) */
static int encode_packed_decimal(const Column *c, const unsigned char *src, Py_ssize_t size,
                                 Buf *b) {
    int integral = c->a - c->b;
    int ci = integral % 9, ui = integral / 9, uf = c->b / 9, cf = c->b % 9;
    unsigned char buf[64];
    if (size > (Py_ssize_t)sizeof buf || size < 1) {
        return DECLINE;
    }
    memcpy(buf, src, (size_t)size);
    int negative = !(buf[0] & 0x80);
    buf[0] ^= 0x80;
    if (negative) {
        for (Py_ssize_t i = 0; i < size; i++) {
            buf[i] = (unsigned char)~buf[i];
        }
    }
    uint32_t limbs[8] = {0};
    size_t nl = 0;
    const unsigned char *p = buf;
    int groups[4] = {ci, ui, uf, cf}; /* digits per group: ci, then ui nines, uf nines, cf */
    for (int part = 0; part < 4; part++) {
        int count = part == 1 || part == 2 ? groups[part] : (groups[part] > 0);
        int digits = part == 1 || part == 2 ? 9 : groups[part];
        for (int g = 0; g < count; g++) {
            int bytes = DIG2BYTES[digits];
            uint64_t v = be(p, bytes);
            p += bytes;
            if (v >= POW10[digits]) {
                return DECLINE;
            }
            mul_add(limbs, &nl, POW10[digits], (uint32_t)v);
        }
    }
    return out_decimal(b, limbs, nl, negative);
}

/* 1 if y-m-d is a date Python's date takes */
static int valid_date(int y, int m, int d) {
    return y >= 1 && y <= 9999 && m >= 1 && m <= 12 && d >= 1 && d <= days_in_month(y, m);
}

static int fraction(int fsp, const unsigned char *p, Py_ssize_t n, int64_t *micros) {
    Reader r = {p, p + n};
    return read_fsp(fsp, &r, micros);
}

static int encode_datetime(const Column *c, const unsigned char *p, Py_ssize_t n, Buf *b) {
    int64_t us;
    uint64_t v = be(p, 5);
    if (fraction(c->a, p + 5, n - 5, &us) < 0) {
        return -1;
    }
    int ym = (int)((v >> 22) & 0x1FFFF);
    int y = ym / 13, mo = ym % 13, d = (int)((v >> 17) & 0x1F), h = (int)((v >> 12) & 0x1F);
    int mi = (int)((v >> 6) & 0x3F), s = (int)(v & 0x3F);
    if (us < 0) {
        us = 0; /* the library adds only a positive fraction */
    }
    if (us > 999999 || !valid_date(y, mo, d) || h > 23 || mi > 59 || s > 59) {
        return DECLINE; /* a zero date (warned and null), or raised */
    }
    int64_t secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
    return out_long(b, secs * 1000000 + us);
}

static int encode_timestamp(const Column *c, const unsigned char *p, Py_ssize_t n, Buf *b) {
    int64_t us, secs = be_signed(p, 4);
    if (fraction(c->a, p + 4, n - 4, &us) < 0) {
        return -1;
    }
    if (us < 0) {
        us = 0;
    }
    if (us > 999999 || (secs == 0 && us == 0)) {
        return DECLINE; /* raised, or the zero TIMESTAMP (warned and null) */
    }
    return out_long(b, secs * 1000000 + us);
}

static int encode_time(const Column *c, const unsigned char *p, Py_ssize_t n, Buf *b) {
    int64_t frac;
    uint32_t v = (uint32_t)be(p, 3);
    if (fraction(c->a, p + 3, n - 3, &frac) < 0) {
        return -1;
    }
    int sign = (v & 0x800000) ? 1 : -1;
    if (sign < 0) {
        v = (0x1000000 - v) & 0xFFFFFF;
    }
    int64_t hours = (v >> 12) & 0x3FF, minutes = (v >> 6) & 0x3F, seconds = v & 0x3F;
    int64_t total = sign * (((hours * 60 + minutes) * 60 + seconds) * 1000000 + frac);
    if (total < 0 || total >= INT64_C(86400000000)) {
        return DECLINE; /* the converter raises */
    }
    return out_long(b, total);
}

static int encode_uuid(const unsigned char *p, Py_ssize_t n, Buf *b) {
    static const char hex[] = "0123456789abcdef";
    if (n > 16) {
        return DECLINE;
    }
    unsigned char raw[16] = {0};
    memcpy(raw, p, (size_t)n);
    char text[36];
    int t = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) {
            text[t++] = '-';
        }
        text[t++] = hex[raw[i] >> 4];
        text[t++] = hex[raw[i] & 0xF];
    }
    return out_blob(b, text, sizeof text);
}

static int encode_float(const Column *c, int kind, const unsigned char *p, Buf *b) {
    double d;
    if (c->layout == T_FLOAT) {
        uint32_t bits = (uint32_t)le(p, 4);
        float f;
        memcpy(&f, &bits, sizeof f);
        d = (double)f;
    } else {
        uint64_t bits = le(p, 8);
        memcpy(&d, &bits, sizeof d);
    }
    unsigned char out[8];
    if (kind == K_FLOAT ? PyFloat_Pack4(d, (char *)out, 1) : PyFloat_Pack8(d, (char *)out, 1)) {
        PyErr_Clear(); /* out of a float's range */
        return DECLINE;
    }
    return out_bytes(b, out, kind == K_FLOAT ? 4 : 8);
}

/* one non-NULL value, as the field's kind */
static int encode_value(const Column *c, const Field *f, const unsigned char *p, Py_ssize_t n,
                        Buf *b) {
    switch (c->form) {
    case F_INT:
        if (c->b) {
            uint64_t u = le(p, (int)n);
            if (u > (uint64_t)INT64_MAX) {
                return DECLINE;
            }
            return out_long(b, (int64_t)u);
        }
        return out_long(b, le_signed(p, (int)n));
    case F_BOOL:
        return out_byte(b, le(p, (int)n) != 0);
    case F_YEAR:
        return out_long(b, p[0] == 0 ? 0 : 1900 + p[0]);
    case F_DECIMAL:
        if (c->layout == T_LONGLONG) {
            uint64_t u = le(p, 8);
            int neg = !c->b && (int64_t)u < 0;
            uint64_t mag = neg ? (uint64_t)0 - u : u;
            uint32_t limbs[2] = {(uint32_t)mag, (uint32_t)(mag >> 32)};
            return out_decimal(b, limbs, 2, neg);
        }
        return encode_packed_decimal(c, p, n, b);
    case F_FLOAT:
        return encode_float(c, f->kind, p, b);
    case F_BIT:
        if (c->a == 1) {
            return out_byte(b, p[0] & 1);
        } else {
            unsigned char bits[8];
            int first = c->a % 8 ? c->a % 8 : 8;
            memcpy(bits, p, (size_t)n);
            bits[0] = (unsigned char)(p[0] & ((1 << first) - 1));
            return out_blob(b, bits, (size_t)n);
        }
    case F_TEXT:
        return encode_text(c, p, n, b);
    case F_BYTES: {
        Py_ssize_t size = n < c->pad ? c->pad : n;
        if (out_long(b, size) < 0 || out_bytes(b, p, (size_t)n) < 0 ||
            buf_reserve(b, (size_t)(size - n)) < 0) {
            return -1;
        }
        memset(b->p + b->len, 0, (size_t)(size - n));
        b->len += (size_t)(size - n);
        return 0;
    }
    case F_SET:
        return encode_set(c, p, b);
    case F_DATE: {
        uint32_t v = (uint32_t)le(p, 3);
        int y = (int)((v >> 9) & 0x7FFF), m = (int)((v >> 5) & 0xF), d = (int)(v & 0x1F);
        if (!valid_date(y, m, d)) {
            return DECLINE; /* a zero date (warned and null), or raised */
        }
        return out_long(b, days_from_civil(y, m, d));
    }
    case F_DATETIME:
        return encode_datetime(c, p, n, b);
    case F_TIMESTAMP:
        return encode_timestamp(c, p, n, b);
    case F_TIME:
        return encode_time(c, p, n, b);
    case F_GEOMETRY:
        return out_blob(b, n <= 4 ? p : p + 4, n <= 4 ? 0 : (size_t)(n - 4));
    case F_HOOK:
        return encode_uuid(p, n, b);
    default:
        return DECLINE;
    }
}

/* the framed record of fields[0..nf) of one row image; NULL with *declined set, or an error */
static PyObject *encode_record(RowEncoder *self, const Field *fields, Py_ssize_t nf,
                               uint32_t id, const Span *spans, int *declined) {
    Buf *b = &self->buf;
    b->len = 0;
    if (buf_reserve(b, 5) < 0) {
        return NULL;
    }
    put_prefix(b->p, id);
    b->len = 5;
    for (Py_ssize_t i = 0; i < nf; i++) {
        const Field *f = &fields[i];
        const Span *s = &spans[f->col];
        int rc;
        if (s->p == NULL) {
            rc = f->nullable ? out_byte(b, 0) : DECLINE;
        } else if (f->nullable && out_byte(b, 2) < 0) {
            rc = -1;
        } else {
            rc = encode_value(&self->decoder->cols[f->col], f, s->p, s->n, b);
        }
        if (rc != 0) {
            *declined = rc == DECLINE;
            return NULL;
        }
    }
    return PyBytes_FromStringAndSize((const char *)b->p, (Py_ssize_t)b->len);
}

static int append_pair(PyObject *list, PyObject *key, PyObject *value) {
    PyObject *item = PyTuple_Pack(2, key, value);
    Py_DECREF(key);
    Py_DECREF(value);
    if (item == NULL) {
        return -1;
    }
    int rc = PyList_Append(list, item);
    Py_DECREF(item);
    return rc;
}

/* 1 if the Python path may raise or warn for a value of this form (what encode_value
 * declines); the other forms always decode */
static int fallible(const Column *c) {
    switch (c->form) {
    case F_TEXT: case F_DATE: case F_DATETIME: case F_TIMESTAMP: case F_TIME: case F_HOOK:
        return 1;
    case F_DECIMAL:
        return c->layout == T_NEWDECIMAL;
    default:
        return 0;
    }
}

/* 0 if every value of an image marked in `check` decodes without a warning, else DECLINE
 * (or -1) */
static int check_image(RowEncoder *self, const Span *spans, const unsigned char *check) {
    Field any = {0, 0, K_DOUBLE, 0};
    for (Py_ssize_t i = 0; i < self->ncols; i++) {
        if (check[i] && spans[i].p != NULL) {
            self->scratch.len = 0;
            int rc = encode_value(&self->decoder->cols[i], &any, spans[i].p, spans[i].n,
                                  &self->scratch);
            if (rc != 0) {
                return rc;
            }
        }
    }
    return 0;
}

/* the records of one row event; None: declined */
static PyObject *RowEncoder_encode(RowEncoder *self, PyObject *args) {
    Py_buffer image;
    int op;
    if (self->decoder == NULL || self->decoder->cols == NULL ||
        self->decoder->ncols != self->ncols) {
        PyErr_SetString(PyExc_ValueError, "RowEncoder is not initialised");
        return NULL;
    }
    if (!PyArg_ParseTuple(args, "y*i", &image, &op)) {
        return NULL;
    }
    PyObject *out = NULL;
    int declined = 0;
    if (op < OP_WRITE || op > OP_UPDATE) {
        PyErr_Format(PyExc_ValueError, "op must be 0 (write), 1 (delete) or 2 (update), not %d", op);
        goto done;
    }
    if ((out = PyList_New(0)) == NULL) {
        goto done;
    }
    Reader r = {(const unsigned char *)image.buf, (const unsigned char *)image.buf + image.len};
    Span *first = self->spans, *second = self->spans + self->ncols;
    while (r.p < r.end) {
        if (span_row(self->decoder, &r, first) != 0 ||
            (op == OP_UPDATE && span_row(self->decoder, &r, second) != 0)) {
            declined = 1;
            goto done;
        }
        const Span *row = op == OP_UPDATE ? second : first;
        int checked = check_image(self, first, op == OP_WRITE ? self->check_written : self->check);
        if (checked == 0 && op == OP_UPDATE) {
            checked = check_image(self, second, self->check_written);
        }
        if (checked != 0) {
            declined = checked == DECLINE;
            goto done;
        }
        PyObject *key = encode_record(self, self->key, self->nkey, self->key_id, row, &declined);
        if (key == NULL) {
            goto done;
        }
        if (op == OP_UPDATE) {
            PyObject *old = encode_record(self, self->key, self->nkey, self->key_id, first,
                                          &declined);
            if (old == NULL) {
                Py_DECREF(key);
                goto done;
            }
            int same = PyBytes_GET_SIZE(old) == PyBytes_GET_SIZE(key) &&
                       memcmp(PyBytes_AS_STRING(old), PyBytes_AS_STRING(key),
                              (size_t)PyBytes_GET_SIZE(key)) == 0;
            if (same) {
                Py_DECREF(old);
            } else if (self->key_float) {
                Py_DECREF(old);
                Py_DECREF(key);
                declined = 1;
                goto done;
            } else {
                Py_INCREF(Py_None);
                if (append_pair(out, old, Py_None) < 0) { /* the old key's tombstone first */
                    Py_DECREF(key);
                    goto done;
                }
            }
        }
        PyObject *value = Py_None;
        if (op == OP_DELETE) {
            Py_INCREF(value);
        } else if ((value = encode_record(self, self->value, self->nvalue, self->value_id, row,
                                          &declined)) == NULL) {
            Py_DECREF(key);
            goto done;
        }
        if (append_pair(out, key, value) < 0) {
            goto done;
        }
    }
    PyBuffer_Release(&image);
    return out;
done:
    PyBuffer_Release(&image);
    Py_CLEAR(out);
    if (declined && !PyErr_Occurred()) {
        Py_RETURN_NONE;
    }
    return NULL;
}

/* 1 if a field of `kind` can be written from column c's form exactly as the Python path */
static int kind_serves(const Column *c, int kind, int scale) {
    switch (c->form) {
    case F_INT: case F_YEAR: return kind == K_LONG;
    case F_BOOL: return kind == K_BOOLEAN;
    case F_DECIMAL:
        return kind == K_DECIMAL && scale == (c->layout == T_NEWDECIMAL ? c->b : 0);
    case F_FLOAT: return kind == K_FLOAT || kind == K_DOUBLE;
    case F_BIT: return kind == (c->a == 1 ? K_BOOLEAN : K_BYTES);
    case F_TEXT: case F_SET: return kind == K_STRING;
    case F_BYTES: case F_GEOMETRY: return kind == K_BYTES;
    case F_DATE: return kind == K_DATE;
    case F_DATETIME: case F_TIMESTAMP: return kind == K_TIMESTAMP;
    case F_TIME: return kind == K_TIME;
    case F_HOOK: return kind == K_UUID && c->encoding == NULL; /* UUID's 16 bytes */
    default: return 0;
    }
}

static int parse_fields(RowEncoder *self, PyObject *specs, Field **out, Py_ssize_t *n,
                        int *has_float) {
    if (!PyTuple_Check(specs)) {
        PyErr_SetString(PyExc_TypeError, "fields must be a tuple");
        return -1;
    }
    *n = PyTuple_GET_SIZE(specs);
    *out = PyMem_Calloc((size_t)(*n ? *n : 1), sizeof(Field));
    if (*out == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < *n; i++) {
        Field *f = &(*out)[i];
        PyObject *spec = PyTuple_GET_ITEM(specs, i);
        if (!PyTuple_Check(spec) ||
            !PyArg_ParseTuple(spec, "npii;a field is (column, nullable, kind, scale)", &f->col,
                              &f->nullable, &f->kind, &f->scale)) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_TypeError, "a field spec must be a tuple");
            }
            return -1;
        }
        if (f->col < 0 || f->col >= self->ncols ||
            !kind_serves(&self->decoder->cols[f->col], f->kind, f->scale)) {
            PyErr_Format(PyExc_ValueError, "field %zd: kind %d not written from its column", i,
                         f->kind);
            return -1;
        }
        if (has_float != NULL && (f->kind == K_FLOAT || f->kind == K_DOUBLE)) {
            *has_float = 1;
        }
    }
    return 0;
}

static void clear_encoder(RowEncoder *self) {
    Py_CLEAR(self->decoder);
    PyMem_Free(self->value);
    PyMem_Free(self->key);
    PyMem_Free(self->spans);
    PyMem_Free(self->check);
    PyMem_Free(self->check_written);
    PyMem_Free(self->buf.p);
    PyMem_Free(self->scratch.p);
    self->value = self->key = NULL;
    self->spans = NULL;
    self->check = self->check_written = NULL;
    self->buf.p = self->scratch.p = NULL;
    self->buf.len = self->buf.cap = self->scratch.len = self->scratch.cap = 0;
    self->nvalue = self->nkey = self->ncols = 0;
    self->key_float = 0;
}

static void RowEncoder_dealloc(RowEncoder *self) {
    clear_encoder(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int RowEncoder_init(RowEncoder *self, PyObject *args, PyObject *kwds) {
    static char *keywords[] = {"decoder", "value", "key", "value_id", "key_id", NULL};
    PyObject *decoder, *value, *key;
    unsigned long value_id, key_id;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!OOkk", keywords, &RowDecoderType, &decoder,
                                     &value, &key, &value_id, &key_id)) {
        return -1;
    }
    clear_encoder(self);
    RowDecoder *d = (RowDecoder *)decoder;
    if (d->cols == NULL || value_id > UINT32_MAX || key_id > UINT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "an initialised decoder and 32-bit schema ids");
        return -1;
    }
    Py_INCREF(decoder);
    self->decoder = d;
    self->ncols = d->ncols;
    self->value_id = (uint32_t)value_id;
    self->key_id = (uint32_t)key_id;
    self->spans = PyMem_Calloc((size_t)(2 * d->ncols + 1), sizeof(Span));
    self->check = PyMem_Calloc((size_t)(d->ncols + 1), 1);
    self->check_written = PyMem_Calloc((size_t)(d->ncols + 1), 1);
    if (self->spans == NULL || self->check == NULL || self->check_written == NULL) {
        PyErr_NoMemory();
        clear_encoder(self);
        return -1;
    }
    if (parse_fields(self, value, &self->value, &self->nvalue, NULL) < 0 ||
        parse_fields(self, key, &self->key, &self->nkey, &self->key_float) < 0) {
        clear_encoder(self);
        return -1;
    }
    for (Py_ssize_t i = 0; i < d->ncols; i++) {
        self->check[i] = self->check_written[i] = (unsigned char)fallible(&d->cols[i]);
    }
    for (Py_ssize_t i = 0; i < self->nvalue; i++) {
        self->check_written[self->value[i].col] = 0;
    }
    return 0;
}

static PyMethodDef RowEncoder_methods[] = {
    {"encode", (PyCFunction)RowEncoder_encode, METH_VARARGS,
     "encode(image, op) -> list of (key, value) records, or None (declined): one row event's "
     "records; value None for a delete, and an update that changed the key first gives "
     "(old key, None)."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject RowEncoderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "strangler.connectors.mysql._speedups.RowEncoder",
    .tp_basicsize = sizeof(RowEncoder),
    .tp_dealloc = (destructor)RowEncoder_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "RowEncoder(decoder, value, key, value_id, key_id): a table version's row "
              "events as its published Avro records.",
    .tp_methods = RowEncoder_methods,
    .tp_init = (initproc)RowEncoder_init,
    .tp_new = PyType_GenericNew,
};

/* ---- snapshot rows: the text protocol ----------------------------------------------------
 *
 * A SELECT's row packet is one length-encoded string per column (0xFB: NULL). pymysql decodes
 * each with the field's encoding (None for binary fields) and TableCodec.from_text converts
 * it. TextDecoder builds the converted value directly where the text is in the server's
 * canonical form (digits, 'YYYY-MM-DD HH:MM:SS.ffffff', ...) and otherwise calls the column's
 * from_text ("hook") with the value pymysql would have made, so anything unusual (zero dates,
 * durations, out-of-range values) is the Python path's own result or error. Columns use the
 * same Column struct: `enc`/`utf8`/`encoding` are pymysql's decoding of the field, `a` the
 * bit width, `pad` binary(n)'s width. */

typedef RowDecoder TextDecoder; /* zero_date unused */

static int read_lenenc(Reader *r, Py_ssize_t *len, int *null) {
    const unsigned char *p;
    if (take(r, 1, &p) < 0) {
        return -1;
    }
    *null = 0;
    int n = 0;
    switch (p[0]) {
    case 0xFB: *null = 1; return 0;
    case 0xFC: n = 2; break;
    case 0xFD: n = 3; break;
    case 0xFE: n = 8; break;
    case 0xFF:
        PyErr_SetString(PyExc_ValueError, "malformed row packet: 0xFF length");
        return -1;
    default: *len = p[0]; return 0;
    }
    if (take(r, n, &p) < 0) {
        return -1;
    }
    uint64_t v = le(p, n);
    if (v > (uint64_t)PY_SSIZE_T_MAX) {
        return truncated();
    }
    *len = (Py_ssize_t)v;
    return 0;
}

/* the converter on the value pymysql gives: text decoded with the field's encoding, or bytes */
static PyObject *text_hook(const Column *c, const unsigned char *p, Py_ssize_t len) {
    return call_hook(c, string_value(c, p, len));
}

/* digits in p[0..n), or -1 */
static int64_t text_digits(const unsigned char *p, Py_ssize_t n) {
    if (n <= 0 || n > 18) {
        return -1;
    }
    int64_t v = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9') {
            return -1;
        }
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

static int canonical_int(const unsigned char *p, Py_ssize_t len, long long *out) {
    int negative = len > 0 && p[0] == '-';
    int64_t v = text_digits(p + negative, len - negative);
    if (v < 0 || (len - negative > 1 && p[negative] == '0')) {
        return 0;
    }
    *out = negative ? -(long long)v : (long long)v;
    return 1;
}

/* 'YYYY-MM-DD' at p; 1 if canonical with a nonzero year, month and day */
static int canonical_date(const unsigned char *p, int *y, int *m, int *d) {
    if (p[4] != '-' || p[7] != '-') {
        return 0;
    }
    int64_t yy = text_digits(p, 4), mm = text_digits(p + 5, 2), dd = text_digits(p + 8, 2);
    if (yy <= 0 || mm <= 0 || dd <= 0) {
        return 0;
    }
    *y = (int)yy, *m = (int)mm, *d = (int)dd;
    return 1;
}

/* 'HH:MM:SS[.f{1,6}]' at p (n bytes); 1 if canonical within one day */
static int canonical_clock(const unsigned char *p, Py_ssize_t n, int *h, int *mi, int *s, int *us) {
    if (n < 8 || p[2] != ':' || p[5] != ':') {
        return 0;
    }
    int64_t hh = text_digits(p, 2), mm = text_digits(p + 3, 2), ss = text_digits(p + 6, 2);
    if (hh < 0 || hh > 23 || mm < 0 || mm > 59 || ss < 0 || ss > 59) {
        return 0;
    }
    int64_t micros = 0;
    if (n > 8) {
        Py_ssize_t f = n - 9;
        if (p[8] != '.' || f < 1 || f > 6 || (micros = text_digits(p + 9, f)) < 0) {
            return 0;
        }
        for (Py_ssize_t i = f; i < 6; i++) {
            micros *= 10;
        }
    }
    *h = (int)hh, *mi = (int)mm, *s = (int)ss, *us = (int)micros;
    return 1;
}

static PyObject *text_value(const Column *c, const unsigned char *p, Py_ssize_t len) {
    long long v;
    int y, m, d, h, mi, s, us;
    switch (c->form) {
    case F_INT: case F_YEAR:
        return canonical_int(p, len, &v) ? PyLong_FromLongLong(v) : text_hook(c, p, len);
    case F_BOOL:
        return canonical_int(p, len, &v) ? PyBool_FromLong(v != 0) : text_hook(c, p, len);
    case F_TEXT: case F_SET:
        if (c->encoding == NULL || c->utf8) { /* bytes or UTF-8: str as UTF-8 (types._to_text) */
            return PyUnicode_DecodeUTF8((const char *)p, len, "strict");
        }
        return string_value(c, p, len);
    case F_BYTES:
        return c->encoding != NULL ? text_hook(c, p, len) : padded_bytes(p, len, c->pad);
    case F_BIT:
        if (c->encoding != NULL) {
            return text_hook(c, p, len);
        }
        if (c->a == 1) {
            return PyBool_FromLong(!(len == 1 && p[0] == 0));
        } else {
            Py_ssize_t nbytes = (c->a + 7) / 8;
            Py_ssize_t size = len < nbytes ? nbytes : len;
            PyObject *out = PyBytes_FromStringAndSize(NULL, size);
            if (out != NULL) {
                memset(PyBytes_AS_STRING(out), 0, (size_t)(size - len));
                memcpy(PyBytes_AS_STRING(out) + (size - len), p, (size_t)len);
            }
            return out;
        }
    case F_GEOMETRY:
        if (c->encoding != NULL) {
            return text_hook(c, p, len);
        }
        return PyBytes_FromStringAndSize(len <= 4 ? "" : (const char *)p + 4, len <= 4 ? 0 : len - 4);
    case F_DATE:
        if (len == 10 && canonical_date(p, &y, &m, &d)) {
            PyObject *out = PyDate_FromDate(y, m, d);
            if (out != NULL || !PyErr_ExceptionMatches(PyExc_ValueError)) {
                return out;
            }
            PyErr_Clear();
        }
        return text_hook(c, p, len);
    case F_DATETIME: case F_TIMESTAMP:
        if (len >= 19 && p[10] == ' ' && canonical_date(p, &y, &m, &d) &&
            canonical_clock(p + 11, len - 11, &h, &mi, &s, &us)) {
            PyObject *out = utc_datetime(y, m, d, h, mi, s, us);
            if (out != NULL || !PyErr_ExceptionMatches(PyExc_ValueError)) {
                return out;
            }
            PyErr_Clear();
        }
        return text_hook(c, p, len);
    case F_TIME:
        if (canonical_clock(p, len, &h, &mi, &s, &us)) {
            return PyTime_FromTime(h, mi, s, us);
        }
        return text_hook(c, p, len);
    default: /* F_DECIMAL, F_FLOAT, F_HOOK: Decimal(str), float(str), the converter */
        return text_hook(c, p, len);
    }
}

static PyObject *TextDecoder_decode(TextDecoder *self, PyObject *arg) {
    Py_buffer packet;
    if (self->cols == NULL) {
        PyErr_SetString(PyExc_ValueError, "TextDecoder is not initialised");
        return NULL;
    }
    if (PyObject_GetBuffer(arg, &packet, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    Reader r = {(const unsigned char *)packet.buf, (const unsigned char *)packet.buf + packet.len};
    PyObject *row = PyDict_New();
    for (Py_ssize_t i = 0; row != NULL && i < self->ncols; i++) {
        const Column *c = &self->cols[i];
        Py_ssize_t len = 0;
        int null;
        const unsigned char *p;
        PyObject *value = NULL;
        if (read_lenenc(&r, &len, &null) == 0) {
            if (null) {
                value = Py_None;
                Py_INCREF(value);
            } else if (take(&r, len, &p) == 0) {
                value = text_value(c, p, len);
            }
        }
        if (value == NULL || PyDict_SetItem(row, c->name, value) < 0) {
            Py_CLEAR(row);
        }
        Py_XDECREF(value);
    }
    if (row != NULL && r.p != r.end) {
        PyErr_SetString(PyExc_ValueError, "row packet longer than its columns");
        Py_CLEAR(row);
    }
    PyBuffer_Release(&packet);
    return row;
}

static int TextDecoder_init(TextDecoder *self, PyObject *args, PyObject *kwds) {
    static char *keywords[] = {"columns", NULL};
    PyObject *columns;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "O!", keywords, &PyTuple_Type, &columns)) {
        return -1;
    }
    clear_columns(self);
    Py_ssize_t n = PyTuple_GET_SIZE(columns);
    self->cols = PyMem_Calloc((size_t)(n ? n : 1), sizeof(Column));
    if (self->cols == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->ncols = n;
    for (Py_ssize_t i = 0; i < n; i++) {
        Column *c = &self->cols[i];
        PyObject *name, *encoding, *hook;
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(columns, i),
                              "UiiiOO;a text column is (name, form, bits, pad, encoding, hook)",
                              &name, &c->form, &c->a, &c->pad, &encoding, &hook)) {
            clear_columns(self);
            return -1;
        }
        Py_INCREF(name);
        PyUnicode_InternInPlace(&name);
        c->name = name;
        Py_INCREF(hook);
        c->hook = hook;
        if (c->form < F_INT || c->form > F_HOOK || c->pad < 0 || c->a < 0 || c->a > 64 ||
            !PyCallable_Check(hook)) {
            PyErr_Format(PyExc_ValueError, "text column %R: unsupported spec", name);
            clear_columns(self);
            return -1;
        }
        if (set_encoding(c, encoding) < 0) {
            clear_columns(self);
            return -1;
        }
    }
    return 0;
}

static PyMethodDef TextDecoder_methods[] = {
    {"decode", (PyCFunction)TextDecoder_decode, METH_O,
     "decode(packet) -> dict: one text-protocol row packet's converted values."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject TextDecoderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "strangler.connectors.mysql._speedups.TextDecoder",
    .tp_basicsize = sizeof(TextDecoder),
    .tp_dealloc = (destructor)RowDecoder_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "TextDecoder(columns): converts a SELECT's text-protocol row packets.",
    .tp_methods = TextDecoder_methods,
    .tp_init = (initproc)TextDecoder_init,
    .tp_new = PyType_GenericNew,
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_speedups",
    .m_doc = "Native hot paths of the MySQL connector.",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__speedups(void) {
    PyDateTime_IMPORT;
    if (PyDateTimeAPI == NULL) {
        return NULL;
    }
    PyObject *decimal = PyImport_ImportModule("decimal");
    if (decimal == NULL) {
        return NULL;
    }
    DecimalType = PyObject_GetAttrString(decimal, "Decimal");
    Py_DECREF(decimal);
    if (DecimalType == NULL) {
        return NULL;
    }
    Epoch = PyDateTime_FromDateAndTime(1970, 1, 1, 0, 0, 0, 0);
    if (Epoch == NULL || PyType_Ready(&RowDecoderType) < 0 || PyType_Ready(&TextDecoderType) < 0 ||
        PyType_Ready(&RowEncoderType) < 0) {
        return NULL;
    }
    PyObject *module = PyModule_Create(&speedups_module);
    if (module == NULL) {
        return NULL;
    }
    Py_INCREF(&RowDecoderType);
    if (PyModule_AddObject(module, "RowDecoder", (PyObject *)&RowDecoderType) < 0) {
        Py_DECREF(&RowDecoderType);
        Py_DECREF(module);
        return NULL;
    }
    Py_INCREF(&RowEncoderType);
    if (PyModule_AddObject(module, "RowEncoder", (PyObject *)&RowEncoderType) < 0) {
        Py_DECREF(&RowEncoderType);
        Py_DECREF(module);
        return NULL;
    }
    Py_INCREF(&TextDecoderType);
    if (PyModule_AddObject(module, "TextDecoder", (PyObject *)&TextDecoderType) < 0) {
        Py_DECREF(&TextDecoderType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
