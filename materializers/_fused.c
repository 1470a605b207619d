/* The fused apply of SQLite and PostgreSQL views: Kafka records of a batch straight into SQLite
 * statements or PostgreSQL COPY data, without a Python object per record or per value (see
 * fused.py for what it takes and when it declines).
 *
 * scan(messages, plans, lsn_topics, position, marks) reads every record of a batch: headers
 * (op, position), the Confluent framing of key and value, and compacts the batch by key in log
 * order, as compaction.compact does (per key, the last change not older than the one kept). It
 * returns a Batch, or a tuple ("plan", topic, key id, value id) when a pair of writer schemas has
 * no plan yet, or None when anything is not the common case: a truncate, an unknown op, a
 * record without a key, a payload that is not framed, a second key schema of one topic, a key
 * whose encoding is not the canonical one. Nothing is read from the database by scan.
 *
 * Every value is read from its payload into a Slot by read_leaf, checked as strictly as the
 * Python path decodes it (UTF-8 text, enum indexes, dates and timestamps within years 1-9999,
 * canonical keys), then written by one of:
 *
 * Batch.run(connection, topic, deletes, sql, position_param) binds the kept changes of one kind
 * of that topic to the statement, one row at a time, on the connection's own database handle
 * (in the transaction the caller began): the values are exactly those the Python path binds
 * (ints, floats, UTF-8 text, blobs, ISO text of dates and timestamps as isoformat gives it).
 *
 * Batch.copy(topic, staged, types) writes the kept changes of that topic as PostgreSQL COPY
 * binary data, each value exactly as _speedups.c's copy_binary writes the one the Python path
 * decodes.
 *
 * A payload either cannot write exactly so, or any error of SQLite, raises Declined (with
 * SQLite's result code when SQLite refused): the caller rolls the transaction back and the batch
 * takes the Python path, which then says what is wrong. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <dlfcn.h>
#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>
#include <structmember.h>

#include "avro_common.h"
#include "pg_binary.h"
#include <math.h>
#include <string.h>


static PyObject *Declined;

typedef struct {
    int kind;
    Py_ssize_t size;   /* K_FIXED */
    PyObject *symbols; /* K_ENUM: tuple of str */
} Leaf;

typedef struct {
    int param;  /* 1-based parameter, or 0: read and skipped */
    int is_union;
    Py_ssize_t nbranches;
    Leaf *branches;
} Field;

typedef struct {
    Py_ssize_t nfields;
    Field *fields;
} Record;

/* ---- plans ------------------------------------------------------------------------------ */

typedef struct {
    PyObject_HEAD
    Record key, value; /* value.nfields == -1: a plan of deletes only */
    long key_id, value_id;
} PlanObject;

static void free_record(Record *r) {
    for (Py_ssize_t i = 0; i < r->nfields; i++) {
        for (Py_ssize_t j = 0; j < r->fields[i].nbranches; j++)
            Py_XDECREF(r->fields[i].branches[j].symbols);
        PyMem_Free(r->fields[i].branches);
    }
    PyMem_Free(r->fields);
    r->fields = NULL;
    r->nfields = 0;
}

static void plan_dealloc(PlanObject *self) {
    free_record(&self->key);
    free_record(&self->value);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyTypeObject PlanType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "strangler.materializers._fused.Plan",
    .tp_basicsize = sizeof(PlanObject),
    .tp_dealloc = (destructor)plan_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A compiled plan: which parameter each field of a pair of writer schemas binds.",
};

/* fields: [(param, is_union, [(kind, arg), ...]), ...] */
static int parse_record(PyObject *fields, Record *out) {
    PyObject *seq = PySequence_Fast(fields, "fields must be a sequence");
    if (seq == NULL) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    out->fields = PyMem_Calloc(n ? (size_t)n : 1, sizeof(Field));
    if (out->fields == NULL) {
        Py_DECREF(seq);
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        Field *f = &out->fields[i];
        out->nfields = i + 1;
        PyObject *branches;
        if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "ipO", &f->param, &f->is_union,
                              &branches))
            goto fail;
        PyObject *bs = PySequence_Fast(branches, "branches must be a sequence");
        if (bs == NULL) goto fail;
        f->nbranches = PySequence_Fast_GET_SIZE(bs);
        f->branches = PyMem_Calloc(f->nbranches ? (size_t)f->nbranches : 1, sizeof(Leaf));
        if (f->branches == NULL || f->nbranches == 0 || (!f->is_union && f->nbranches != 1)) {
            Py_DECREF(bs);
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "bad branches");
            goto fail;
        }
        for (Py_ssize_t j = 0; j < f->nbranches; j++) {
            Leaf *leaf = &f->branches[j];
            PyObject *arg;
            if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(bs, j), "iO", &leaf->kind, &arg)) {
                Py_DECREF(bs);
                goto fail;
            }
            if (leaf->kind < 0 || leaf->kind > K_LAST) {
                Py_DECREF(bs);
                PyErr_SetString(PyExc_ValueError, "unknown kind");
                goto fail;
            }
            if (leaf->kind == K_ENUM) {
                if (!PyTuple_Check(arg)) {
                    Py_DECREF(bs);
                    PyErr_SetString(PyExc_TypeError, "enum symbols must be a tuple");
                    goto fail;
                }
                Py_INCREF(arg);
                leaf->symbols = arg;
            } else if (leaf->kind == K_FIXED) {
                leaf->size = PyLong_AsSsize_t(arg);
                if (leaf->size < 0) {
                    Py_DECREF(bs);
                    if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "bad fixed size");
                    goto fail;
                }
            }
        }
        Py_DECREF(bs);
    }
    Py_DECREF(seq);
    return 0;
fail:
    Py_DECREF(seq);
    free_record(out);
    return -1;
}

/* compile(key_id, key_fields, value_id, value_fields or None) -> Plan */
static PyObject *compile_plan(PyObject *module, PyObject *args) {
    (void)module;
    long key_id, value_id;
    PyObject *key_fields, *value_fields;
    if (!PyArg_ParseTuple(args, "lOlO", &key_id, &key_fields, &value_id, &value_fields))
        return NULL;
    PlanObject *plan = PyObject_New(PlanObject, &PlanType);
    if (plan == NULL) return NULL;
    plan->key = (Record){0, NULL};
    plan->value = (Record){0, NULL};
    plan->key_id = key_id;
    plan->value_id = value_id;
    if (parse_record(key_fields, &plan->key) < 0) goto fail;
    if (value_fields == Py_None)
        plan->value.nfields = -1;
    else if (parse_record(value_fields, &plan->value) < 0)
        goto fail;
    return (PyObject *)plan;
fail:
    if (plan->value.nfields < 0) plan->value.nfields = 0;
    Py_DECREF(plan);
    return NULL;
}

/* ---- Avro reading ----------------------------------------------------------------------- */

