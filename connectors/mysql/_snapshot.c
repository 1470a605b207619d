/* Native hot path of the MySQL connector's snapshot: the text-protocol row packets of a SELECT
 * straight to Confluent-framed Avro key and value records (magic byte 0, 4-byte big-endian
 * schema id, Avro binary), byte for byte what pymysql's row parsing + TableCodec.from_text +
 * FastTableSerializer write for the published schema.
 *
 * A TextEncoder is configured once per table (native.text_encoder builds the plan from the
 * columns' types and the encodings pymysql reports for the result's fields): per column of the
 * SELECT a codec (enum below), a decimal scale and a pad width; the value fields (column index,
 * nullable) and the key fields (column indexes). A row packet is one length-encoded string per
 * column (0xFB: NULL). Every value is parsed strictly in the one form the server writes it in
 * (the snapshot session's time zone is UTC); anything else (another form, a zero date, a TIME
 * outside one day, invalid UTF-8, a NULL where the record has no null, a malformed packet) is
 * *declined*: the caller converts that row through the Python path, which writes it or raises
 * its clear error (or warns, for zero dates).
 *
 * `feed` also reads the packets themselves: given the bytes of the connection's socket after a
 * result's field descriptions, it splits them into packets (checking sequence numbers, joining
 * 16 MiB continuations) up to the result's EOF packet, so pymysql's per-packet Python is
 * skipped too. Built by setuptools as strangler.connectors.mysql._snapshot.
 */
#include "../avro_text.h"

/* Codecs: keep in step with native.py (SKIP, LONG, ... BYTES, above snapshot_codec). */
enum {
    C_SKIP = 0,     /* an excluded column with no codec (geometry): not looked at */
    C_LONG = 1,     /* integers and YEAR: Avro int or long, int(text) */
    C_BOOL = 2,     /* tinyint(1), bool: int(text) != 0 */
    C_BIT1 = 3,     /* bit(1), raw bytes: anything but b"\x00" is true */
    C_BITS = 4,     /* bit(n), raw bytes, left-padded with 0x00 to `pad` bytes */
    C_FLOAT = 5,    /* float(text) packed as a 4-byte float */
    C_DOUBLE = 6,
    C_STRING = 7,   /* the bytes, valid UTF-8 */
    C_DECIMAL = 8,  /* decimal(p, s), bigint unsigned (decimal(20, 0)) */
    C_DATE = 9,
    C_DATETIME = 10, /* DATETIME and TIMESTAMP text, read as UTC */
    C_TIME = 11,    /* 00:00:00 .. 23:59:59.999999 only */
    C_BYTES = 12,   /* raw bytes, right-padded with 0x00 to `pad` bytes (binary(n)) */
    C_LAST = 12,
};

/* ---- the field encoders ------------------------------------------------------------------- */

/* "YYYY-MM-DD HH:MM:SS[.f{1,6}]" (nothing after it: no offset) as microseconds since the epoch */
static int parse_datetime(const unsigned char *s, size_t n, int64_t *micros) {
    int64_t days;
    int h, mi, sec, us;
    size_t used;
    if (n < 19 || s[10] != ' ' || parse_date_text(s, 10, &days)) return DECLINE;
    if (parse_clock(s + 11, n - 11, &h, &mi, &sec, &us, &used) || used != n - 11) return DECLINE;
    if (h > 23 || mi > 59 || sec > 59) return DECLINE;
    *micros = (days * 86400 + (int64_t)h * 3600 + mi * 60 + sec) * 1000000 + us;
    return 0;
}

/* MySQL's TIME within one day only: the Python path raises outside it (durations, negative) */
static int parse_time(const unsigned char *s, size_t n, int64_t *micros) {
    int h, mi, sec, us;
    size_t used;
    if (parse_clock(s, n, &h, &mi, &sec, &us, &used) || used != n) return DECLINE;
    if (h > 23 || mi > 59 || sec > 59) return DECLINE;
    *micros = ((int64_t)h * 3600 + mi * 60 + sec) * 1000000 + us;
    return 0;
}

