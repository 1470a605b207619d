/* Native hot path of the PostgreSQL connector: rows in PostgreSQL's text form straight to
 * Confluent-framed Avro key and value records (magic byte 0, 4-byte big-endian schema id, Avro
 * binary), byte for byte what RowDecoder + FastTableSerializer write.
 *
 * An Encoder is configured once per table schema (native.py builds the plan: a type code and
 * scale per source column, the value fields and the key fields) and then called once per chunk
 * of COPY text (`encode`). Every value is parsed strictly in the one form the connector's session
 * settings (pgtext.SESSION_SETTINGS: DateStyle ISO, TimeZone UTC, bytea hex, UTF-8) make the
 * server write; anything else (another form, an out-of-range value, a NULL where the record
 * has no null, a wrong field count, invalid UTF-8) is not guessed at: the row is *declined*, its
 * key and value are None and its index is listed, and the caller encodes it through the Python
 * path, which writes it or raises its clear error. Only data that cannot be split into rows at
 * all (not ending in a newline) raises here.
 *
 * The per-field parsers work on (pointer, length) slices of already unescaped text, so the
 * streaming path can use the same Encoder on pgoutput's text tuple values (no COPY escapes
 * there): `encode_values` takes one row as a sequence of str / None.
 */
#include "../avro_text.h"

/* Type codes: keep in step with native.py (_CODES). */
enum {
    T_SKIP = 0,   /* an excluded column of a type not handled here: only checked for UTF-8 */
    T_INT = 1,    /* smallint, integer: Avro int */
    T_LONG = 2,   /* bigint, oid: Avro long */
    T_BOOL = 3,
    T_FLOAT = 4,  /* real: Avro float */
    T_DOUBLE = 5, /* double precision */
    T_STRING = 6, /* text, varchar, char, name, json(b), enums, unconstrained numeric… */
    T_DECIMAL = 7,
    T_DATE = 8,
    T_TIME = 9,
    T_TIMESTAMP = 10, /* timestamp and timestamptz: timestamp-micros, UTC */
    T_UUID = 11,
    T_BYTEA = 12,
    T_LAST = 12,
};

/* ---- text parsing (PostgreSQL-only; the shared parsers are in avro_text.h) --------------- */

static int parse_time_text(const unsigned char *s, size_t n, int64_t *micros) {
    int h, mi, sec, us;
    size_t used;
    if (parse_clock(s, n, &h, &mi, &sec, &us, &used) || used != n) return DECLINE;
    if (h == 24) { /* PostgreSQL's 24:00:00; pgtext makes it time.max, whatever follows */
        *micros = DAY_US - 1;
        return 0;
    }
    if (h > 23 || mi > 59 || sec > 59) return DECLINE;
    *micros = ((int64_t)h * 3600 + mi * 60 + sec) * 1000000 + us;
    return 0;
}