typedef struct {
    const unsigned char *b;
    Py_ssize_t n, p;
} Cursor;

/* A zig-zag varint of at most 64 bits; canonical: set if it has no needless trailing byte. */
static int read_long(Cursor *c, int64_t *out, int *canonical) {
    uint64_t x = 0;
    unsigned char byte = 0;
    int count = 0;
    for (int shift = 0;; shift += 7) {
        if (c->p >= c->n) return -1;
        byte = c->b[c->p++];
        count++;
        if (shift == 63 && byte > 1) return -1;
        x |= (uint64_t)(byte & 0x7F) << shift;
        if (!(byte & 0x80)) break;
    }
    if (canonical) *canonical = count == 1 || byte != 0;
    *out = (int64_t)((x >> 1) ^ (~(x & 1) + 1));
    return 0;
}

static int read_length(Cursor *c, Py_ssize_t *start, Py_ssize_t *size, int *canonical) {
    int64_t n;
    if (read_long(c, &n, canonical) < 0 || n < 0 || n > (int64_t)(c->n - c->p)) return -1;
    *start = c->p;
    *size = (Py_ssize_t)n;
    c->p += *size;
    return 0;
}

/* Whether s[0:n] is UTF-8 that Python's strict decoder takes (no surrogates, no overlong forms,
 * nothing above U+10FFFF). */
static int valid_utf8(const unsigned char *s, Py_ssize_t n) {
    Py_ssize_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        int len;
        unsigned char lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF)
            len = 2;
        else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            if (c == 0xE0) lo = 0xA0;
            if (c == 0xED) hi = 0x9F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            if (c == 0xF0) lo = 0x90;
            if (c == 0xF4) hi = 0x8F;
        } else
            return 0;
        if (n - i < len) return 0;
        if (s[i + 1] < lo || s[i + 1] > hi) return 0;
        for (int k = 2; k < len; k++)
            if (s[i + k] < 0x80 || s[i + k] > 0xBF) return 0;
        i += len;
    }
    return 1;
}

/* ---- ISO text of dates and timestamps, as isoformat() writes them ------------------------ */

static char *date_text(char *at, int64_t days) {
    int y, m, d;
    civil_from_days(days, &y, &m, &d);
    return ymd_text(at, y, m, d);
}

/* isoformat() of epoch + timedelta(microseconds=us) (with "+00:00" if utc) into text (40
 * bytes); its length, or 0 if out of datetime's range. */
static int timestamp_text(int64_t us, int utc, char *text) {
    int64_t days = us / US_PER_DAY, rem = us % US_PER_DAY;
    if (rem < 0) {
        rem += US_PER_DAY;
        days -= 1;
    }
    if (days < FIRST_DAY || days > LAST_DAY) return 0;
    char *at = date_text(text, days);
    int64_t secs = rem / 1000000;
    *at++ = 'T';
    at = clock_text(at, (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60),
                    (int)(rem % 1000000));
    if (utc) {
        memcpy(at, "+00:00", 6);
        at += 6;
    }
    return (int)(at - text);
}

/* ---- reading a value ------------------------------------------------------------------- */

/* One value as read from a payload: what both writers (SQLite's bindings, PostgreSQL's binary
 * COPY) take from it. */
typedef struct {
    int kind;         /* the leaf's kind; K_NULL for a null (or, in a row, a column not read) */
    int64_t n;        /* boolean, long, enum index; timestamps in microseconds; date in days */
    double d;         /* float, double */
    const char *data; /* string and enum (UTF-8), bytes and fixed: in the payload or the plan */
    Py_ssize_t size;
} Slot;

/* Read one leaf at c into *s: 0, or -1 if the value is not one the Python path reads as the
 * writers write it (a malformed or non-canonical key, invalid UTF-8, an enum index out of
 * range, a date or timestamp outside years 1-9999). */
static int read_leaf(Cursor *c, const Leaf *leaf, int key, Slot *s) {
    Py_ssize_t start;
    int canonical = 1;
    s->kind = leaf->kind;
    switch (leaf->kind) {
    case K_NULL:
        return key ? -1 : 0;
    case K_BOOLEAN:
        if (key || c->p >= c->n) return -1;
        s->n = c->b[c->p++] != 0;
        return 0;
    case K_LONG:
        return read_long(c, &s->n, &canonical) < 0 || (key && !canonical) ? -1 : 0;
    case K_FLOAT:
    case K_DOUBLE: {
        Py_ssize_t width = leaf->kind == K_FLOAT ? 4 : 8;
        if (key || width > c->n - c->p) return -1;
        s->d = width == 4 ? PyFloat_Unpack4((const char *)c->b + c->p, 1)
                          : PyFloat_Unpack8((const char *)c->b + c->p, 1);
        if (s->d == -1.0 && PyErr_Occurred()) {
            PyErr_Clear();
            return -1;
        }
        c->p += width;
        return 0;
    }
    case K_STRING:
    case K_BYTES:
        if (read_length(c, &start, &s->size, &canonical) < 0 || (key && !canonical)) return -1;
        s->data = (const char *)c->b + start;
        return leaf->kind == K_BYTES || valid_utf8(c->b + start, s->size) ? 0 : -1;
    case K_FIXED:
        if (key || leaf->size > c->n - c->p) return -1;
        s->data = (const char *)c->b + c->p;
        s->size = leaf->size;
        c->p += leaf->size;
        return 0;
    case K_ENUM: {
        if (key || read_long(c, &s->n, NULL) < 0) return -1;
        Py_ssize_t count = PyTuple_GET_SIZE(leaf->symbols);
        if (s->n < -(int64_t)count || s->n >= (int64_t)count) return -1;
        PyObject *symbol = PyTuple_GET_ITEM(leaf->symbols, s->n < 0 ? s->n + count : s->n);
        if ((s->data = PyUnicode_AsUTF8AndSize(symbol, &s->size)) == NULL) {
            PyErr_Clear();
            return -1;
        }
        return 0;
    }
    case K_TS_MICROS:
    case K_LOCAL_TS_MICROS:
    case K_TS_MILLIS:
    case K_LOCAL_TS_MILLIS: {
        if (key || read_long(c, &s->n, NULL) < 0) return -1;
        if (leaf->kind == K_TS_MILLIS || leaf->kind == K_LOCAL_TS_MILLIS) {
            if (s->n > INT64_MAX / 1000 || s->n < INT64_MIN / 1000) return -1;
            s->n *= 1000;
        }
        int64_t days = s->n / US_PER_DAY - (s->n % US_PER_DAY < 0);
        return days < FIRST_DAY || days > LAST_DAY ? -1 : 0;
    }
    case K_DATE:
        if (key || read_long(c, &s->n, NULL) < 0) return -1;
        return s->n < FIRST_DAY || s->n > LAST_DAY ? -1 : 0;
    default:
        return -1;
    }
}