/* One field's bytes encoded at out (room for 2 * n + 32 + scale + pad bytes). */
static int encode_field(int code, int scale, int pad, const unsigned char *s, size_t n,
                        unsigned char *out, size_t *len, uint32_t *limbs) {
    int64_t v;
    size_t head, size;
    switch (code) {
    case C_LONG:
        if (parse_int64(s, n, &v)) return DECLINE;
        *len = put_long(out, v);
        return 0;
    case C_BOOL:
        if (parse_int64(s, n, &v)) return DECLINE;
        out[0] = v != 0;
        *len = 1;
        return 0;
    case C_BIT1:
        out[0] = !(n == 1 && s[0] == 0);
        *len = 1;
        return 0;
    case C_BITS: /* bytes(raw).rjust(pad, b"\x00") */
        size = n < (size_t)pad ? (size_t)pad : n;
        head = put_long(out, (int64_t)size);
        memset(out + head, 0, size - n);
        memcpy(out + head + (size - n), s, n);
        *len = head + size;
        return 0;
    case C_FLOAT:
    case C_DOUBLE:
        return enc_float(s, n, out, len, code == C_FLOAT);
    case C_STRING:
        if (!valid_utf8(s, n)) return DECLINE;
        head = put_long(out, (int64_t)n);
        memcpy(out + head, s, n);
        *len = head + n;
        return 0;
    case C_DECIMAL:
        return enc_decimal(s, n, scale, out, len, limbs);
    case C_DATE:
        if (parse_date_text(s, n, &v)) return DECLINE; /* zero dates too: the Python path warns */
        *len = put_long(out, v);
        return 0;
    case C_DATETIME:
        if (parse_datetime(s, n, &v)) return DECLINE;
        *len = put_long(out, v);
        return 0;
    case C_TIME:
        if (parse_time(s, n, &v)) return DECLINE;
        *len = put_long(out, v);
        return 0;
    case C_BYTES: /* raw.ljust(pad, b"\x00") */
        size = n < (size_t)pad ? (size_t)pad : n;
        head = put_long(out, (int64_t)size);
        memcpy(out + head, s, n);
        memset(out + head + n, 0, size - n);
        *len = head + size;
        return 0;
    default: /* C_SKIP */
        *len = 0;
        return 0;
    }
}

/* ---- the TextEncoder type ----------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    Py_ssize_t ncols;
    int *codes, *scales, *pads; /* per column of the SELECT */
    RecordPlan plan;
    /* per-row scratch, reused (a TextEncoder is used by one thread at a time) */
    Buf work;
    Slot *slots;
    uint32_t *limbs;
    size_t limbs_cap;
    Buf joined; /* a row split over several packets (16 MiB and more), joined */
} TextEncoder;

static void encoder_dealloc(TextEncoder *self) {
    PyMem_Free(self->codes);
    PyMem_Free(self->scales);
    PyMem_Free(self->pads);
    plan_free(&self->plan);
    PyMem_Free(self->work.p);
    PyMem_Free(self->slots);
    PyMem_Free(self->limbs);
    PyMem_Free(self->joined.p);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int encoder_init(TextEncoder *self, PyObject *args, PyObject *kwds) {
    static char *kwlist[] = {"columns", "value_fields", "key_fields", "key_schema_id",
                             "value_schema_id", NULL};
    PyObject *columns, *value_fields, *key_fields;
    unsigned long key_id, value_id;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "OOOkk", kwlist, &columns, &value_fields,
                                     &key_fields, &key_id, &value_id))
        return -1;
    if (self->codes != NULL) {
        PyErr_SetString(PyExc_TypeError, "TextEncoder is configured once");
        return -1;
    }
    PyObject *fast = PySequence_Fast(columns, "columns: a sequence of (code, scale, pad)");
    if (fast == NULL) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    size_t size = n ? (size_t)n : 1;
    self->codes = PyMem_Calloc(size, sizeof(int));
    self->scales = PyMem_Calloc(size, sizeof(int));
    self->pads = PyMem_Calloc(size, sizeof(int));
    self->slots = PyMem_Calloc(size, sizeof(Slot));
    if (self->codes == NULL || self->scales == NULL || self->pads == NULL || self->slots == NULL) {
        Py_DECREF(fast);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        int code, scale, pad;
        PyObject *item = PySequence_Fast_GET_ITEM(fast, i);
        if (!PyTuple_Check(item) || !PyArg_ParseTuple(item, "iii", &code, &scale, &pad)) {
            Py_DECREF(fast);
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "columns: expected (code, scale, pad) tuples");
            return -1;
        }
        if (code < 0 || code > C_LAST || scale < 0 || scale > 1000 || pad < 0 || pad > 65535) {
            Py_DECREF(fast);
            PyErr_Format(PyExc_ValueError, "column %zd: bad code %d, scale %d or pad %d", i, code,
                         scale, pad);
            return -1;
        }
        self->codes[i] = code;
        self->scales[i] = scale;
        self->pads[i] = pad;
    }
    Py_DECREF(fast);
    self->ncols = n;
    return plan_init(&self->plan, value_fields, key_fields, n, self->codes, C_SKIP, key_id,
                     value_id);
}