static int hexval(unsigned char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* COPY text escapes (copytext.py): \b \f \n \r \t \v \\, octal \ooo (low 8 bits), hex \xh[h];
 * any other escaped character stands for itself. Digits 8 and 9 (which copytext.py cannot
 * read) and a lone backslash at the end decline. Writes at most n bytes to out. */
static int unescape(const unsigned char *s, size_t n, unsigned char *out, size_t *out_len) {
    size_t i = 0, o = 0;
    while (i < n) {
        unsigned char c = s[i++];
        if (c != '\\') {
            out[o++] = c;
            continue;
        }
        if (i == n) return DECLINE;
        c = s[i++];
        switch (c) {
        case 'b': out[o++] = '\b'; break;
        case 'f': out[o++] = '\f'; break;
        case 'n': out[o++] = '\n'; break;
        case 'r': out[o++] = '\r'; break;
        case 't': out[o++] = '\t'; break;
        case 'v': out[o++] = '\v'; break;
        case '8':
        case '9': return DECLINE;
        case 'x':
            if (i < n && hexval(s[i]) >= 0) {
                int v = hexval(s[i++]);
                if (i < n && hexval(s[i]) >= 0) v = v * 16 + hexval(s[i++]);
                out[o++] = (unsigned char)v;
            } else
                out[o++] = 'x';
            break;
        default:
            if (c >= '0' && c <= '7') {
                int v = c - '0';
                for (int k = 0; k < 2 && i < n && s[i] >= '0' && s[i] <= '7'; k++) v = v * 8 + (s[i++] - '0');
                out[o++] = (unsigned char)(v & 0xFF);
            } else
                out[o++] = c;
        }
    }
    *out_len = o;
    return 0;
}

/* ---- the field encoders: text slice -> Avro binary at out --------------------------------- */

static int enc_bytea(const unsigned char *s, size_t n, unsigned char *out, size_t *len) {
    /* hex form "\x0aff" (bytea_output=hex); the escape form declines */
    if (n < 2 || s[0] != '\\' || s[1] != 'x' || (n - 2) % 2) return DECLINE;
    size_t size = (n - 2) / 2;
    size_t head = put_long(out, (int64_t)size);
    for (size_t j = 0; j < size; j++) {
        int hi = hexval(s[2 + 2 * j]), lo = hexval(s[3 + 2 * j]);
        if (hi < 0 || lo < 0) return DECLINE;
        out[head + j] = (unsigned char)(hi * 16 + lo);
    }
    *len = head + size;
    return 0;
}

/* One field's text (unescaped) encoded at out, which has room for n + 16 + scale bytes. */
static int encode_field(int code, int scale, const unsigned char *s, size_t n, unsigned char *out,
                        size_t *len, uint32_t *limbs) {
    int64_t v;
    switch (code) {
    case T_INT:
    case T_LONG:
        if (parse_int64(s, n, &v)) return DECLINE;
        *len = put_long(out, v);
        return 0;
    case T_BOOL:
        if (n != 1 || (s[0] != 't' && s[0] != 'f')) return DECLINE;
        out[0] = s[0] == 't';
        *len = 1;
        return 0;
    case T_FLOAT:
    case T_DOUBLE:
        return enc_float(s, n, out, len, code == T_FLOAT);
    case T_STRING:
        if (!valid_utf8(s, n)) return DECLINE;
        *len = put_long(out, (int64_t)n);
        memcpy(out + *len, s, n);
        *len += n;
        return 0;
    case T_DECIMAL:
        return enc_decimal(s, n, scale, out, len, limbs);
    case T_DATE:
        if (parse_date_text(s, n, &v)) return DECLINE;
        *len = put_long(out, v);
        return 0;
    case T_TIME:
        if (parse_time_text(s, n, &v)) return DECLINE;
        *len = put_long(out, v);
        return 0;
    case T_TIMESTAMP:
        if (parse_timestamp_text(s, n, &v)) return DECLINE;
        *len = put_long(out, v);
        return 0;
    case T_UUID:
        return enc_uuid(s, n, out, len);
    case T_BYTEA:
        return enc_bytea(s, n, out, len);
    default: /* T_SKIP */
        *len = 0;
        return valid_utf8(s, n) ? 0 : DECLINE;
    }
}

/* ---- the Encoder type --------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    Py_ssize_t ncols;
    int *codes, *scales; /* per source column */
    RecordPlan plan;     /* the value and key fields */
    int max_scale;
} Encoder;

static void encoder_dealloc(Encoder *self) {
    PyMem_Free(self->codes);
    PyMem_Free(self->scales);
    plan_free(&self->plan);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int encoder_init(Encoder *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"columns", "value_fields", "key_fields", "key_schema_id",
                             "value_schema_id", NULL};
    PyObject *columns, *value_fields, *key_fields;
    unsigned long key_id, value_id;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOkk", kwlist, &columns, &value_fields,
                                     &key_fields, &key_id, &value_id))
        return -1;
    if (self->codes != NULL) {
        PyErr_SetString(PyExc_TypeError, "Encoder is configured once");
        return -1;
    }
    PyObject *fast = PySequence_Fast(columns, "columns: a sequence of (code, scale)");
    if (fast == NULL) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    self->codes = PyMem_Calloc(n ? (size_t)n : 1, sizeof(int));
    self->scales = PyMem_Calloc(n ? (size_t)n : 1, sizeof(int));
    if (self->codes == NULL || self->scales == NULL) {
        Py_DECREF(fast);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        int code, scale;
        PyObject *item = PySequence_Fast_GET_ITEM(fast, i);
        if (!PyTuple_Check(item)) {
            Py_DECREF(fast);
            PyErr_SetString(PyExc_TypeError, "columns: expected (code, scale) tuples");
            return -1;
        }
        if (!PyArg_ParseTuple(item, "ii", &code, &scale)) {
            Py_DECREF(fast);
            return -1;
        }
        if (code < 0 || code > T_LAST || scale < 0 || scale > 100000) {
            Py_DECREF(fast);
            PyErr_Format(PyExc_ValueError, "column %zd: bad type code %d or scale %d", i, code,
                         scale);
            return -1;
        }
        self->codes[i] = code;
        self->scales[i] = scale;
        if (scale > self->max_scale) self->max_scale = scale;
    }
    Py_DECREF(fast);
    self->ncols = n;
    return plan_init(&self->plan, value_fields, key_fields, n, self->codes, T_SKIP, key_id,
                     value_id);
}