/* The leaf of field f at c: its only one, or the union branch read first; NULL if malformed
 * (or a union in a key). */
static const Leaf *field_leaf(const Field *f, Cursor *c, int key) {
    if (!f->is_union) return &f->branches[0];
    int64_t u;
    if (key || read_long(c, &u, NULL) < 0 || u < 0 || u >= (int64_t)f->nbranches) return NULL;
    return &f->branches[u];
}

/* ---- binding to SQLite ------------------------------------------------------------------ */

/* Bind a value to parameter `param` as the Python path binds it (dates and timestamps as the
 * ISO text isoformat() gives); 0, or -1 if SQLite refused the binding (*rc). */
static int bind_slot(sqlite3_stmt *stmt, int param, const Slot *s, int *rc) {
    char text[48];
    switch (s->kind) {
    case K_NULL:
        *rc = sqlite3_bind_null(stmt, param);
        break;
    case K_BOOLEAN:
    case K_LONG:
        *rc = sqlite3_bind_int64(stmt, param, s->n);
        break;
    case K_FLOAT:
    case K_DOUBLE:
        *rc = sqlite3_bind_double(stmt, param, s->d);
        break;
    case K_STRING:
    case K_ENUM:
        *rc = sqlite3_bind_text64(stmt, param, s->data, (sqlite3_uint64)s->size, SQLITE_STATIC,
                                  SQLITE_UTF8);
        break;
    case K_BYTES:
    case K_FIXED:
        *rc = sqlite3_bind_blob64(stmt, param, s->data, (sqlite3_uint64)s->size, SQLITE_STATIC);
        break;
    case K_DATE:
        *rc = sqlite3_bind_text(stmt, param, text, (int)(date_text(text, s->n) - text),
                                SQLITE_TRANSIENT);
        break;
    default: { /* the timestamps (read_leaf checked their range) */
        int utc = s->kind == K_TS_MICROS || s->kind == K_TS_MILLIS;
        *rc = sqlite3_bind_text(stmt, param, text, timestamp_text(s->n, utc, text),
                                SQLITE_TRANSIENT);
    }
    }
    return *rc == SQLITE_OK ? 0 : -1;
}

/* Read the record at c (from byte 5 of a framed payload) binding its fields; it must end
 * exactly at the end of the payload. -1 if a value is not bound as the Python path binds it,
 * or SQLite refused a binding (*rc). */
static int bind_record(sqlite3_stmt *stmt, const Record *r, Cursor *c, int key, int *rc) {
    *rc = SQLITE_OK;
    for (Py_ssize_t i = 0; i < r->nfields; i++) {
        const Field *f = &r->fields[i];
        const Leaf *leaf = field_leaf(f, c, key);
        Slot s;
        if (leaf == NULL || read_leaf(c, leaf, key, &s) < 0) return -1;
        if (f->param && bind_slot(stmt, f->param, &s, rc) < 0) return -1;
    }
    return c->p == c->n ? 0 : -1;
}

/* ---- PostgreSQL binary COPY ------------------------------------------------------------- */

/* Read the record at c into slots[param - 1] of its fields (of `width`); -1 as bind_record. */
static int slot_record(const Record *r, Cursor *c, int key, Slot *slots, Py_ssize_t width) {
    for (Py_ssize_t i = 0; i < r->nfields; i++) {
        const Field *f = &r->fields[i];
        const Leaf *leaf = field_leaf(f, c, key);
        Slot s;
        if (leaf == NULL || read_leaf(c, leaf, key, &s) < 0 || f->param > width) return -1;
        if (f->param) slots[f->param - 1] = s;
    }
    return c->p == c->n ? 0 : -1;
}

/* A value into a column of PostgreSQL type `type`, in that type's binary format, exactly as
 * copy_binary writes the value the Python path decodes: 1 done, 0 declined (a pairing of kind
 * and type that copy_binary would not write, or a value it would decline), -1 error. */
static int put_slot(Buffer *buf, const Slot *s, int type) {
    uint64_t bits;
    switch (s->kind) {
    case K_NULL:
        return put(buf, "\377\377\377\377", 4) < 0 ? -1 : 1;
    case K_BOOLEAN:
        if (type != PG_BOOLEAN) return 0;
        return put_fixed(buf, (uint64_t)s->n, 1) < 0 ? -1 : 1;
    case K_LONG:
        if (type == PG_INTEGER && s->n >= INT32_MIN && s->n <= INT32_MAX)
            return put_fixed(buf, (uint32_t)(int32_t)s->n, 4) < 0 ? -1 : 1;
        if (type == PG_BIGINT) return put_fixed(buf, (uint64_t)s->n, 8) < 0 ? -1 : 1;
        return 0;
    case K_FLOAT:
    case K_DOUBLE:
        if (type == PG_DOUBLE) {
            bits = PG_NAN8;
            if (!isnan(s->d)) memcpy(&bits, &s->d, 8);
            return put_fixed(buf, bits, 8) < 0 ? -1 : 1;
        }
        if (type == PG_REAL) {
            float f = (float)s->d;
            uint32_t bits4 = PG_NAN4;
            if (!isnan(s->d) && (double)f != s->d) return 0;
            if (!isnan(f)) memcpy(&bits4, &f, 4);
            return put_fixed(buf, bits4, 4) < 0 ? -1 : 1;
        }
        return 0;
    case K_STRING:
    case K_ENUM:
        if (type != PG_TEXT || memchr(s->data, '\0', (size_t)s->size)) return 0;
        return put_raw(buf, s->data, s->size);
    case K_BYTES:
    case K_FIXED:
        return type == PG_BYTEA ? put_raw(buf, s->data, s->size) : 0;
    case K_TS_MICROS:
    case K_TS_MILLIS:
    case K_LOCAL_TS_MICROS:
    case K_LOCAL_TS_MILLIS:
        if (type != ((s->kind == K_TS_MICROS || s->kind == K_TS_MILLIS) ? PG_TIMESTAMPTZ
                                                                       : PG_TIMESTAMP))
            return 0;
        return put_fixed(buf, (uint64_t)(s->n - (int64_t)PG_EPOCH_DAYS * US_PER_DAY), 8) < 0
                   ? -1
                   : 1;
    case K_DATE:
        if (type != PG_DATE) return 0;
        return put_fixed(buf, (uint32_t)(int32_t)(s->n - PG_EPOCH_DAYS), 4) < 0 ? -1 : 1;
    default:
        return 0;
    }
}

/* ---- Batch ------------------------------------------------------------------------------ */

typedef struct {
    PyObject *key;   /* framed key payload (bytes) */
    PyObject *value; /* framed value payload (bytes), or NULL: a delete */
    PlanObject *plan;
    unsigned char position[8];
    PyObject *position_obj; /* a position that is not 8 bytes, or NULL */
    int topic;              /* index into Batch.topics */
} Change;