static int configured(TextEncoder *self) {
    if (self->codes == NULL) {
        PyErr_SetString(PyExc_TypeError, "TextEncoder is not configured");
        return 0;
    }
    return 1;
}

static int ensure_limbs(TextEncoder *self, size_t n) {
    if (n <= self->limbs_cap) return 0;
    uint32_t *p = PyMem_Realloc(self->limbs, n * sizeof *p);
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    self->limbs = p;
    self->limbs_cap = n;
    return 0;
}

/* Splits the row packet p[0..n) into its columns and encodes each into its slot: 0, DECLINE
 * (a malformed packet or a value the Python path must see), or -1 with an exception set. */
static int encode_columns(TextEncoder *self, const unsigned char *p, size_t n) {
    size_t pos = 0;
    self->work.len = 0;
    for (Py_ssize_t c = 0; c < self->ncols; c++) {
        Slot *slot = &self->slots[c];
        if (pos >= n) return DECLINE; /* fewer fields than columns */
        unsigned char first = p[pos++];
        uint64_t len;
        if (first < 0xFB) {
            len = first;
        } else if (first == 0xFB) {
            slot->null = 1;
            slot->len = 0;
            continue;
        } else if (first == 0xFF) {
            return DECLINE;
        } else {
            size_t width = first == 0xFC ? 2 : first == 0xFD ? 3 : 8;
            if (n - pos < width) return DECLINE;
            len = 0;
            for (size_t k = width; k-- > 0;) len = (len << 8) | p[pos + k];
            pos += width;
        }
        if (len > n - pos) return DECLINE;
        const unsigned char *s = p + pos;
        size_t m = (size_t)len;
        pos += m;
        int code = self->codes[c], scale = self->scales[c], pad = self->pads[c];
        slot->null = 0;
        if (buf_reserve(&self->work, 2 * m + 32 + (size_t)scale + (size_t)pad)) return -1;
        if (code == C_DECIMAL && ensure_limbs(self, (m + (size_t)scale) / 9 + 3)) return -1;
        size_t out_len;
        if (encode_field(code, scale, pad, s, m, self->work.p + self->work.len, &out_len,
                         self->limbs))
            return DECLINE;
        slot->off = self->work.len;
        slot->len = out_len;
        self->work.len += out_len;
    }
    return pos == n ? 0 : DECLINE; /* more fields than columns */
}

/* The row packet's key and value records: 0 with *key and *value set (new references), DECLINE
 * with both NULL, or -1 with an exception set. */
static int encode_row(TextEncoder *self, const unsigned char *p, size_t n, PyObject **key,
                      PyObject **value) {
    *key = *value = NULL;
    int r = encode_columns(self, p, n);
    if (r) return r;
    const RecordPlan *plan = &self->plan;
    *value = record_bytes(plan->value_prefix, self->slots, self->work.p, plan->value_cols,
                          plan->value_nullable, plan->nvalue);
    if (*value == NULL) return -1;
    if (*value == Py_None) goto declined;
    *key = record_bytes(plan->key_prefix, self->slots, self->work.p, plan->key_cols, NULL,
                        plan->nkey);
    if (*key == NULL) {
        Py_CLEAR(*value);
        return -1;
    }
    if (*key == Py_None) goto declined;
    return 0;
declined:
    Py_CLEAR(*key);
    Py_CLEAR(*value);
    return DECLINE;
}