/* Per-row scratch: where each source column's encoding is (or NULL) in the work buffer. */
typedef struct {
    Buf work;       /* unescaped text and encodings of the current row */
    Slot *slots;
    const unsigned char **starts; /* each column's text; NULL: SQL NULL (plain values) */
    size_t *lens;
    uint32_t *limbs;
    size_t limbs_cap;
    int copy;       /* COPY text (\N is NULL, backslash escapes) rather than plain values */
} Scratch;

static int scratch_init(Encoder *self, Scratch *w, int copy) {
    size_t ncols = self->ncols ? (size_t)self->ncols : 1;
    w->copy = copy;
    w->slots = PyMem_Calloc(ncols, sizeof *w->slots);
    w->starts = PyMem_Calloc(ncols, sizeof *w->starts);
    w->lens = PyMem_Calloc(ncols, sizeof *w->lens);
    if (w->slots == NULL || w->starts == NULL || w->lens == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    return 0;
}

static void scratch_free(Scratch *w) {
    PyMem_Free(w->work.p);
    PyMem_Free(w->slots);
    PyMem_Free(w->starts);
    PyMem_Free(w->lens);
    PyMem_Free(w->limbs);
}

static int ensure_limbs(Scratch *w, size_t n) {
    if (n <= w->limbs_cap) return 0;
    uint32_t *p = PyMem_Realloc(w->limbs, n * sizeof *p);
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    w->limbs = p;
    w->limbs_cap = n;
    return 0;
}

/* Encodes column c of the current row into its slot; DECLINE, or -1 with an exception set. */
static int encode_column(Encoder *self, Scratch *w, Py_ssize_t c) {
    Slot *slot = &w->slots[c];
    if (slot->done) return 0;
    const unsigned char *s = w->starts[c];
    size_t n = w->lens[c];
    slot->done = 1;
    if (s == NULL || (w->copy && n == 2 && s[0] == '\\' && s[1] == 'N')) {
        slot->null = 1;
        return 0;
    }
    int scale = self->scales[c];
    if (buf_reserve(&w->work, 2 * n + 32 + (size_t)scale)) return -1;
    if (w->copy && memchr(s, '\\', n) != NULL) {
        size_t m;
        if (unescape(s, n, w->work.p + w->work.len, &m)) return DECLINE;
        s = w->work.p + w->work.len; /* the unescaped text, just before the encoding */
        w->work.len += m;
        n = m;
    }
    if (self->codes[c] == T_DECIMAL && ensure_limbs(w, (n + (size_t)scale) / 9 + 3)) return -1;
    size_t len;
    unsigned char *out = w->work.p + w->work.len;
    if (encode_field(self->codes[c], scale, s, n, out, &len, w->limbs)) return DECLINE;
    slot->off = w->work.len;
    slot->len = len;
    w->work.len += len;
    return 0;
}

/* The record of `fields` (column indexes) as bytes, or Py_None (declined), or NULL (error). */
static PyObject *record(Encoder *self, Scratch *w, const unsigned char *prefix,
                        const Py_ssize_t *fields, const int *nullable, Py_ssize_t count) {
    for (Py_ssize_t i = 0; i < count; i++) {
        int r = encode_column(self, w, fields[i]);
        if (r < 0) return NULL;
        if (r == DECLINE) Py_RETURN_NONE;
    }
    return record_bytes(prefix, w->slots, w->work.p, fields, nullable, count);
}

/* Splits the line into fields; 0 if it has exactly ncols of them. */
static int split(Encoder *self, Scratch *w, const unsigned char *line, size_t n) {
    Py_ssize_t c = 0;
    size_t start = 0;
    for (size_t i = 0; i <= n; i++) {
        if (i == n || line[i] == '\t') {
            if (c == self->ncols) return DECLINE;
            w->starts[c] = line + start;
            w->lens[c] = i - start;
            c++;
            start = i + 1;
        }
    }
    return c == self->ncols ? 0 : DECLINE;
}

static void decline(PyObject **key, PyObject **value) {
    Py_XDECREF(*key);
    Py_XDECREF(*value);
    Py_INCREF(Py_None);
    Py_INCREF(Py_None);
    *key = *value = Py_None;
}

/* Encodes the row whose column texts are in w (starts, lens); sets *key and *value (new
 * references, Py_None when declined). */
static int encode_row(Encoder *self, Scratch *w, PyObject **key, PyObject **value) {
    *key = *value = NULL;
    w->work.len = 0;
    memset(w->slots, 0, (size_t)self->ncols * sizeof *w->slots);
    for (Py_ssize_t c = 0; c < self->ncols; c++) { /* every column, as RowDecoder parses all */
        int r = encode_column(self, w, c);
        if (r < 0) return -1;
        if (r == DECLINE) goto declined;
    }
    const RecordPlan *plan = &self->plan;
    *value = record(self, w, plan->value_prefix, plan->value_cols, plan->value_nullable,
                    plan->nvalue);
    if (*value == NULL) return -1;
    if (*value == Py_None) goto declined;
    *key = record(self, w, plan->key_prefix, plan->key_cols, NULL, plan->nkey);
    if (*key == NULL) {
        Py_CLEAR(*value);
        return -1;
    }
    if (*key == Py_None) goto declined;
    return 0;
declined:
    decline(key, value);
    return 0;
}

static int encode_line(Encoder *self, Scratch *w, const unsigned char *line, size_t n,
                       PyObject **key, PyObject **value) {
    if (split(self, w, line, n)) {
        *key = *value = NULL;
        decline(key, value);
        return 0;
    }
    return encode_row(self, w, key, value);
}

PyDoc_STRVAR(encode_doc,
"encode(data) -> (keys, values, declined)\n\n"
"Every row of ``data`` (COPY text: whole lines, each ending in a newline) as Confluent-framed\n"
"Avro key and value records; a declined row's key and value are None and its index is in\n"
"``declined`` (encode it through the Python path). ValueError if ``data`` does not end at a row\n"
"boundary.");

static PyObject *encoder_encode(Encoder *self, PyObject *arg) {
    Py_buffer view;
    if (self->codes == NULL) {
        PyErr_SetString(PyExc_TypeError, "Encoder is not configured");
        return NULL;
    }
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    const unsigned char *data = view.buf;
    size_t size = (size_t)view.len;
    PyObject *keys = NULL, *values = NULL, *declined = NULL, *result = NULL;
    Scratch w = {0};
    if (size > 0 && data[size - 1] != '\n') {
        PyErr_SetString(PyExc_ValueError, "COPY data does not end at a row boundary");
        goto done;
    }
    if (scratch_init(self, &w, 1)) goto done;
    keys = PyList_New(0);
    values = PyList_New(0);
    declined = PyList_New(0);
    if (keys == NULL || values == NULL || declined == NULL) goto done;
    size_t pos = 0;
    Py_ssize_t row = 0;
    while (pos < size) {
        const unsigned char *end = memchr(data + pos, '\n', size - pos); /* never NULL */
        size_t n = (size_t)(end - (data + pos));
        PyObject *key, *value;
        if (encode_line(self, &w, data + pos, n, &key, &value) < 0) goto done;
        int failed = PyList_Append(keys, key) < 0 || PyList_Append(values, value) < 0;
        if (!failed && key == Py_None) {
            PyObject *index = PyLong_FromSsize_t(row);
            failed = index == NULL || PyList_Append(declined, index) < 0;
            Py_XDECREF(index);
        }
        Py_DECREF(key);
        Py_DECREF(value);
        if (failed) goto done;
        pos += n + 1;
        row++;
    }
    result = PyTuple_Pack(3, keys, values, declined);
done:
    scratch_free(&w);
    Py_XDECREF(keys);
    Py_XDECREF(values);
    Py_XDECREF(declined);
    PyBuffer_Release(&view);
    return result;
}

/* The (key, value) records of the row whose column texts are in w; None when declined, NULL on
 * error. */
static PyObject *row_records(Encoder *self, Scratch *w) {
    PyObject *key, *value, *result;
    if (encode_row(self, w, &key, &value) < 0) return NULL;
    if (key == Py_None) {
        result = Py_None;
        Py_INCREF(result);
    } else
        result = PyTuple_Pack(2, key, value);
    Py_DECREF(key);
    Py_DECREF(value);
    return result;
}

PyDoc_STRVAR(encode_values_doc,
"encode_values(values) -> (key, value) | None\n\n"
"One row given as its columns' text values (``str``, or None for NULL), as pgoutput's\n"
"TupleData carries them (no COPY escapes): the key and value records, or None when declined\n"
"(any other value, e.g. an unchanged TOAST marker or binary data, declines too).");

static PyObject *encoder_encode_values(Encoder *self, PyObject *arg) {
    if (self->codes == NULL) {
        PyErr_SetString(PyExc_TypeError, "Encoder is not configured");
        return NULL;
    }
    PyObject *fast = PySequence_Fast(arg, "values: a sequence of str or None");
    if (fast == NULL) return NULL;
    PyObject *result = NULL;
    Scratch w = {0};
    if (scratch_init(self, &w, 0)) goto done;
    if (PySequence_Fast_GET_SIZE(fast) != self->ncols) goto declined;
    for (Py_ssize_t c = 0; c < self->ncols; c++) {
        PyObject *item = PySequence_Fast_GET_ITEM(fast, c);
        Py_ssize_t n = 0;
        if (item == Py_None) {
            w.starts[c] = NULL;
            continue;
        }
        if (!PyUnicode_CheckExact(item)) goto declined;
        const char *text = PyUnicode_AsUTF8AndSize(item, &n); /* kept by the str object */
        if (text == NULL) {
            PyErr_Clear(); /* a lone surrogate: the Python path explains */
            goto declined;
        }
        w.starts[c] = (const unsigned char *)text;
        w.lens[c] = (size_t)n;
    }
    result = row_records(self, &w);
    goto done;
declined:
    result = Py_None;
    Py_INCREF(result);
done:
    scratch_free(&w);
    Py_DECREF(fast);
    return result;
}

PyDoc_STRVAR(encode_tuple_doc,
"encode_tuple(data, offset) -> (key, value) | None\n\n"
"One row read straight from a pgoutput message: ``data[offset:]`` is a TupleData (Int16 column\n"
"count, then per column 'n' or 't' + Int32 length + text) that must end exactly at the end of\n"
"``data``. The key and value records, or None when declined: another column count, an unchanged\n"
"TOAST value ('u'), binary data ('b'), a truncated or overlong tuple, or any value ``encode``\n"
"declines (the Python path then decodes the message and writes it or raises its error).");

static uint32_t read_be32(const unsigned char *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Points w's starts/lens at the column texts of the tuple at data[pos]; *end is where it ends.
 * DECLINE on anything but a well-formed tuple of exactly ncols 'n'/'t' columns within `size`.
 * Every read is bounds-checked. */
static int split_tuple(Encoder *self, Scratch *w, const unsigned char *data, size_t size,
                       size_t pos, size_t *end) {
    if (pos > size || size - pos < 2) return DECLINE;
    Py_ssize_t count = (Py_ssize_t)(((unsigned)data[pos] << 8) | data[pos + 1]);
    pos += 2;
    if (count != self->ncols) return DECLINE;
    for (Py_ssize_t c = 0; c < count; c++) {
        if (pos >= size) return DECLINE;
        unsigned char kind = data[pos++];
        if (kind == 'n') {
            w->starts[c] = NULL;
            w->lens[c] = 0;
            continue;
        }
        if (kind != 't' || size - pos < 4) return DECLINE;
        uint32_t length = read_be32(data + pos);
        pos += 4;
        if (length > (uint32_t)INT32_MAX || length > size - pos) return DECLINE;
        w->starts[c] = data + pos;
        w->lens[c] = length;
        pos += length;
    }
    *end = pos;
    return 0;
}

/* The (data, offset) arguments of the message methods; -1 with an exception set (and nothing
 * held) when they are not a configured encoder's bytes-like object and offset >= 0. */
static int message_args(Encoder *self, PyObject *args, Py_buffer *view, size_t *offset) {
    Py_ssize_t at;
    if (self->codes == NULL) {
        PyErr_SetString(PyExc_TypeError, "Encoder is not configured");
        return -1;
    }
    if (!PyArg_ParseTuple(args, "y*n", view, &at)) return -1;
    if (at < 0) {
        PyBuffer_Release(view);
        PyErr_SetString(PyExc_ValueError, "offset must not be negative");
        return -1;
    }
    *offset = (size_t)at;
    return 0;
}

static PyObject *encoder_encode_tuple(Encoder *self, PyObject *args) {
    Py_buffer view;
    size_t offset;
    if (message_args(self, args, &view, &offset)) return NULL;
    PyObject *result = NULL;
    Scratch w = {0};
    if (scratch_init(self, &w, 0)) goto done;
    size_t end;
    if (split_tuple(self, &w, view.buf, (size_t)view.len, offset, &end) ||
        end != (size_t)view.len) {
        result = Py_None;
        Py_INCREF(result);
        goto done;
    }
    result = row_records(self, &w);
done:
    scratch_free(&w);
    PyBuffer_Release(&view);
    return result;
}

PyDoc_STRVAR(encode_full_update_doc,
"encode_full_update(data, offset) -> (key, value) | None\n\n"
"An Update message's images under REPLICA IDENTITY FULL: ``data[offset]`` is the 'O' marker,\n"
"then the old tuple, 'N' and the new tuple, which must end exactly at the end of ``data``. The\n"
"new row's key and value records when its key is the old row's (both rows encode, and no key\n"
"column is a float, whose equal values may differ in bytes); None otherwise (a key change, or\n"
"anything ``encode_tuple`` declines, in either image).");

/* Whether records a and b (bytes) have the same key record (item 0). */
static int same_key(PyObject *a, PyObject *b) {
    PyObject *ka = PyTuple_GET_ITEM(a, 0), *kb = PyTuple_GET_ITEM(b, 0);
    Py_ssize_t n = PyBytes_GET_SIZE(ka);
    return n == PyBytes_GET_SIZE(kb) && memcmp(PyBytes_AS_STRING(ka), PyBytes_AS_STRING(kb), n) == 0;
}

static PyObject *encoder_encode_full_update(Encoder *self, PyObject *args) {
    Py_buffer view;
    size_t offset;
    if (message_args(self, args, &view, &offset)) return NULL;
    const unsigned char *data = view.buf;
    size_t size = (size_t)view.len, mid, end;
    PyObject *old = NULL, *result = NULL;
    Scratch before = {0}, after = {0};
    if (scratch_init(self, &before, 0) || scratch_init(self, &after, 0)) goto done;
    for (Py_ssize_t i = 0; i < self->plan.nkey; i++) {
        int code = self->codes[self->plan.key_cols[i]];
        if (code == T_FLOAT || code == T_DOUBLE) goto declined;
    }
    if (offset >= size || data[offset] != 'O') goto declined;
    if (split_tuple(self, &before, data, size, offset + 1, &mid)) goto declined;
    if (mid >= size || data[mid] != 'N') goto declined;
    if (split_tuple(self, &after, data, size, mid + 1, &end) || end != size) goto declined;
    old = row_records(self, &before);
    if (old == NULL) goto done;
    if (old == Py_None) goto declined;
    result = row_records(self, &after);
    if (result == NULL || result == Py_None) goto done;
    if (same_key(old, result)) goto done;
    Py_CLEAR(result); /* the key changed: a tombstone of the old key first, in Python */
declined:
    result = Py_None;
    Py_INCREF(result);
done:
    Py_XDECREF(old);
    scratch_free(&before);
    scratch_free(&after);
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef encoder_methods[] = {
    {"encode", (PyCFunction)encoder_encode, METH_O, encode_doc},
    {"encode_values", (PyCFunction)encoder_encode_values, METH_O, encode_values_doc},
    {"encode_tuple", (PyCFunction)encoder_encode_tuple, METH_VARARGS, encode_tuple_doc},
    {"encode_full_update", (PyCFunction)encoder_encode_full_update, METH_VARARGS,
     encode_full_update_doc},
    {NULL, NULL, 0, NULL},
};

PyDoc_STRVAR(encoder_doc,
"Encoder(columns, value_fields, key_fields, key_schema_id, value_schema_id)\n\n"
"``columns``: per source column (COPY field) a (type code, decimal scale) pair;\n"
"``value_fields``: (column index, nullable) per value record field, in order;\n"
"``key_fields``: column index per key record field, in key order.");

static PyTypeObject EncoderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "strangler.connectors.postgres._speedups.Encoder",
    .tp_basicsize = sizeof(Encoder),
    .tp_dealloc = (destructor)encoder_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = encoder_doc,
    .tp_methods = encoder_methods,
    .tp_init = (initproc)encoder_init,
    .tp_new = PyType_GenericNew,
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_speedups",
    .m_doc = "Native hot path of the PostgreSQL connector: COPY text to Confluent-framed Avro.",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__speedups(void) {
    if (PyType_Ready(&EncoderType) < 0) return NULL;
    PyObject *module = PyModule_Create(&speedups_module);
    if (module == NULL) return NULL;
    Py_INCREF(&EncoderType);
    if (PyModule_AddObject(module, "Encoder", (PyObject *)&EncoderType) < 0) {
        Py_DECREF(&EncoderType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