typedef struct {
    PyObject_HEAD
    Change *changes;
    Py_ssize_t count, cap;
    PyObject *topics;    /* list of topic names, in order of first appearance */
    PyObject *kinds;     /* list of (has deletes, has upserts) per topic, as lists */
    PyObject *offsets;   /* {(topic, partition): next offset} */
    PyObject *positions; /* {(topic, partition): position} */
} BatchObject;

static void batch_dealloc(BatchObject *self) {
    for (Py_ssize_t i = 0; i < self->count; i++) {
        Py_XDECREF(self->changes[i].key);
        Py_XDECREF(self->changes[i].value);
        Py_XDECREF(self->changes[i].plan);
        Py_XDECREF(self->changes[i].position_obj);
    }
    PyMem_Free(self->changes);
    Py_XDECREF(self->topics);
    Py_XDECREF(self->kinds);
    Py_XDECREF(self->offsets);
    Py_XDECREF(self->positions);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static const unsigned char *change_position(const Change *ch, Py_ssize_t *size) {
    if (ch->position_obj != NULL) {
        *size = PyBytes_GET_SIZE(ch->position_obj);
        return (const unsigned char *)PyBytes_AS_STRING(ch->position_obj);
    }
    *size = 8;
    return ch->position;
}

/* a <= b, positions compared as Python compares bytes */
static int position_le(const unsigned char *a, Py_ssize_t na, const unsigned char *b,
                       Py_ssize_t nb) {
    Py_ssize_t n = na < nb ? na : nb;
    int cmp = memcmp(a, b, (size_t)n);
    return cmp < 0 || (cmp == 0 && na <= nb);
}

/* The database handle of a sqlite3.Connection: its first field, as CPython lays it out. */
typedef struct {
    PyObject_HEAD
    sqlite3 *db;
} ConnectionHead;

static PyObject *connection_type; /* sqlite3.Connection */
static int same_library = -1;     /* whether _sqlite3 uses the very SQLite we link */

static PyObject *declined(const char *what, int rc, sqlite3 *db) {
    PyObject *args = Py_BuildValue("(sis)", what, rc,
                                   db && rc != SQLITE_OK ? sqlite3_errmsg(db) : "");
    /* (errmsg is read at once: finalizing a statement may reset it) */
    if (args != NULL) {
        PyErr_SetObject(Declined, args);
        Py_DECREF(args);
    }
    return NULL;
}

/* Bind one change to stmt (key, value unless deletes, position) and step it; SQLITE_DONE, or
 * SQLITE_OK for a value it does not bind as the Python path would, or SQLite's error. */
static int step_change(sqlite3_stmt *stmt, const Change *ch, int deletes, int position_param) {
    int rc = SQLITE_OK;
    Cursor key = {(const unsigned char *)PyBytes_AS_STRING(ch->key), PyBytes_GET_SIZE(ch->key), 5};
    if (bind_record(stmt, &ch->plan->key, &key, 1, &rc) < 0) return rc;
    if (!deletes) {
        Cursor value = {(const unsigned char *)PyBytes_AS_STRING(ch->value),
                        PyBytes_GET_SIZE(ch->value), 5};
        if (bind_record(stmt, &ch->plan->value, &value, 0, &rc) < 0) return rc;
    }
    Py_ssize_t psize;
    const unsigned char *pos = change_position(ch, &psize);
    rc = sqlite3_bind_blob64(stmt, position_param, pos, (sqlite3_uint64)psize, SQLITE_STATIC);
    if (rc != SQLITE_OK) return rc;
    rc = sqlite3_step(stmt);
    if (rc != SQLITE_DONE) return rc == SQLITE_OK ? SQLITE_ERROR : rc;
    rc = sqlite3_reset(stmt);
    return rc == SQLITE_OK ? SQLITE_DONE : rc;
}

/* run(connection, topic, deletes, sql, position_param[, otherwise]) -> rows stepped
 *
 * Each kept change of that kind and topic is bound to `sql` and stepped; with `otherwise`, a
 * change that `sql` did not modify a row for (sqlite3_changes() == 0) is then bound to
 * `otherwise` and stepped too. */
static PyObject *batch_run(BatchObject *self, PyObject *args) {
    PyObject *conn, *topic;
    int deletes, position_param;
    const char *sql, *otherwise = NULL;
    Py_ssize_t sql_size, otherwise_size = 0;
    if (!PyArg_ParseTuple(args, "OOps#i|z#", &conn, &topic, &deletes, &sql, &sql_size,
                          &position_param, &otherwise, &otherwise_size))
        return NULL;
    if (same_library != 1 || !PyObject_TypeCheck(conn, (PyTypeObject *)connection_type))
        return declined("not a connection of the SQLite this module links", 0, NULL);
    sqlite3 *db = ((ConnectionHead *)conn)->db;
    if (db == NULL) return declined("connection closed", 0, NULL);
    Py_ssize_t t = PySequence_Index(self->topics, topic);
    if (t < 0) return NULL;
    sqlite3_stmt *stmt = NULL, *second = NULL;
    int rc = sqlite3_prepare_v3(db, sql, (int)sql_size, 0, &stmt, NULL);
    if (rc == SQLITE_OK && otherwise != NULL)
        rc = sqlite3_prepare_v3(db, otherwise, (int)otherwise_size, 0, &second, NULL);
    if (rc != SQLITE_OK) {
        PyObject *out = declined("prepare", rc, db);
        sqlite3_finalize(stmt);
        return out;
    }
    Py_ssize_t done = 0;
    PlanObject *last = NULL;
    for (Py_ssize_t i = 0; i < self->count; i++) {
        const Change *ch = &self->changes[i];
        if (ch->topic != t || (ch->value == NULL) != (deletes != 0)) continue;
        if (ch->plan != last) {
            sqlite3_clear_bindings(stmt);
            if (second != NULL) sqlite3_clear_bindings(second);
            last = ch->plan;
        }
        rc = step_change(stmt, ch, deletes, position_param);
        if (rc == SQLITE_DONE && second != NULL && sqlite3_changes(db) == 0)
            rc = step_change(second, ch, deletes, position_param);
        if (rc != SQLITE_DONE) goto refused;
        done++;
    }
    sqlite3_finalize(stmt);
    sqlite3_finalize(second);
    return PyLong_FromSsize_t(done);
refused: {
    /* SQLite's error is read before finalizing, which may reset it */
    PyObject *out = rc == SQLITE_OK ? declined("value", 0, db) /* not bound as Python binds */
                                    : declined("sqlite", sqlite3_extended_errcode(db), db);
    sqlite3_finalize(second);
    sqlite3_finalize(stmt);
    return out;
}
}

/* copy(topic, staged, types) -> COPY binary data of the topic's kept changes
 *
 * staged: each change as a row of the staging table (delete flag, position, then the columns,
 * a delete's values NULL); else as a row of the view table (the columns, then the position),
 * for a batch of upserts only. `types` are the PostgreSQL type names of the table's columns,
 * in order (key columns first, as the plan's parameters number them). Values are written
 * exactly as copy_binary writes those the Python path decodes; a value or a pairing it would
 * not write so raises Declined. */
static PyObject *batch_copy(BatchObject *self, PyObject *args) {
    PyObject *topic, *names;
    int staged;
    if (!PyArg_ParseTuple(args, "OpO", &topic, &staged, &names)) return NULL;
    Py_ssize_t t = PySequence_Index(self->topics, topic);
    Py_ssize_t width = t < 0 ? -1 : PySequence_Size(names);
    if (width < 0) return NULL;
    if (width > INT16_MAX - 2) return declined("too many columns", 0, NULL);
    int *types = pg_types(names, width);
    Slot *slots = types ? PyMem_Calloc((size_t)width + 1, sizeof *slots) : NULL;
    Buffer buf = {NULL, 0, 0};
    int rc = slots == NULL ? -1 : put_copy_header(&buf) < 0 ? -1 : 1;
    if (types != NULL && slots == NULL) PyErr_NoMemory();
    for (Py_ssize_t i = 0; rc > 0 && i < self->count; i++) {
        const Change *ch = &self->changes[i];
        if (ch->topic != t) continue;
        if (!staged && ch->value == NULL) {
            rc = 0;
            break;
        }
        for (Py_ssize_t k = 0; k < width; k++) slots[k].kind = K_NULL;
        Cursor key = {(const unsigned char *)PyBytes_AS_STRING(ch->key), PyBytes_GET_SIZE(ch->key),
                      5};
        if (slot_record(&ch->plan->key, &key, 1, slots, width) < 0) {
            rc = 0;
            break;
        }
        if (ch->value != NULL) {
            Cursor value = {(const unsigned char *)PyBytes_AS_STRING(ch->value),
                            PyBytes_GET_SIZE(ch->value), 5};
            if (slot_record(&ch->plan->value, &value, 0, slots, width) < 0) {
                rc = 0;
                break;
            }
        }
        Py_ssize_t fields = width + 1 + staged, psize;
        const unsigned char *pos = change_position(ch, &psize);
        if (grow(&buf, 2) < 0) {
            rc = -1;
            break;
        }
        buf.b[buf.n++] = (char)(fields >> 8);
        buf.b[buf.n++] = (char)fields;
        if (staged) {
            rc = put_fixed(&buf, ch->value == NULL, 1) < 0 ? -1 : 1;
            if (rc > 0) rc = put_raw(&buf, (const char *)pos, psize);
        }
        for (Py_ssize_t k = 0; rc > 0 && k < width; k++) rc = put_slot(&buf, &slots[k], types[k]);
        if (rc > 0 && !staged) rc = put_raw(&buf, (const char *)pos, psize);
    }
    if (rc > 0) rc = put_copy_trailer(&buf) < 0 ? -1 : 1;
    PyMem_Free(types);
    PyMem_Free(slots);
    PyObject *out = rc < 0    ? NULL
                    : rc == 0 ? declined("value", 0, NULL)
                              : PyBytes_FromStringAndSize(buf.b, buf.n);
    PyMem_Free(buf.b);
    return out;
}

static PyMethodDef batch_methods[] = {
    {"run", (PyCFunction)batch_run, METH_VARARGS,
     "run(connection, topic, deletes, sql, position_param[, otherwise]) -> rows stepped"},
    {"copy", (PyCFunction)batch_copy, METH_VARARGS,
     "copy(topic, staged, types) -> PostgreSQL COPY binary data of the topic's kept changes"},
    {NULL, NULL, 0, NULL},
};

static PyMemberDef batch_members[] = {
    {"topics", T_OBJECT_EX, offsetof(BatchObject, topics), READONLY, "topics, in order"},
    {"kinds", T_OBJECT_EX, offsetof(BatchObject, kinds), READONLY,
     "[has deletes, has upserts] per topic"},
    {"offsets", T_OBJECT_EX, offsetof(BatchObject, offsets), READONLY,
     "{(topic, partition): next offset}"},
    {"positions", T_OBJECT_EX, offsetof(BatchObject, positions), READONLY,
     "{(topic, partition): latest position}"},
    {NULL, 0, 0, 0, NULL},
};

static PyTypeObject BatchType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "strangler.materializers._fused.Batch",
    .tp_basicsize = sizeof(BatchObject),
    .tp_dealloc = (destructor)batch_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "A scanned batch: the changes kept per key, ready to bind.",
    .tp_methods = batch_methods,
    .tp_members = batch_members,
};