/* Appends the row's records to keys and values; a declined row's key and value are None and
 * (its index, its packet) goes to declined. 0, or -1 with an exception set. */
static int append_row(TextEncoder *self, const unsigned char *p, size_t n, PyObject *keys,
                      PyObject *values, PyObject *declined) {
    PyObject *key, *value;
    int r = encode_row(self, p, n, &key, &value);
    if (r < 0) return -1;
    if (r == DECLINE) {
        PyObject *item = Py_BuildValue("(ny#)", PyList_GET_SIZE(keys), (const char *)p,
                                       (Py_ssize_t)n);
        int failed = item == NULL || PyList_Append(declined, item) < 0 ||
                     PyList_Append(keys, Py_None) < 0 || PyList_Append(values, Py_None) < 0;
        Py_XDECREF(item);
        return failed ? -1 : 0;
    }
    int failed = PyList_Append(keys, key) < 0 || PyList_Append(values, value) < 0;
    Py_DECREF(key);
    Py_DECREF(value);
    return failed ? -1 : 0;
}

PyDoc_STRVAR(encode_packet_doc,
"encode_packet(packet) -> (key, value) | None\n\n"
"One text-protocol row packet's payload as Confluent-framed Avro key and value records; None\n"
"when declined (convert the row through the Python path).");

static PyObject *encoder_encode_packet(TextEncoder *self, PyObject *arg) {
    if (!configured(self)) return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    PyObject *key, *value, *result = NULL;
    int r = encode_row(self, view.buf, (size_t)view.len, &key, &value);
    PyBuffer_Release(&view);
    if (r < 0) return NULL;
    if (r == DECLINE) Py_RETURN_NONE;
    result = PyTuple_Pack(2, key, value);
    Py_DECREF(key);
    Py_DECREF(value);
    return result;
}

/* ---- reading a result's row packets off the wire ------------------------------------------ */

enum { MORE = 0, END = 1, ERROR = 2, SEQUENCE = 3 };

#define MAX_PACKET 0xFFFFFF

PyDoc_STRVAR(feed_doc,
"feed(data, seq, keys, values, declined) -> (consumed, seq, status, packet, last)\n\n"
"Reads the row packets at the start of ``data`` (the bytes the server sent after a result's\n"
"field descriptions: 4-byte headers, payloads) whose sequence numbers follow ``seq``, and\n"
"appends their records to the lists ``keys`` and ``values`` (declined rows: None, and (index,\n"
"payload) appended to ``declined``). Stops at the first packet that is not a row, or at the\n"
"end of the complete packets in ``data``. Returns how many bytes it used, the next sequence\n"
"number, a status: 0 (more data needed), 1 (the result's EOF packet, ``packet``, was read), 2\n"
"(an error packet, ``packet``), 3 (a header's sequence number is not the expected ``seq``: it\n"
"is at ``data[consumed:]``), and ``last``, the payload of the last row read (None if none).");