/* ---- scan ------------------------------------------------------------------------------- */

static PyObject *names[6]; /* interned: topic, partition, offset, headers, key, value */



static long framed_id(PyObject *data) {
    if (!PyBytes_Check(data) || PyBytes_GET_SIZE(data) < 5 || PyBytes_AS_STRING(data)[0] != 0)
        return -1;
    const unsigned char *b = (const unsigned char *)PyBytes_AS_STRING(data);
    return (long)((unsigned long)b[1] << 24 | (unsigned long)b[2] << 16 |
                  (unsigned long)b[3] << 8 | (unsigned long)b[4]);
}

static int grow_changes(BatchObject *b) {
    if (b->count < b->cap) return 0;
    Py_ssize_t cap = b->cap ? b->cap * 2 : 1024;
    Change *more = PyMem_Realloc(b->changes, (size_t)cap * sizeof(Change));
    if (more == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->changes = more;
    b->cap = cap;
    return 0;
}

/* The next offset and latest position of the run of records of one partition being scanned;
 * written into the batch's dicts when the partition changes and at the end (flush_progress). */
typedef struct {
    PyObject *topic, *partition; /* NULL: no run yet */
    long long next;
    unsigned char position[8];
    PyObject *position_obj; /* a position that is not 8 bytes, or NULL */
} Progress;

typedef struct {
    PyObject *topic;
    long key_id, value_id;
    PlanObject *plan; /* borrowed from plans */
} PlanMemo;

typedef struct {
    PyObject *raw, *topic, *kind, *out; /* the last position headers given to `position` */
} PositionMemo;

/* Scan state shared by the records of one scan. */
typedef struct {
    PyObject *plans, *lsn_topics, *position, *marks;
    BatchObject *batch;
    PyObject *index;    /* per topic index: {framed key: change index} */
    PyObject *key_ids;  /* {topic: key schema id} */
    PlanMemo memo;
    PositionMemo pmemo;
    PyObject *need; /* ("plan", topic, key id, value id) when a plan is missing */
    Progress progress;
} Scan;

enum { OK = 0, FAIL = -1, DECLINE = -2 };

static int same_object(PyObject *a, PyObject *b) {
    if (a == b) return 1;
    if (a == NULL || b == NULL) return 0;
    int eq = PyObject_RichCompareBool(a, b, Py_EQ);
    if (eq < 0) PyErr_Clear();
    return eq == 1;
}

static int scan_position(Scan *s, PyObject *topic, PyObject *raw, PyObject *kind,
                         Change *ch) {
    ch->position_obj = NULL;
    if (raw == NULL) return DECLINE; /* the Python path says a position is missing */
    if (kind == NULL && PyBytes_Check(raw)) {
        PyObject *lsn = PyDict_GetItemWithError(s->lsn_topics, topic);
        if (lsn == NULL) return PyErr_Occurred() ? FAIL : DECLINE;
        if (lsn == Py_True && parse_lsn((const unsigned char *)PyBytes_AS_STRING(raw),
                                        PyBytes_GET_SIZE(raw), ch->position))
            return OK;
    }
    PositionMemo *m = &s->pmemo;
    if (m->out == NULL || !same_object(m->raw, raw) || !same_object(m->topic, topic) ||
        !same_object(m->kind, kind)) {
        PyObject *args[3] = {topic, raw, kind ? kind : Py_None};
        PyObject *out = PyObject_Vectorcall(s->position, args, 3, NULL);
        if (out == NULL || !PyBytes_Check(out)) {
            Py_XDECREF(out);
            PyErr_Clear();
            return DECLINE;
        }
        Py_INCREF(raw);
        Py_INCREF(topic);
        Py_XINCREF(kind);
        Py_XSETREF(m->raw, raw);
        Py_XSETREF(m->topic, topic);
        Py_XSETREF(m->kind, kind);
        Py_XSETREF(m->out, out);
    }
    if (PyBytes_GET_SIZE(m->out) == 8) {
        memcpy(ch->position, PyBytes_AS_STRING(m->out), 8);
    } else {
        Py_INCREF(m->out);
        ch->position_obj = m->out;
    }
    return OK;
}

static PlanObject *find_plan(Scan *s, PyObject *topic, long key_id, long value_id, int *status) {
    PlanMemo *m = &s->memo;
    if (m->plan != NULL && m->key_id == key_id && m->value_id == value_id &&
        (m->topic == topic || PyUnicode_Compare(m->topic, topic) == 0))
        return m->plan;
    PyObject *k = Py_BuildValue("(Oll)", topic, key_id, value_id);
    if (k == NULL) {
        *status = FAIL;
        return NULL;
    }
    PyObject *plan = PyDict_GetItemWithError(s->plans, k);
    if (plan == NULL) {
        if (PyErr_Occurred()) {
            Py_DECREF(k);
            *status = FAIL;
            return NULL;
        }
        Py_XSETREF(s->need, k);
        *status = DECLINE;
        return NULL;
    }
    Py_DECREF(k);
    if (!Py_IS_TYPE(plan, &PlanType)) { /* None: this pair takes the Python path */
        *status = DECLINE;
        return NULL;
    }
    Py_INCREF(topic);
    Py_XSETREF(m->topic, topic);
    m->key_id = key_id;
    m->value_id = value_id;
    m->plan = (PlanObject *)plan;
    return m->plan;
}

static int topic_index(BatchObject *b, PyObject *topic) {
    Py_ssize_t n = PyList_GET_SIZE(b->topics);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *known = PyList_GET_ITEM(b->topics, i);
        if (known == topic || PyUnicode_Compare(known, topic) == 0) return (int)i;
    }
    if (PyErr_Occurred()) return -1;
    PyObject *kinds = Py_BuildValue("[OO]", Py_False, Py_False);
    if (kinds == NULL || PyList_Append(b->topics, topic) < 0 || PyList_Append(b->kinds, kinds) < 0) {
        Py_XDECREF(kinds);
        return -1;
    }
    Py_DECREF(kinds);
    return (int)n;
}


static int flush_progress(BatchObject *b, Progress *run) {
    if (run->topic == NULL) return 0;
    int rc = -1;
    PyObject *place = PyTuple_Pack(2, run->topic, run->partition);
    if (place == NULL) goto done;
    PyObject *known = PyDict_GetItemWithError(b->offsets, place);
    if (known == NULL && PyErr_Occurred()) goto done;
    long long had_next = known == NULL ? 0 : PyLong_AsLongLong(known);
    if (had_next == -1 && PyErr_Occurred()) goto done;
    if (known == NULL || run->next > had_next) {
        PyObject *next = PyLong_FromLongLong(run->next);
        if (next == NULL || PyDict_SetItem(b->offsets, place, next) < 0) {
            Py_XDECREF(next);
            goto done;
        }
        Py_DECREF(next);
    }
    const unsigned char *pos = run->position_obj ? (const unsigned char *)PyBytes_AS_STRING(
                                                       run->position_obj)
                                                 : run->position;
    Py_ssize_t psize = run->position_obj ? PyBytes_GET_SIZE(run->position_obj) : 8;
    PyObject *had = PyDict_GetItemWithError(b->positions, place);
    if (had == NULL && PyErr_Occurred()) goto done;
    /* the latest position: replaced unless the one held is newer or equal */
    if (had == NULL || !position_le(pos, psize, (const unsigned char *)PyBytes_AS_STRING(had),
                                    PyBytes_GET_SIZE(had))) {
        PyObject *p = PyBytes_FromStringAndSize((const char *)pos, psize);
        if (p == NULL || PyDict_SetItem(b->positions, place, p) < 0) {
            Py_XDECREF(p);
            goto done;
        }
        Py_DECREF(p);
    }
    rc = 0;
done:
    Py_XDECREF(place);
    Py_CLEAR(run->topic);
    Py_CLEAR(run->partition);
    Py_CLEAR(run->position_obj);
    return rc;
}

static int same_place(const Progress *run, PyObject *topic, PyObject *partition) {
    if (run->topic == NULL) return 0;
    if (run->topic != topic && PyUnicode_Compare(run->topic, topic) != 0) return 0;
    return run->partition == partition ||
           PyObject_RichCompareBool(run->partition, partition, Py_EQ) == 1;
}

/* Progress of the batch up to this record: offsets as progress() counts them (the offset after
 * the record), positions the latest of the partition. */