static PyObject *encoder_feed(TextEncoder *self, PyObject *args) {
    Py_buffer view;
    int seq;
    PyObject *keys, *values, *declined;
    if (!configured(self)) return NULL;
    if (!PyArg_ParseTuple(args, "y*iO!O!O!", &view, &seq, &PyList_Type, &keys, &PyList_Type,
                          &values, &PyList_Type, &declined))
        return NULL;
    const unsigned char *data = view.buf;
    size_t size = (size_t)view.len, pos = 0;
    const unsigned char *last_row = NULL; /* in data, or a copy in `last` (a joined row) */
    size_t last_len = 0;
    int status = MORE;
    PyObject *packet = NULL, *last = NULL, *result = NULL;
    for (;;) {
        /* one logical packet: a segment of MAX_PACKET bytes continues in the next one */
        size_t at = pos, total = 0;
        int next = seq, complete = 0, segments = 0;
        while (size - at >= 4) {
            size_t len = data[at] | ((size_t)data[at + 1] << 8) | ((size_t)data[at + 2] << 16);
            if (data[at + 3] != next) { /* pymysql raises on the first such header it reads */
                status = SEQUENCE;
                seq = next;
                pos = at;
                goto out;
            }
            if (size - at - 4 < len) break;
            next = (next + 1) & 0xFF;
            total += len;
            at += 4 + len;
            segments++;
            if (len < MAX_PACKET) {
                complete = 1;
                break;
            }
        }
        if (!complete) break; /* more data needed */
        const unsigned char *payload = data + pos + 4;
        if (segments > 1) { /* join the segments */
            self->joined.len = 0;
            if (buf_reserve(&self->joined, total)) goto done;
            for (size_t q = pos; q < at;) {
                size_t len = data[q] | ((size_t)data[q + 1] << 8) | ((size_t)data[q + 2] << 16);
                memcpy(self->joined.p + self->joined.len, data + q + 4, len);
                self->joined.len += len;
                q += 4 + len;
            }
            payload = self->joined.p;
        }
        if (total > 0 && (payload[0] == 0xFF || (payload[0] == 0xFE && total < 9))) {
            packet = PyBytes_FromStringAndSize((const char *)payload, (Py_ssize_t)total);
            if (packet == NULL) goto done;
            status = payload[0] == 0xFF ? ERROR : END;
            seq = next;
            pos = at;
            break;
        }
        if (append_row(self, payload, total, keys, values, declined)) goto done;
        seq = next;
        pos = at;
        Py_CLEAR(last);
        last_row = payload;
        last_len = total;
        if (segments > 1) { /* the joined buffer is reused: copied now */
            last = PyBytes_FromStringAndSize((const char *)payload, (Py_ssize_t)total);
            if (last == NULL) goto done;
        }
    }
out:
    if (last == NULL && last_row != NULL) {
        last = PyBytes_FromStringAndSize((const char *)last_row, (Py_ssize_t)last_len);
        if (last == NULL) goto done;
    }
    result = Py_BuildValue("(niiOO)", (Py_ssize_t)pos, seq, status, packet ? packet : Py_None,
                           last ? last : Py_None);
done:
    Py_XDECREF(packet);
    Py_XDECREF(last);
    PyBuffer_Release(&view);
    return result;
}

static PyMethodDef encoder_methods[] = {
    {"encode_packet", (PyCFunction)encoder_encode_packet, METH_O, encode_packet_doc},
    {"feed", (PyCFunction)encoder_feed, METH_VARARGS, feed_doc},
    {NULL, NULL, 0, NULL},
};

PyDoc_STRVAR(encoder_doc,
"TextEncoder(columns, value_fields, key_fields, key_schema_id, value_schema_id)\n\n"
"``columns``: per column of the SELECT a (codec, decimal scale, pad width) triple;\n"
"``value_fields``: (column index, nullable) per value record field, in order;\n"
"``key_fields``: column index per key record field, in key order.");

static PyTypeObject TextEncoderType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "strangler.connectors.mysql._snapshot.TextEncoder",
    .tp_basicsize = sizeof(TextEncoder),
    .tp_dealloc = (destructor)encoder_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = encoder_doc,
    .tp_methods = encoder_methods,
    .tp_init = (initproc)encoder_init,
    .tp_new = PyType_GenericNew,
};

static struct PyModuleDef snapshot_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_snapshot",
    .m_doc = "Native hot path of the MySQL snapshot: row packets to Confluent-framed Avro.",
    .m_size = -1,
};

PyMODINIT_FUNC PyInit__snapshot(void) {
    if (PyType_Ready(&TextEncoderType) < 0) return NULL;
    PyObject *module = PyModule_Create(&snapshot_module);
    if (module == NULL) return NULL;
    Py_INCREF(&TextEncoderType);
    if (PyModule_AddObject(module, "TextEncoder", (PyObject *)&TextEncoderType) < 0) {
        Py_DECREF(&TextEncoderType);
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