static int note_progress(BatchObject *b, Progress *run, PyObject *topic, PyObject *partition,
                         PyObject *offset, const Change *ch) {
    long long at = PyLong_AsLongLong(offset);
    if (at == -1 && PyErr_Occurred()) return -1;
    if (!same_place(run, topic, partition)) {
        if (PyErr_Occurred() || flush_progress(b, run) < 0) return -1;
        Py_INCREF(topic);
        Py_INCREF(partition);
        run->topic = topic;
        run->partition = partition;
        run->next = at + 1;
        memcpy(run->position, ch->position, 8);
        Py_XINCREF(ch->position_obj);
        run->position_obj = ch->position_obj;
        return 0;
    }
    if (at + 1 > run->next) run->next = at + 1;
    Py_ssize_t psize, rsize;
    const unsigned char *pos = change_position(ch, &psize);
    const unsigned char *held = run->position_obj
                                    ? (const unsigned char *)PyBytes_AS_STRING(run->position_obj)
                                    : run->position;
    rsize = run->position_obj ? PyBytes_GET_SIZE(run->position_obj) : 8;
    if (!position_le(pos, psize, held, rsize)) { /* newer than the one held */
        memcpy(run->position, ch->position, 8);
        Py_XINCREF(ch->position_obj);
        Py_XSETREF(run->position_obj, ch->position_obj);
    }
    return 0;
}

/* One record into the scan: OK, FAIL (an exception) or DECLINE. */
static int scan_one(Scan *s, PyObject *message) {
    PyObject *parts[6] = {NULL};
    int status = FAIL;
    for (int i = 0; i < 6; i++) {
        parts[i] = PyObject_CallMethodNoArgs(message, names[i]);
        if (parts[i] == NULL) goto done;
    }
    PyObject *topic = parts[0], *partition = parts[1], *offset = parts[2], *headers = parts[3];
    PyObject *raw_key = parts[4], *raw_value = parts[5];
    status = DECLINE;
    if (!PyUnicode_Check(topic) || !PyLong_Check(partition) || !PyLong_Check(offset)) goto done;
    PyObject *op = NULL, *pos = NULL, *kind = NULL;
    if (headers != Py_None) {
        if (!PyList_Check(headers)) goto done;
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(headers); i++) {
            PyObject *pair = PyList_GET_ITEM(headers, i);
            if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2 ||
                !PyUnicode_Check(PyTuple_GET_ITEM(pair, 0)))
                goto done;
            PyObject *name = PyTuple_GET_ITEM(pair, 0), *raw = PyTuple_GET_ITEM(pair, 1);
            if (raw == Py_None) continue;
            if (PyUnicode_CompareWithASCIIString(name, "op") == 0)
                op = raw;
            else if (PyUnicode_CompareWithASCIIString(name, "position") == 0)
                pos = raw;
            else if (PyUnicode_CompareWithASCIIString(name, "position_kind") == 0)
                kind = raw;
        }
    }
    if (op != NULL) { /* c, u, r or d (as bytes or text); t and anything else decline */
        const char *o = NULL;
        Py_ssize_t olen = 0;
        if (PyBytes_Check(op)) {
            o = PyBytes_AS_STRING(op);
            olen = PyBytes_GET_SIZE(op);
        } else if (PyUnicode_Check(op)) {
            o = PyUnicode_AsUTF8AndSize(op, &olen);
            if (o == NULL) {
                PyErr_Clear();
                goto done;
            }
        }
        if (o == NULL || olen != 1 || strchr("curd", o[0]) == NULL) goto done;
    }
    long key_id = raw_key == Py_None ? -1 : framed_id(raw_key);
    long value_id = raw_value == Py_None ? 0 : framed_id(raw_value);
    if (key_id < 0 || value_id < 0) goto done; /* no key, or not framed */
    if (raw_value == Py_None) value_id = -1;
    BatchObject *b = s->batch;
    if (grow_changes(b) < 0) {
        status = FAIL;
        goto done;
    }
    Change *ch = &b->changes[b->count];
    if ((status = scan_position(s, topic, pos, kind, ch)) != OK) goto done;
    status = FAIL;
    /* one key schema per topic and batch: keys compare by their bytes */
    PyObject *kid = PyLong_FromLong(key_id);
    if (kid == NULL) goto position;
    PyObject *seen = PyDict_SetDefault(s->key_ids, topic, kid);
    int same = seen != NULL ? PyObject_RichCompareBool(seen, kid, Py_EQ) : -1;
    Py_DECREF(kid);
    if (same < 0) goto position;
    if (same == 0) {
        status = DECLINE;
        goto position;
    }
    PlanObject *plan = find_plan(s, topic, key_id, value_id, &status);
    if (plan == NULL) goto position;
    status = FAIL;
    int t = topic_index(b, topic);
    if (t < 0) goto position;
    ch->topic = t;
    if (note_progress(b, &s->progress, topic, partition, offset, ch) < 0) goto position;
    /* a change before the table's truncate mark is already gone */
    Py_ssize_t psize;
    const unsigned char *p = change_position(ch, &psize);
    PyObject *mark = PyDict_GetItemWithError(s->marks, topic);
    if (mark == NULL && PyErr_Occurred()) goto position;
    if (mark != NULL && mark != Py_None) {
        if (!PyBytes_Check(mark)) goto position;
        if (!position_le((const unsigned char *)PyBytes_AS_STRING(mark), PyBytes_GET_SIZE(mark),
                         p, psize)) {
            status = OK;
            goto position;
        }
    }
    /* compaction by key (the framed key's bytes: one key schema per topic), in log order */
    while (PyList_GET_SIZE(s->index) <= t) {
        PyObject *d = PyDict_New();
        if (d == NULL || PyList_Append(s->index, d) < 0) {
            Py_XDECREF(d);
            goto position;
        }
        Py_DECREF(d);
    }
    PyObject *index = PyList_GET_ITEM(s->index, t);
    PyObject *at = PyDict_GetItemWithError(index, raw_key);
    if (at == NULL && PyErr_Occurred()) goto position;
    Change *slot;
    if (at == NULL) {
        PyObject *i = PyLong_FromSsize_t(b->count);
        if (i == NULL || PyDict_SetItem(index, raw_key, i) < 0) {
            Py_XDECREF(i);
            goto position;
        }
        Py_DECREF(i);
        slot = ch;
        b->count++;
    } else {
        Change *kept = &b->changes[PyLong_AsSsize_t(at)];
        Py_ssize_t ksize;
        const unsigned char *kp = change_position(kept, &ksize);
        if (!position_le(kp, ksize, p, psize)) { /* an older change than the one kept */
            status = OK;
            goto position;
        }
        Py_XDECREF(kept->key);
        Py_XDECREF(kept->value);
        Py_XDECREF(kept->plan);
        Py_XDECREF(kept->position_obj);
        memcpy(kept->position, ch->position, 8);
        kept->position_obj = ch->position_obj;
        ch->position_obj = NULL;
        slot = kept;
    }
    if (slot != ch) slot->topic = t;
    Py_INCREF(raw_key);
    slot->key = raw_key;
    slot->value = raw_value == Py_None ? NULL : raw_value;
    Py_XINCREF(slot->value);
    Py_INCREF(plan);
    slot->plan = plan;
    status = OK;
    goto done;
position: /* ch was not kept: let go of its position */
    Py_CLEAR(ch->position_obj);
done:
    for (int i = 0; i < 6; i++) Py_XDECREF(parts[i]);
    return status;
}

static void set_kinds(BatchObject *b) {
    for (Py_ssize_t i = 0; i < b->count; i++) {
        PyObject *kinds = PyList_GET_ITEM(b->kinds, b->changes[i].topic);
        int which = b->changes[i].value == NULL ? 0 : 1;
        Py_INCREF(Py_True);
        PyList_SetItem(kinds, which, Py_True);
    }
}

/* scan(messages, plans, lsn_topics, position, marks) -> Batch, ("plan", ...) or None */
static PyObject *scan(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 5) {
        PyErr_SetString(PyExc_TypeError, "scan takes 5 arguments");
        return NULL;
    }
    PyObject *seq = PySequence_Fast(args[0], "messages must be a sequence");
    if (seq == NULL) return NULL;
    Scan s = {args[1], args[2], args[3], args[4], NULL, NULL, NULL, {NULL, 0, 0, NULL},
              {NULL, NULL, NULL, NULL}, NULL, {NULL, NULL, 0, {0}, NULL}};
    PyObject *out = NULL;
    if (!PyDict_Check(s.plans) || !PyDict_Check(s.lsn_topics) || !PyDict_Check(s.marks)) {
        PyErr_SetString(PyExc_TypeError, "plans, lsn_topics and marks must be dicts");
        goto done;
    }
    s.batch = PyObject_New(BatchObject, &BatchType);
    if (s.batch == NULL) goto done;
    s.batch->changes = NULL;
    s.batch->count = s.batch->cap = 0;
    s.batch->topics = PyList_New(0);
    s.batch->kinds = PyList_New(0);
    s.batch->offsets = PyDict_New();
    s.batch->positions = PyDict_New();
    s.index = PyList_New(0);
    s.key_ids = PyDict_New();
    if (!s.batch->topics || !s.batch->kinds || !s.batch->offsets || !s.batch->positions ||
        !s.index || !s.key_ids)
        goto done;
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        int status = scan_one(&s, PySequence_Fast_GET_ITEM(seq, i));
        if (status == FAIL) goto done;
        if (status == DECLINE) {
            if (s.need != NULL) {
                out = Py_BuildValue("(sO)", "plan", s.need);
            } else {
                Py_INCREF(Py_None);
                out = Py_None;
            }
            goto done;
        }
    }
    if (flush_progress(s.batch, &s.progress) < 0) goto done;
    set_kinds(s.batch);
    out = (PyObject *)s.batch;
    s.batch = NULL;
done:
    Py_DECREF(seq);
    Py_XDECREF(s.batch);
    Py_XDECREF(s.index);
    Py_XDECREF(s.key_ids);
    Py_XDECREF(s.memo.topic);
    Py_XDECREF(s.pmemo.raw);
    Py_XDECREF(s.pmemo.topic);
    Py_XDECREF(s.pmemo.kind);
    Py_XDECREF(s.pmemo.out);
    Py_XDECREF(s.need);
    Py_XDECREF(s.progress.topic);
    Py_XDECREF(s.progress.partition);
    Py_XDECREF(s.progress.position_obj);
    return out;
}

/* filename(connection) -> the file of the connection's main database as SQLite names it, or
 * None if run() cannot use this connection (the sqlite3 module does not use the very SQLite
 * library this module links, or the connection is closed). */
static PyObject *filename(PyObject *module, PyObject *conn) {
    (void)module;
    if (same_library != 1 || !PyObject_TypeCheck(conn, (PyTypeObject *)connection_type))
        Py_RETURN_NONE;
    sqlite3 *db = ((ConnectionHead *)conn)->db;
    const char *name = db == NULL ? NULL : sqlite3_db_filename(db, "main");
    if (name == NULL) Py_RETURN_NONE;
    return PyUnicode_DecodeFSDefault(name);
}

/* Whether the sqlite3 module's _sqlite3 extension resolves SQLite's functions to the library
 * this module links: a copy of SQLite inside _sqlite3 would make its handles foreign here. */
static int check_library(PyObject *sqlite3_module) {
    PyObject *ext = PyImport_ImportModule("_sqlite3");
    if (ext == NULL) return -1;
    PyObject *file = PyObject_GetAttrString(ext, "__file__");
    Py_DECREF(ext);
    if (file == NULL) {
        PyErr_Clear();
        return 0;
    }
    const char *path = PyUnicode_AsUTF8(file);
    int same = 0;
    if (path != NULL) {
        void *handle = dlopen(path, RTLD_NOW | RTLD_NOLOAD);
        if (handle != NULL) {
            void *theirs = dlsym(handle, "sqlite3_libversion");
            same = theirs != NULL && theirs == (void *)&sqlite3_libversion;
            dlclose(handle);
        }
    }
    PyErr_Clear();
    Py_DECREF(file);
    (void)sqlite3_module;
    return same;
}

static PyMethodDef methods[] = {
    {"compile", (PyCFunction)compile_plan, METH_VARARGS,
     "compile(key_id, key_fields, value_id, value_fields) -> Plan"},
    {"scan", (PyCFunction)(void (*)(void))scan, METH_FASTCALL,
     "scan(messages, plans, lsn_topics, position, marks) -> Batch, ('plan', need) or None"},
    {"filename", (PyCFunction)filename, METH_O,
     "filename(connection) -> its main database file, or None if Batch.run cannot use it"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_fused",
    "The fused apply of SQLite and PostgreSQL views (see fused.py).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__fused(void) {
    static const char *method[6] = {"topic", "partition", "offset", "headers", "key", "value"};
    for (int i = 0; i < 6; i++) {
        names[i] = PyUnicode_InternFromString(method[i]);
        if (names[i] == NULL) return NULL;
    }
    if (PyType_Ready(&PlanType) < 0 || PyType_Ready(&BatchType) < 0) return NULL;
    PyObject *sqlite3_module = PyImport_ImportModule("sqlite3");
    if (sqlite3_module == NULL) return NULL;
    connection_type = PyObject_GetAttrString(sqlite3_module, "Connection");
    if (connection_type == NULL || !PyType_Check(connection_type)) {
        Py_DECREF(sqlite3_module);
        return NULL;
    }
    same_library = check_library(sqlite3_module);
    Py_DECREF(sqlite3_module);
    if (same_library < 0) return NULL;
    PyObject *m = PyModule_Create(&module_def);
    if (m == NULL) return NULL;
    Declined = PyErr_NewException("strangler.materializers._fused.Declined", NULL, NULL);
    if (Declined == NULL || PyModule_AddObjectRef(m, "Declined", Declined) < 0 ||
        PyModule_AddIntConstant(m, "same_library", same_library) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
