/* Native hot paths of the materializers: Confluent-framed Avro records of flat schemas, decoded
 * into the very values the generated Python reader (avro_reader.py) gives, and the common case
 * of a whole Kafka record (headers, position, key and value) turned into a ChangeRecord.
 *
 * Reader: a per-writer-schema plan built in Python (native.py) becomes an object called like a
 * generated reader, (payload, start) -> (record dict, end). Kinds it knows: null, boolean,
 * int/long, float, double, string, bytes, enum, fixed, the four timestamps (made here, as
 * epoch + timedelta would), date (date.fromordinal), and anything with a logical reader of
 * fastavro's (decimal, uuid, time-*) through that very reader; unions of those. Every read is
 * bounds-checked; corrupt input raises IndexError / EOFError / ValueError / OverflowError.
 *
 * Decoder: decode(message) returns the ChangeRecord of a Kafka record when everything about it
 * is the common case, and None otherwise (a position_kind header, a position it does not parse,
 * a schema without a native reader, any error): the Python path then decodes the record and
 * says what is wrong with it, so errors and dead letters stay exactly what they were. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <datetime.h>
#include <structmember.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "avro_common.h"
#include "pg_binary.h"


typedef struct {
    int kind;
    Py_ssize_t size;   /* K_FIXED: its size */
    PyObject *symbols; /* K_ENUM: tuple of symbols */
    PyObject *post;    /* a logical reader called as post(value, post_schema, None), or NULL */
    PyObject *post_schema;
} Leaf;

typedef struct {
    PyObject *name;
    int is_union;
    Py_ssize_t nbranches;
    Leaf *branches;
} Field;

typedef struct {
    PyObject_HEAD
    vectorcallfunc vectorcall;
    Py_ssize_t nfields;
    Field *fields;
} ReaderObject;

typedef struct {
    const unsigned char *b;
    Py_ssize_t n;
    Py_ssize_t p;
} Cursor;

/* ---- primitives ------------------------------------------------------------------------- */

static int past_end(void) {
    PyErr_SetString(PyExc_IndexError, "index out of range");
    return -1;
}

/* One zig-zag varint of at most 64 bits (a longer one is corrupt input here; the Python reader
 * would read it as a big integer, so such a record takes the Python path in Decoder). */
static int read_long(Cursor *c, int64_t *out) {
    uint64_t x = 0;
    for (int shift = 0;; shift += 7) {
        if (c->p >= c->n) return past_end();
        unsigned char byte = c->b[c->p++];
        if (shift == 63 && byte > 1) {
            PyErr_SetString(PyExc_ValueError, "varint longer than 64 bits");
            return -1;
        }
        x |= (uint64_t)(byte & 0x7F) << shift;
        if (!(byte & 0x80)) break;
    }
    *out = (int64_t)((x >> 1) ^ (~(x & 1) + 1));
    return 0;
}

static int read_sized(Cursor *c, Py_ssize_t *start, Py_ssize_t size) {
    if (size < 0 || size > c->n - c->p) {
        PyErr_SetString(PyExc_EOFError, "short string or bytes");
        return -1;
    }
    *start = c->p;
    c->p += size;
    return 0;
}

static int read_length(Cursor *c, Py_ssize_t *start, Py_ssize_t *size) {
    int64_t n;
    if (read_long(c, &n) < 0) return -1;
    if (n < 0 || n > (int64_t)(c->n - c->p)) {
        PyErr_SetString(PyExc_EOFError, "short string or bytes");
        return -1;
    }
    *size = (Py_ssize_t)n;
    return read_sized(c, start, *size);
}



/* epoch + timedelta(microseconds=us), epoch aware (UTC) or naive. */
static PyObject *timestamp(int64_t us, int utc) {
    int64_t days = us / US_PER_DAY, rem = us % US_PER_DAY;
    if (rem < 0) {
        rem += US_PER_DAY;
        days -= 1;
    }
    if (days < FIRST_DAY || days > LAST_DAY) {
        PyErr_SetString(PyExc_OverflowError, "date value out of range");
        return NULL;
    }
    int y, m, d;
    civil_from_days(days, &y, &m, &d);
    int64_t secs = rem / 1000000;
    return PyDateTimeAPI->DateTime_FromDateAndTime(
        y, m, d, (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60),
        (int)(rem % 1000000), utc ? PyDateTime_TimeZone_UTC : Py_None,
        PyDateTimeAPI->DateTimeType);
}

/* date.fromordinal(days + 719163) */
static PyObject *date_of(int64_t days) {
    if (days < FIRST_DAY || days > LAST_DAY) {
        PyErr_Format(PyExc_ValueError, "ordinal %lld is out of range",
                     (long long)days + 719163);
        return NULL;
    }
    int y, m, d;
    civil_from_days(days, &y, &m, &d);
    return PyDateTimeAPI->Date_FromDate(y, m, d, PyDateTimeAPI->DateType);
}

static PyObject *millis_timestamp(int64_t ms, int utc) {
    if (ms > INT64_MAX / 1000 || ms < INT64_MIN / 1000) {
        PyErr_SetString(PyExc_OverflowError, "date value out of range");
        return NULL;
    }
    return timestamp(ms * 1000, utc);
}

static PyObject *read_leaf(Cursor *c, const Leaf *leaf) {
    int64_t n;
    Py_ssize_t start, size;
    switch (leaf->kind) {
    case K_NULL:
        Py_RETURN_NONE;
    case K_BOOLEAN:
        if (c->p >= c->n) {
            past_end();
            return NULL;
        }
        return PyBool_FromLong(c->b[c->p++] != 0);
    case K_LONG:
        if (read_long(c, &n) < 0) return NULL;
        return PyLong_FromLongLong(n);
    case K_FLOAT:
    case K_DOUBLE: {
        Py_ssize_t width = leaf->kind == K_FLOAT ? 4 : 8;
        if (width > c->n - c->p) {
            PyErr_SetString(PyExc_EOFError, "short float or double");
            return NULL;
        }
        const char *at = (const char *)c->b + c->p;
        c->p += width;
        double v = width == 4 ? PyFloat_Unpack4(at, 1) : PyFloat_Unpack8(at, 1);
        if (v == -1.0 && PyErr_Occurred()) return NULL;
        return PyFloat_FromDouble(v);
    }
    case K_STRING:
        if (read_length(c, &start, &size) < 0) return NULL;
        return PyUnicode_DecodeUTF8((const char *)c->b + start, size, NULL);
    case K_BYTES:
        if (read_length(c, &start, &size) < 0) return NULL;
        return PyBytes_FromStringAndSize((const char *)c->b + start, size);
    case K_FIXED:
        if (read_sized(c, &start, leaf->size) < 0) return NULL;
        return PyBytes_FromStringAndSize((const char *)c->b + start, leaf->size);
    case K_ENUM: {
        if (read_long(c, &n) < 0) return NULL;
        Py_ssize_t count = PyTuple_GET_SIZE(leaf->symbols);
        if (n < -(int64_t)count || n >= (int64_t)count) { /* Python indexing: -1 is the last */
            PyErr_SetString(PyExc_IndexError, "tuple index out of range");
            return NULL;
        }
        PyObject *symbol = PyTuple_GET_ITEM(leaf->symbols, n < 0 ? n + count : n);
        Py_INCREF(symbol);
        return symbol;
    }
    case K_TS_MICROS:
    case K_LOCAL_TS_MICROS:
        if (read_long(c, &n) < 0) return NULL;
        return timestamp(n, leaf->kind == K_TS_MICROS);
    case K_TS_MILLIS:
    case K_LOCAL_TS_MILLIS:
        if (read_long(c, &n) < 0) return NULL;
        return millis_timestamp(n, leaf->kind == K_TS_MILLIS);
    case K_DATE:
        if (read_long(c, &n) < 0) return NULL;
        return date_of(n);
    }
    PyErr_SetString(PyExc_SystemError, "unknown kind in a native reader plan");
    return NULL;
}

static PyObject *read_value(Cursor *c, const Leaf *leaf) {
    PyObject *value = read_leaf(c, leaf);
    if (value == NULL || leaf->post == NULL) return value;
    PyObject *args[3] = {value, leaf->post_schema, Py_None};
    PyObject *out = PyObject_Vectorcall(leaf->post, args, 3, NULL);
    Py_DECREF(value);
    return out;
}

static PyObject *read_field(Cursor *c, const Field *field) {
    if (!field->is_union) return read_value(c, &field->branches[0]);
    int64_t u;
    if (read_long(c, &u) < 0) return NULL;
    if (u < 0 || u >= (int64_t)field->nbranches) {
        PyErr_Format(PyExc_IndexError, "union index %lld", (long long)u);
        return NULL;
    }
    return read_value(c, &field->branches[u]);
}

/* The record at c->p; c->p is then just after it. */
static PyObject *read_record(const ReaderObject *r, Cursor *c) {
    PyObject *out = PyDict_New();
    if (out == NULL) return NULL;
    for (Py_ssize_t i = 0; i < r->nfields; i++) {
        PyObject *value = read_field(c, &r->fields[i]);
        if (value == NULL || PyDict_SetItem(out, r->fields[i].name, value) < 0) {
            Py_XDECREF(value);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(value);
    }
    return out;
}

/* ---- Reader ----------------------------------------------------------------------------- */

static void free_fields(Field *fields, Py_ssize_t count) {
    if (fields == NULL) return;
    for (Py_ssize_t i = 0; i < count; i++) {
        Py_XDECREF(fields[i].name);
        for (Py_ssize_t j = 0; j < fields[i].nbranches; j++) {
            Py_XDECREF(fields[i].branches[j].symbols);
            Py_XDECREF(fields[i].branches[j].post);
            Py_XDECREF(fields[i].branches[j].post_schema);
        }
        PyMem_Free(fields[i].branches);
    }
    PyMem_Free(fields);
}

static void reader_dealloc(ReaderObject *self) {
    free_fields(self->fields, self->nfields);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *reader_vectorcall(PyObject *callable, PyObject *const *args, size_t nargsf,
                                   PyObject *kwnames) {
    ReaderObject *self = (ReaderObject *)callable;
    if (PyVectorcall_NARGS(nargsf) != 2 || (kwnames && PyTuple_GET_SIZE(kwnames))) {
        PyErr_SetString(PyExc_TypeError, "a reader takes (payload, start)");
        return NULL;
    }
    if (!PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "the payload must be bytes");
        return NULL;
    }
    Py_ssize_t start = PyLong_AsSsize_t(args[1]);
    if (start == -1 && PyErr_Occurred()) return NULL;
    Cursor c = {(const unsigned char *)PyBytes_AS_STRING(args[0]), PyBytes_GET_SIZE(args[0]),
                start};
    if (start < 0 || start > c.n) {
        PyErr_SetString(PyExc_IndexError, "index out of range");
        return NULL;
    }
    PyObject *record = read_record(self, &c);
    if (record == NULL) return NULL;
    return Py_BuildValue("(Nn)", record, c.p);
}

static PyObject *reader_call(PyObject *self, PyObject *args, PyObject *kwargs) {
    return PyVectorcall_Call(self, args, kwargs);
}

static PyTypeObject ReaderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "strangler.materializers._speedups.Reader",
    .tp_basicsize = sizeof(ReaderObject),
    .tp_dealloc = (destructor)reader_dealloc,
    .tp_vectorcall_offset = offsetof(ReaderObject, vectorcall),
    .tp_call = reader_call,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_VECTORCALL,
    .tp_doc = "A native reader of one writer schema: (payload, start) -> (record, end).",
};

static int parse_leaf(PyObject *spec, Leaf *leaf) {
    /* (kind, arg, post, post_schema): arg is the enum's symbols or the fixed size */
    PyObject *arg, *post, *post_schema;
    if (!PyArg_ParseTuple(spec, "iOOO;a leaf is (kind, arg, post, post_schema)", &leaf->kind,
                          &arg, &post, &post_schema))
        return -1;
    if (leaf->kind < 0 || leaf->kind > K_LAST) {
        PyErr_Format(PyExc_ValueError, "unknown kind %d", leaf->kind);
        return -1;
    }
    if (leaf->kind == K_ENUM) {
        if (!PyTuple_Check(arg)) {
            PyErr_SetString(PyExc_TypeError, "an enum's arg is the tuple of its symbols");
            return -1;
        }
        Py_INCREF(arg);
        leaf->symbols = arg;
    }
    if (leaf->kind == K_FIXED) {
        leaf->size = PyLong_AsSsize_t(arg);
        if (leaf->size < 0) {
            if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "negative fixed size");
            return -1;
        }
    }
    if (post != Py_None) {
        Py_INCREF(post);
        Py_INCREF(post_schema);
        leaf->post = post;
        leaf->post_schema = post_schema;
    }
    return 0;
}

static int parse_field(PyObject *spec, Field *field) {
    /* (name, is_union, [leaf, ...]) */
    PyObject *name, *leaves;
    int is_union;
    if (!PyArg_ParseTuple(spec, "UpO!;a field is (name, is_union, [leaf, ...])", &name,
                          &is_union, &PyList_Type, &leaves))
        return -1;
    Py_INCREF(name);
    field->name = name;
    field->is_union = is_union;
    Py_ssize_t count = PyList_GET_SIZE(leaves);
    if (count < 1 || (!is_union && count != 1)) {
        PyErr_SetString(PyExc_ValueError, "a field has one leaf, a union at least one");
        return -1;
    }
    field->branches = PyMem_Calloc((size_t)count, sizeof(Leaf));
    if (field->branches == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        field->nbranches = i + 1;
        if (parse_leaf(PyList_GET_ITEM(leaves, i), &field->branches[i]) < 0) return -1;
    }
    return 0;
}

static PyObject *make_reader(PyObject *module, PyObject *plan) {
    (void)module;
    if (!PyList_Check(plan)) {
        PyErr_SetString(PyExc_TypeError, "a plan is a list of fields");
        return NULL;
    }
    ReaderObject *self = PyObject_New(ReaderObject, &ReaderType);
    if (self == NULL) return NULL;
    self->vectorcall = reader_vectorcall;
    self->nfields = 0;
    Py_ssize_t count = PyList_GET_SIZE(plan);
    self->fields = PyMem_Calloc(count ? (size_t)count : 1, sizeof(Field));
    if (self->fields == NULL) {
        Py_DECREF(self);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < count; i++) {
        self->nfields = i + 1;
        if (parse_field(PyList_GET_ITEM(plan, i), &self->fields[i]) < 0) {
            Py_DECREF(self);
            return NULL;
        }
    }
    return (PyObject *)self;
}

/* ---- slotted dataclasses, built without their __init__ ---------------------------------- */

/* ChangeRecord and StagedRow are made once per change: their generated __init__ (a Python frame)
 * and the collector's passes over them (they sit in lists of thousands while a batch is
 * applied) cost more than the rest of staging. A plan writes the slots directly, as __init__
 * would with every field given, and leaves the object untracked by the collector: what these
 * records hold (str, int, bytes, bool, enum members, dicts of decoded values, writer schemas,
 * tuples) never refers back to them, so they are never part of a cycle. */
#define MAX_SLOTS 16

typedef struct {
    PyObject *type; /* strong: the type last planned for, or NULL */
    int ok;         /* 0: no plan for it (call the type) */
    Py_ssize_t count;
    Py_ssize_t offsets[MAX_SLOTS];
} Slots;

/* A plan for `type` if it is a dataclass with `count` fields, each a plain object slot, no
 * __post_init__, object's __new__ and nothing else in its instances; otherwise no plan.
 * -1 only on a failing lookup. */
static int slots_plan(Slots *plan, PyObject *type, Py_ssize_t count) {
    Py_XSETREF(plan->type, Py_NewRef(type));
    plan->ok = 0;
    plan->count = count;
    if (!PyType_Check(type) || count > MAX_SLOTS) return 0;
    PyTypeObject *t = (PyTypeObject *)type;
    if (t->tp_base != &PyBaseObject_Type || t->tp_new != PyBaseObject_Type.tp_new ||
        t->tp_dictoffset != 0 || t->tp_weaklistoffset != 0 ||
        t->tp_basicsize != (Py_ssize_t)(sizeof(PyObject) + count * sizeof(PyObject *)))
        return 0;
    PyObject *post_init = PyObject_GetAttrString(type, "__post_init__");
    if (post_init != NULL) {
        Py_DECREF(post_init);
        return 0;
    }
    if (!PyErr_ExceptionMatches(PyExc_AttributeError)) return -1;
    PyErr_Clear();
    PyObject *fields = PyObject_GetAttrString(type, "__dataclass_fields__");
    if (fields == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError)) return -1;
        PyErr_Clear();
        return 0;
    }
    int ok = fields != NULL && PyDict_CheckExact(fields) && PyDict_GET_SIZE(fields) == count;
    Py_ssize_t pos = 0, i = 0;
    PyObject *name, *field;
    while (ok && PyDict_Next(fields, &pos, &name, &field)) {
        PyObject *descr = PyDict_GetItemWithError(t->tp_dict, name);
        ok = descr != NULL && Py_IS_TYPE(descr, &PyMemberDescr_Type);
        if (ok) {
            PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
            ok = member->type == T_OBJECT_EX && !(member->flags & READONLY) &&
                 member->offset >= (Py_ssize_t)sizeof(PyObject) &&
                 member->offset + (Py_ssize_t)sizeof(PyObject *) <= t->tp_basicsize;
            plan->offsets[i++] = member->offset;
        }
    }
    Py_XDECREF(fields);
    if (PyErr_Occurred()) return -1;
    plan->ok = ok;
    return 0;
}

/* type(*values) through the plan (values in __init__'s order), untracked; else the call. */
static PyObject *slots_new(const Slots *plan, PyObject *type, PyObject *const *values,
                           Py_ssize_t count) {
    if (!plan->ok || plan->type != type || plan->count != count)
        return PyObject_Vectorcall(type, values, (size_t)count, NULL);
    PyTypeObject *t = (PyTypeObject *)type;
    PyObject *out = t->tp_alloc(t, 0);
    if (out == NULL) return NULL;
    for (Py_ssize_t i = 0; i < count; i++)
        *(PyObject **)((char *)out + plan->offsets[i]) = Py_NewRef(values[i]);
    if (PyObject_IS_GC(out)) PyObject_GC_UnTrack(out);
    return out;
}

/* ---- Decoder ---------------------------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
    PyObject *lsn_topics; /* dict topic -> bool: positions are PostgreSQL LSNs */
    PyObject *ops;        /* dict op header (str and bytes) -> Op */
    PyObject *op_update, *op_delete, *op_truncate;
    PyObject *record_type; /* ChangeRecord */
    PyObject *schema;      /* schema_id -> (WriterSchema, Reader or None) */
    PyObject *position;    /* (topic, raw, kind) -> sort key, or raises */
    PyObject *cache;       /* dict schema id -> (WriterSchema, Reader or None) */
    PyObject *last_position;
    Slots record_plan; /* ChangeRecord's nine fields */
} DecoderObject;

/* The decoder holds bound methods of the RecordDecoder that holds it: a cycle, so it takes part
 * in garbage collection. */
static int decoder_traverse(DecoderObject *self, visitproc visit, void *arg) {
    Py_VISIT(self->lsn_topics);
    Py_VISIT(self->ops);
    Py_VISIT(self->op_update);
    Py_VISIT(self->op_delete);
    Py_VISIT(self->op_truncate);
    Py_VISIT(self->record_type);
    Py_VISIT(self->schema);
    Py_VISIT(self->position);
    Py_VISIT(self->cache);
    Py_VISIT(self->last_position);
    Py_VISIT(self->record_plan.type);
    return 0;
}

static int decoder_clear(DecoderObject *self) {
    Py_CLEAR(self->lsn_topics);
    Py_CLEAR(self->ops);
    Py_CLEAR(self->op_update);
    Py_CLEAR(self->op_delete);
    Py_CLEAR(self->op_truncate);
    Py_CLEAR(self->record_type);
    Py_CLEAR(self->schema);
    Py_CLEAR(self->position);
    Py_CLEAR(self->cache);
    Py_CLEAR(self->last_position);
    Py_CLEAR(self->record_plan.type);
    return 0;
}

static void decoder_dealloc(DecoderObject *self) {
    PyObject_GC_UnTrack(self);
    decoder_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int decoder_init(DecoderObject *self, PyObject *args, PyObject *kwargs) {
    static char *names[] = {"lsn_topics", "ops",         "update",   "delete", "truncate",
                            "record_type", "schema", "position", NULL};
    PyObject *lsn_topics, *ops, *update, *delete, *truncate, *record_type, *schema, *position;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O!O!OOOOOO", names, &PyDict_Type,
                                     &lsn_topics, &PyDict_Type, &ops, &update, &delete,
                                     &truncate, &record_type, &schema, &position))
        return -1;
    PyObject *cache = PyDict_New();
    if (cache == NULL) return -1;
    PyObject *objects[] = {lsn_topics, ops, update, delete, truncate, record_type, schema,
                           position};
    for (size_t i = 0; i < sizeof(objects) / sizeof(objects[0]); i++) Py_INCREF(objects[i]);
    Py_XSETREF(self->lsn_topics, lsn_topics);
    Py_XSETREF(self->ops, ops);
    Py_XSETREF(self->op_update, update);
    Py_XSETREF(self->op_delete, delete);
    Py_XSETREF(self->op_truncate, truncate);
    Py_XSETREF(self->record_type, record_type);
    Py_XSETREF(self->schema, schema);
    Py_XSETREF(self->position, position);
    Py_XSETREF(self->cache, cache);
    Py_CLEAR(self->last_position);
    return slots_plan(&self->record_plan, record_type, 9);
}



/* The position sort key of a record, new reference; NULL with an exception set, or NULL
 * without one (*fallback) when the Python path must decide. */
static PyObject *position_of(DecoderObject *self, PyObject *topic, PyObject *raw,
                             PyObject *kind, int *fallback) {
    if (kind == NULL && raw != NULL && PyBytes_Check(raw)) {
        PyObject *lsn = PyDict_GetItemWithError(self->lsn_topics, topic);
        if (lsn == NULL) {
            PyErr_Clear(); /* a topic the view does not follow: the Python path says so */
            *fallback = 1;
            return NULL;
        }
        unsigned char key[8];
        if (lsn == Py_True &&
            parse_lsn((const unsigned char *)PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw), key)) {
            PyObject *last = self->last_position;
            if (last != NULL && memcmp(PyBytes_AS_STRING(last), key, 8) == 0) {
                Py_INCREF(last);
                return last;
            }
            PyObject *out = PyBytes_FromStringAndSize((const char *)key, 8);
            if (out == NULL) return NULL;
            Py_INCREF(out);
            Py_XSETREF(self->last_position, out);
            return out;
        }
    }
    PyObject *args[3] = {topic, raw ? raw : Py_None, kind ? kind : Py_None};
    PyObject *out = PyObject_Vectorcall(self->position, args, 3, NULL);
    if (out == NULL || !PyBytes_Check(out)) {
        Py_XDECREF(out);
        PyErr_Clear(); /* the Python path says what is wrong with it */
        *fallback = 1;
        return NULL;
    }
    return out;
}

/* (WriterSchema, record) of a framed payload with a native reader; NULL with *fallback set when
 * the Python path must read it (an exception is left set only for a failing registry). */
static int read_framed(DecoderObject *self, PyObject *data, PyObject **schema,
                       PyObject **record, int *fallback) {
    if (!PyBytes_Check(data) || PyBytes_GET_SIZE(data) < 5 || PyBytes_AS_STRING(data)[0] != 0) {
        *fallback = 1;
        return -1;
    }
    const unsigned char *b = (const unsigned char *)PyBytes_AS_STRING(data);
    unsigned long id = (unsigned long)b[1] << 24 | (unsigned long)b[2] << 16 |
                       (unsigned long)b[3] << 8 | (unsigned long)b[4];
    PyObject *key = PyLong_FromUnsignedLong(id);
    if (key == NULL) return -1;
    PyObject *cached = PyDict_GetItemWithError(self->cache, key); /* borrowed */
    if (cached == NULL && !PyErr_Occurred()) {
        PyObject *fresh = PyObject_CallOneArg(self->schema, key);
        if (fresh == NULL || !PyTuple_Check(fresh) || PyTuple_GET_SIZE(fresh) != 2 ||
            PyDict_SetItem(self->cache, key, fresh) < 0) {
            if (fresh != NULL && !PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "schema() must give (WriterSchema, reader)");
            Py_XDECREF(fresh);
            Py_DECREF(key);
            PyErr_Clear(); /* the Python path fetches it again and says what is wrong */
            *fallback = 1;
            return -1;
        }
        cached = fresh;
        Py_DECREF(fresh); /* the cache holds it */
    }
    Py_DECREF(key);
    if (cached == NULL) return -1;
    PyObject *reader = PyTuple_GET_ITEM(cached, 1);
    if (!Py_IS_TYPE(reader, &ReaderType)) {
        *fallback = 1;
        return -1;
    }
    Cursor c = {b, PyBytes_GET_SIZE(data), 5};
    *record = read_record((ReaderObject *)reader, &c);
    if (*record == NULL || c.p != c.n) {
        Py_CLEAR(*record);
        PyErr_Clear(); /* corrupt or foreign: the Python path names the problem */
        *fallback = 1;
        return -1;
    }
    *schema = PyTuple_GET_ITEM(cached, 0);
    Py_INCREF(*schema);
    return 0;
}

static PyObject *method_names[6]; /* interned: topic, partition, offset, headers, key, value */

/* The last non-None op, position and position_kind headers (borrowed), as the Python path. */
static int scan_headers(PyObject *headers, PyObject **op, PyObject **position, PyObject **kind,
                        int *fallback) {
    if (headers == Py_None) return 0;
    if (!PyList_Check(headers)) {
        *fallback = 1;
        return -1;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(headers); i++) {
        PyObject *pair = PyList_GET_ITEM(headers, i);
        if (!PyTuple_Check(pair) || PyTuple_GET_SIZE(pair) != 2 ||
            !PyUnicode_Check(PyTuple_GET_ITEM(pair, 0))) {
            *fallback = 1;
            return -1;
        }
        PyObject *name = PyTuple_GET_ITEM(pair, 0), *raw = PyTuple_GET_ITEM(pair, 1);
        if (raw == Py_None) continue;
        if (PyUnicode_CompareWithASCIIString(name, "op") == 0)
            *op = raw;
        else if (PyUnicode_CompareWithASCIIString(name, "position") == 0)
            *position = raw;
        else if (PyUnicode_CompareWithASCIIString(name, "position_kind") == 0)
            *kind = raw;
    }
    return 0;
}

static PyObject *fast_decode(DecoderObject *self, PyObject *message, int *fallback,
                             PyObject **parts) {
    /* parts: topic, partition, offset, headers, key, value (new references, freed by caller) */
    for (int i = 0; i < 6; i++) {
        parts[i] = PyObject_CallMethodNoArgs(message, method_names[i]);
        if (parts[i] == NULL) return NULL;
    }
    PyObject *topic = parts[0], *raw_key = parts[4], *raw_value = parts[5];
    if (!PyUnicode_Check(topic) || !PyLong_Check(parts[1]) || !PyLong_Check(parts[2])) {
        *fallback = 1; /* None topic, partition or offset: as the Python path does it */
        return NULL;
    }
    PyObject *op_raw = NULL, *pos_raw = NULL, *kind_raw = NULL;
    if (scan_headers(parts[3], &op_raw, &pos_raw, &kind_raw, fallback) < 0) return NULL;
    PyObject *op;
    if (op_raw == NULL) {
        op = raw_value == Py_None ? self->op_delete : self->op_update;
    } else {
        op = PyDict_GetItemWithError(self->ops, op_raw);
        if (op == NULL) {
            PyErr_Clear(); /* unhashable or unknown: the Python path names it */
            *fallback = 1;
            return NULL;
        }
    }
    PyObject *position = position_of(self, topic, pos_raw, kind_raw, fallback);
    if (position == NULL) return NULL;
    PyObject *key_schema = NULL, *key = NULL, *value_schema = NULL, *value = NULL;
    PyObject *out = NULL;
    if (op != self->op_truncate) {
        if (raw_key == Py_None) {
            *fallback = 1; /* the Python path says a change without a key is bad */
            goto done;
        }
        if (read_framed(self, raw_key, &key_schema, &key, fallback) < 0) goto done;
        if (raw_value != Py_None &&
            read_framed(self, raw_value, &value_schema, &value, fallback) < 0)
            goto done;
    }
    PyObject *args[9] = {topic,        parts[1],           parts[2],
                         op,           position,           key ? key : Py_None,
                         value ? value : Py_None, key_schema ? key_schema : Py_None,
                         value_schema ? value_schema : Py_None};
    out = slots_new(&self->record_plan, self->record_type, args, 9);
done:
    Py_DECREF(position);
    Py_XDECREF(key_schema);
    Py_XDECREF(key);
    Py_XDECREF(value_schema);
    Py_XDECREF(value);
    return out;
}

static PyObject *decoder_decode(DecoderObject *self, PyObject *message) {
    if (self->cache == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "Decoder.__init__ was not called");
        return NULL;
    }
    PyObject *parts[6] = {NULL, NULL, NULL, NULL, NULL, NULL};
    int fallback = 0;
    PyObject *out = fast_decode(self, message, &fallback, parts);
    for (int i = 0; i < 6; i++) Py_XDECREF(parts[i]);
    if (out == NULL && fallback && !PyErr_Occurred()) Py_RETURN_NONE;
    return out;
}

static PyObject *decoder_decode_all(DecoderObject *self, PyObject *const *args,
                                   Py_ssize_t nargs) {
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "decode_all takes (messages, fallback)");
        return NULL;
    }
    PyObject *seq = PySequence_Fast(args[0], "decode_all takes a sequence of messages");
    if (seq == NULL) return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
    PyObject *out = PyList_New(count);
    for (Py_ssize_t i = 0; out != NULL && i < count; i++) {
        PyObject *message = PySequence_Fast_ITEMS(seq)[i];
        PyObject *one = decoder_decode(self, message);
        if (one == Py_None) {
            Py_DECREF(one);
            one = PyObject_CallOneArg(args[1], message);
        }
        if (one == NULL)
            Py_CLEAR(out);
        else
            PyList_SET_ITEM(out, i, one);
    }
    Py_DECREF(seq);
    return out;
}

static PyMethodDef decoder_methods[] = {
    {"decode", (PyCFunction)decoder_decode, METH_O,
     "The ChangeRecord of a Kafka message in the common case, else None (Python path)."},
    {"decode_all", (PyCFunction)(void (*)(void))decoder_decode_all, METH_FASTCALL,
     "decode() of each message of a sequence, as a list; fallback(message) where it gives None."},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject DecoderType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "strangler.materializers._speedups.Decoder",
    .tp_basicsize = sizeof(DecoderObject),
    .tp_dealloc = (destructor)decoder_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_traverse = (traverseproc)decoder_traverse,
    .tp_clear = (inquiry)decoder_clear,
    .tp_doc = "The common case of decoding Kafka records of table topics, natively.",
    .tp_methods = decoder_methods,
    .tp_init = (initproc)decoder_init,
    .tp_new = PyType_GenericNew,
};

/* ---- compaction ------------------------------------------------------------------------- */

static PyObject *attr_op, *attr_position, *attr_key;

/* a < b for two positions (bytes, compared as Python compares them) */
static int position_less(PyObject *a, PyObject *b) {
    if (PyBytes_CheckExact(a) && PyBytes_CheckExact(b)) {
        Py_ssize_t na = PyBytes_GET_SIZE(a), nb = PyBytes_GET_SIZE(b);
        int c = memcmp(PyBytes_AS_STRING(a), PyBytes_AS_STRING(b), (size_t)(na < nb ? na : nb));
        return c < 0 || (c == 0 && na < nb);
    }
    return PyObject_RichCompareBool(a, b, Py_LT);
}

/* tuple(key.values()) */
static PyObject *key_tuple(PyObject *key) {
    if (!PyDict_CheckExact(key)) {
        PyObject *values = PyObject_CallMethod(key, "values", NULL);
        if (values == NULL) return NULL;
        PyObject *out = PySequence_Tuple(values);
        Py_DECREF(values);
        return out;
    }
    PyObject *out = PyTuple_New(PyDict_GET_SIZE(key));
    if (out == NULL) return NULL;
    Py_ssize_t pos = 0, i = 0;
    PyObject *k, *v;
    while (PyDict_Next(key, &pos, &k, &v)) {
        Py_INCREF(v);
        PyTuple_SET_ITEM(out, i++, v);
    }
    return out;
}

/* {k: r for k, r in changes.items() if r.position > position} */
static PyObject *after_truncate(PyObject *changes, PyObject *position) {
    PyObject *out = PyDict_New();
    Py_ssize_t pos = 0;
    PyObject *k, *r;
    while (out != NULL && PyDict_Next(changes, &pos, &k, &r)) {
        PyObject *at = PyObject_GetAttr(r, attr_position);
        int later = at == NULL ? -1 : position_less(position, at);
        Py_XDECREF(at);
        if (later < 0 || (later && PyDict_SetItem(out, k, r) < 0)) Py_CLEAR(out);
    }
    return out;
}

/* One record into the compaction; 0, or -1 with an exception. */
static int compact_one(PyObject *record, PyObject *truncate_op, PyObject **truncate,
                       PyObject **changes) {
    PyObject *op = PyObject_GetAttr(record, attr_op);
    PyObject *position = op == NULL ? NULL : PyObject_GetAttr(record, attr_position);
    int rc = -1, less;
    if (position == NULL) goto done;
    if (op == truncate_op) {
        if (*truncate == Py_None || (less = position_less(*truncate, position)) > 0) {
            Py_INCREF(position);
            Py_SETREF(*truncate, position);
        } else if (less < 0) {
            goto done;
        }
        PyObject *kept = after_truncate(*changes, position);
        if (kept == NULL) goto done;
        Py_SETREF(*changes, kept);
        rc = 0;
        goto done;
    }
    if (*truncate != Py_None && (less = position_less(position, *truncate)) != 0) {
        rc = less > 0 ? 0 : -1; /* at or before the truncate in the batch: dropped */
        goto done;
    }
    PyObject *key_map = PyObject_GetAttr(record, attr_key);
    PyObject *key = key_map == NULL ? NULL : key_tuple(key_map);
    Py_XDECREF(key_map);
    if (key == NULL) goto done;
    PyObject *kept = PyDict_GetItemWithError(*changes, key);
    if (kept == NULL && PyErr_Occurred()) {
        Py_DECREF(key);
        goto done;
    }
    int replace = 1;
    if (kept != NULL) {
        Py_INCREF(kept);
        PyObject *kept_at = PyObject_GetAttr(kept, attr_position);
        Py_DECREF(kept);
        replace = kept_at == NULL ? -1 : !position_less(position, kept_at);
        if (replace >= 0 && PyErr_Occurred()) replace = -1;
        Py_XDECREF(kept_at);
    }
    rc = replace < 0 ? -1 : replace ? PyDict_SetItem(*changes, key, record) : 0;
    Py_DECREF(key);
done:
    Py_XDECREF(op);
    Py_XDECREF(position);
    return rc;
}

/* compact(records, truncate_op) -> (latest truncate position or None, {key: record}):
 * compaction.compact's loop (see its docstring for the rules). */
static PyObject *compact(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "compact takes (records, truncate_op)");
        return NULL;
    }
    PyObject *seq = PySequence_Fast(args[0], "compact takes a sequence of records");
    if (seq == NULL) return NULL;
    PyObject *truncate = Py_None, *changes = PyDict_New();
    Py_INCREF(truncate);
    for (Py_ssize_t i = 0; changes != NULL && i < PySequence_Fast_GET_SIZE(seq); i++) {
        if (compact_one(PySequence_Fast_ITEMS(seq)[i], args[1], &truncate, &changes) < 0)
            Py_CLEAR(changes);
    }
    Py_DECREF(seq);
    if (changes == NULL) {
        Py_DECREF(truncate);
        return NULL;
    }
    return Py_BuildValue("(NN)", truncate, changes);
}

/* ---- staging and the batch survey ------------------------------------------------------- */

static PyObject *attr_key_schema, *attr_value_schema, *attr_value, *attr_topic, *attr_partition,
    *attr_offset, *int_zero, *int_one, *no_position;

/* The converted parameters of fields `names` of mapping `source` into `row` from `at`;
 * 1 done, 0 not here (a missing field, a failing converter: the Python path decides), -1. */
static int put_fields(PyObject *row, Py_ssize_t at, PyObject *source, PyObject *names,
                      PyObject *converters) {
    if (!PyDict_CheckExact(source)) return 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(names); i++) {
        PyObject *v = PyDict_GetItemWithError(source, PyTuple_GET_ITEM(names, i));
        if (v == NULL) return PyErr_Occurred() ? -1 : 0;
        PyObject *convert = PyList_GET_ITEM(converters, at + i);
        if (convert != Py_None && v != Py_None) {
            Py_INCREF(v); /* held across the call: a converter is arbitrary code */
            PyObject *converted = PyObject_CallOneArg(convert, v);
            Py_DECREF(v);
            v = converted;
            if (v == NULL) {
                PyErr_Clear(); /* the Python path raises it again and dead-letters the row */
                return 0;
            }
        } else {
            Py_INCREF(v);
        }
        PyTuple_SET_ITEM(row, at + i, v);
    }
    return 1;
}

static Slots staged_plan; /* StagedRow's, made at the first stage() of a type */

/* The StagedRow of one change, or NULL: with an exception, or without one (*skip) when the
 * Python path must stage it. */
static PyObject *stage_one(PyObject *record, PyObject *key_schema, PyObject *value_schema,
                           PyObject *keys, PyObject *values, PyObject *converters,
                           PyObject *staged_type, int *skip) {
    PyObject *parts[4] = {PyObject_GetAttr(record, attr_key_schema), NULL, NULL, NULL};
    PyObject *row = NULL, *out = NULL;
    if (parts[0] == NULL) return NULL;
    if ((parts[1] = PyObject_GetAttr(record, attr_value)) == NULL ||
        (parts[2] = PyObject_GetAttr(record, attr_key)) == NULL ||
        (parts[3] = PyObject_GetAttr(record, attr_position)) == NULL)
        goto done;
    int delete = parts[1] == Py_None;
    if (parts[0] != key_schema || (!delete && value_schema == Py_None)) goto not_here;
    if (!delete) {
        PyObject *schema = PyObject_GetAttr(record, attr_value_schema);
        if (schema == NULL) goto done;
        Py_DECREF(schema); /* identity only */
        if (schema != value_schema) goto not_here;
    }
    Py_ssize_t nkeys = PyTuple_GET_SIZE(keys);
    row = PyTuple_New(nkeys + (delete ? 0 : PyTuple_GET_SIZE(values)));
    if (row == NULL) goto done;
    int done_ = put_fields(row, 0, parts[2], keys, converters);
    if (done_ > 0 && !delete) done_ = put_fields(row, nkeys, parts[1], values, converters);
    if (done_ < 0) goto done;
    if (done_ == 0) goto not_here;
    PyObject *args[3] = {delete ? Py_True : Py_False, parts[3], row};
    if (staged_plan.type != staged_type && slots_plan(&staged_plan, staged_type, 3) < 0) goto done;
    out = slots_new(&staged_plan, staged_type, args, 3);
    goto done;
not_here:
    *skip = 1;
done:
    Py_XDECREF(row);
    for (int i = 0; i < 4; i++) Py_XDECREF(parts[i]);
    return out;
}

/* stage(records, start, rows, mark, key_schema, value_schema, keys, values, converters,
 *       staged_type) -> the index of the first record from `start` it did not stage.
 * Appends to `rows` the StagedRow of each record in turn (skipping those before the truncate
 * `mark`) while the record has these writer schemas (a delete: this key schema), all its
 * fields, and converters that take its values; the rest is the Python path's. */
static PyObject *stage(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 10 || !PyList_Check(args[0]) || !PyList_Check(args[2]) ||
        !PyTuple_Check(args[6]) || !PyTuple_Check(args[7]) || !PyList_Check(args[8]) ||
        PyList_GET_SIZE(args[8]) < PyTuple_GET_SIZE(args[6]) + PyTuple_GET_SIZE(args[7])) {
        PyErr_SetString(PyExc_TypeError,
                        "stage takes (records list, start, rows list, mark, key_schema, "
                        "value_schema, keys tuple, values tuple, converters list, staged_type)");
        return NULL;
    }
    PyObject *records = args[0], *rows = args[2], *mark = args[3];
    Py_ssize_t i = PyLong_AsSsize_t(args[1]);
    if (i == -1 && PyErr_Occurred()) return NULL;
    for (; i >= 0 && i < PyList_GET_SIZE(records); i++) {
        PyObject *record = PyList_GET_ITEM(records, i);
        if (mark != Py_None) {
            PyObject *at = PyObject_GetAttr(record, attr_position);
            int before = at == NULL ? -1 : position_less(at, mark);
            Py_XDECREF(at);
            if (before < 0) return NULL;
            if (before) continue;
        }
        int skip = 0;
        PyObject *row = stage_one(record, args[4], args[5], args[6], args[7], args[8], args[9],
                                  &skip);
        if (row == NULL) {
            if (skip && !PyErr_Occurred()) break;
            return NULL;
        }
        int rc = PyList_Append(rows, row);
        Py_DECREF(row);
        if (rc < 0) return NULL;
    }
    return PyLong_FromSsize_t(i);
}

/* One record into the survey (see survey()). */
static int survey_one(PyObject *record, PyObject *change_type, PyObject *by_topic,
                      PyObject *bad, PyObject *offsets, PyObject *positions) {
    PyObject *topic = PyObject_GetAttr(record, attr_topic);
    PyObject *partition = topic ? PyObject_GetAttr(record, attr_partition) : NULL;
    PyObject *offset = partition ? PyObject_GetAttr(record, attr_offset) : NULL;
    PyObject *place = offset ? PyTuple_Pack(2, topic, partition) : NULL;
    PyObject *next = place ? PyNumber_Add(offset, int_one) : NULL;
    PyObject *position = NULL;
    int rc = -1;
    if (next == NULL) goto done;
    /* as applier.progress: offsets[place] = offset + 1 if offset >= offsets.get(place, 0) */
    PyObject *seen = PyDict_GetItemWithError(offsets, place);
    if (seen == NULL && PyErr_Occurred()) goto done;
    int later = PyObject_RichCompareBool(offset, seen ? seen : int_zero, Py_GE);
    if (later < 0 || (later && PyDict_SetItem(offsets, place, next) < 0)) goto done;
    if (!PyObject_TypeCheck(record, (PyTypeObject *)change_type)) {
        rc = PyList_Append(bad, record);
        goto done;
    }
    position = PyObject_GetAttr(record, attr_position);
    if (position == NULL) goto done;
    seen = PyDict_GetItemWithError(positions, place);
    if (seen == NULL && PyErr_Occurred()) goto done;
    later = position_less(seen ? seen : no_position, position);
    if (later < 0 || (later && PyDict_SetItem(positions, place, position) < 0)) goto done;
    PyObject *list = PyDict_GetItemWithError(by_topic, topic);
    if (list == NULL) {
        if (PyErr_Occurred() || (list = PyList_New(0)) == NULL) goto done;
        int added = PyDict_SetItem(by_topic, topic, list);
        Py_DECREF(list); /* the dict holds it */
        if (added < 0) goto done;
    }
    rc = PyList_Append(list, record);
done:
    Py_XDECREF(topic);
    Py_XDECREF(partition);
    Py_XDECREF(offset);
    Py_XDECREF(place);
    Py_XDECREF(next);
    Py_XDECREF(position);
    return rc;
}

/* survey(batch, change_type) -> ({topic: [changes in log order]}, [bad records],
 * {(topic, partition): offset after its last record}, {(topic, partition): latest position}):
 * one pass for what the applier needs of a batch (applier.progress is its Python reference). */
static PyObject *survey(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 2 || !PyType_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "survey takes (batch, change_type)");
        return NULL;
    }
    PyObject *seq = PySequence_Fast(args[0], "survey takes a sequence of records");
    if (seq == NULL) return NULL;
    PyObject *by_topic = PyDict_New(), *bad = PyList_New(0), *offsets = PyDict_New(),
             *positions = PyDict_New(), *out = NULL;
    if (by_topic && bad && offsets && positions) {
        Py_ssize_t i = 0;
        for (; i < PySequence_Fast_GET_SIZE(seq); i++) {
            if (survey_one(PySequence_Fast_ITEMS(seq)[i], args[1], by_topic, bad, offsets,
                           positions) < 0)
                break;
        }
        if (i == PySequence_Fast_GET_SIZE(seq))
            out = PyTuple_Pack(4, by_topic, bad, offsets, positions);
    }
    Py_DECREF(seq);
    Py_XDECREF(by_topic);
    Py_XDECREF(bad);
    Py_XDECREF(offsets);
    Py_XDECREF(positions);
    return out;
}

/* ---- SQLite parameters ------------------------------------------------------------------ */

static PyObject *attr_delete, *attr_values;

/* The rows (a fast sequence, new reference) and the size (args[1], >= 0) of a call taking
 * `nargs_wanted` arguments; NULL with a TypeError naming `usage`. */
static PyObject *rows_and_size(PyObject *const *args, Py_ssize_t nargs, Py_ssize_t nargs_wanted,
                               Py_ssize_t *size, const char *usage) {
    *size = nargs == nargs_wanted ? PyLong_AsSsize_t(args[1]) : -1;
    if (*size < 0) {
        if (!PyErr_Occurred()) PyErr_Format(PyExc_TypeError, "takes %s", usage);
        return NULL;
    }
    return PySequence_Fast(args[0], usage);
}

/* A StagedRow's delete, values and position (new references); -1 with an exception and none
 * held if one is missing. */
static int staged_fields(PyObject *row, PyObject **delete, PyObject **values,
                         PyObject **position) {
    *delete = PyObject_GetAttr(row, attr_delete);
    *values = *delete ? PyObject_GetAttr(row, attr_values) : NULL;
    *position = *values ? PyObject_GetAttr(row, attr_position) : NULL;
    if (*position != NULL) return 0;
    Py_CLEAR(*delete);
    Py_CLEAR(*values);
    return -1;
}

/* The position parameter: a bytearray of the position's bytes. The sqlite3 module binds a
 * bytearray as it is, while it looks every bytes parameter up in its adapter registry (a key
 * tuple, a dict lookup, two attribute lookups, about a microsecond a row); SQLite stores the
 * same BLOB either way. `last` holds the position and its bytearray of the row before (the
 * changes of one source transaction share their position). New reference. */
static PyObject *blob_param(PyObject *position, PyObject *last[2]) {
    if (!PyBytes_CheckExact(position)) return Py_NewRef(position);
    if (position != last[0]) {
        PyObject *blob = PyByteArray_FromStringAndSize(PyBytes_AS_STRING(position),
                                                       PyBytes_GET_SIZE(position));
        if (blob == NULL) return NULL;
        Py_INCREF(position);
        Py_XSETREF(last[0], position);
        Py_XSETREF(last[1], blob);
    }
    return Py_NewRef(last[1]);
}

/* (values[:nkey] if delete else values) + (position as a bytearray,) of one StagedRow */
static int sqlite_row(PyObject *row, Py_ssize_t nkey, PyObject *deletes, PyObject *upserts,
                      PyObject *last[2]) {
    PyObject *delete, *values, *position, *params = NULL;
    if (staged_fields(row, &delete, &values, &position) < 0) return -1;
    int rc = -1, is_delete = PyObject_IsTrue(delete);
    if (is_delete < 0) goto done;
    if (!PyTuple_Check(values)) {
        PyErr_SetString(PyExc_TypeError, "StagedRow.values must be a tuple");
        goto done;
    }
    Py_ssize_t n = PyTuple_GET_SIZE(values);
    if (is_delete && n > nkey) n = nkey;
    if ((params = PyTuple_New(n + 1)) == NULL) goto done;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_INCREF(PyTuple_GET_ITEM(values, i));
        PyTuple_SET_ITEM(params, i, PyTuple_GET_ITEM(values, i));
    }
    PyObject *blob = blob_param(position, last);
    if (blob == NULL) goto done;
    PyTuple_SET_ITEM(params, n, blob);
    rc = PyList_Append(is_delete ? deletes : upserts, params);
done:
    Py_XDECREF(delete);
    Py_XDECREF(values);
    Py_XDECREF(position);
    Py_XDECREF(params);
    return rc;
}

/* sqlite_params(rows, nkey) -> (delete parameters, upsert parameters): for each StagedRow,
 * (*values[:nkey], position) for a delete and (*values, position) for an upsert, in order;
 * positions as bytearrays (see blob_param). */
static PyObject *sqlite_params(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    Py_ssize_t nkey;
    PyObject *seq = rows_and_size(args, nargs, 2, &nkey, "(rows sequence, nkey >= 0)");
    if (seq == NULL) return NULL;
    PyObject *deletes = PyList_New(0), *upserts = PyList_New(0), *out = NULL;
    PyObject *last[2] = {NULL, NULL};
    Py_ssize_t i = 0, count = PySequence_Fast_GET_SIZE(seq);
    while (deletes && upserts && i < count &&
           sqlite_row(PySequence_Fast_ITEMS(seq)[i], nkey, deletes, upserts, last) == 0)
        i++;
    if (deletes && upserts && i == count) out = PyTuple_Pack(2, deletes, upserts);
    Py_DECREF(seq);
    Py_XDECREF(deletes);
    Py_XDECREF(upserts);
    Py_XDECREF(last[0]);
    Py_XDECREF(last[1]);
    return out;
}

/* ---- isoformat -------------------------------------------------------------------------- */

/* value.isoformat() for the date, time and datetime values the readers make (exact types;
 * datetimes naive or in datetime.timezone.utc, times naive), written here; anything else is
 * value.isoformat() itself. The text is the one isoformat gives (years zero-padded to four
 * digits, microseconds only when not zero, "+00:00" for UTC). */

static char *date_text(char *at, PyObject *value) {
    return ymd_text(at, PyDateTime_GET_YEAR(value), PyDateTime_GET_MONTH(value),
                    PyDateTime_GET_DAY(value));
}

/* The isoformat() text of a date, time or datetime the readers make (exact types; datetimes
 * naive or in datetime.timezone.utc, times naive) into `text` (48 bytes); its length, or 0 for
 * any other value. */
static Py_ssize_t iso_text(PyObject *value, char *text) {
    char *end;
    if (PyDateTime_CheckExact(value)) {
        PyObject *tz = PyDateTime_DATE_GET_TZINFO(value);
        if (tz != Py_None && tz != PyDateTime_TimeZone_UTC) return 0;
        end = date_text(text, value);
        *end++ = 'T';
        end = clock_text(end, PyDateTime_DATE_GET_HOUR(value), PyDateTime_DATE_GET_MINUTE(value),
                         PyDateTime_DATE_GET_SECOND(value),
                         PyDateTime_DATE_GET_MICROSECOND(value));
        if (tz != Py_None) {
            memcpy(end, "+00:00", 6);
            end += 6;
        }
    } else if (PyDate_CheckExact(value)) {
        end = date_text(text, value);
    } else if (PyTime_CheckExact(value) && PyDateTime_TIME_GET_TZINFO(value) == Py_None) {
        end = clock_text(text, PyDateTime_TIME_GET_HOUR(value), PyDateTime_TIME_GET_MINUTE(value),
                         PyDateTime_TIME_GET_SECOND(value),
                         PyDateTime_TIME_GET_MICROSECOND(value));
    } else {
        return 0;
    }
    return end - text;
}

static PyObject *isoformat(PyObject *module, PyObject *value) {
    (void)module;
    char text[48];
    Py_ssize_t size = iso_text(value, text);
    if (size == 0) return PyObject_CallMethod(value, "isoformat", NULL);
    return PyUnicode_FromStringAndSize(text, size);
}

/* ---- PostgreSQL COPY text --------------------------------------------------------------- */

/* bytea hex input, its backslash escaped for COPY: \\x0a1b */
static int put_bytea(Buffer *buf, const unsigned char *data, Py_ssize_t size) {
    static const char hex[] = "0123456789abcdef";
    if (size > (PY_SSIZE_T_MAX - 3) / 2 || grow(buf, 3 + 2 * size) < 0) return -1;
    char *at = buf->b + buf->n;
    *at++ = '\\';
    *at++ = '\\';
    *at++ = 'x';
    for (Py_ssize_t i = 0; i < size; i++) {
        *at++ = hex[data[i] >> 4];
        *at++ = hex[data[i] & 15];
    }
    buf->n = at - buf->b;
    return 0;
}

/* UTF-8 text with COPY's escapes (backslash, tab, newline, carriage return); 0 declined (a NUL
 * character, which psycopg refuses with its own error; a lone surrogate), -1 error. */
static int put_text(Buffer *buf, PyObject *value) {
    Py_ssize_t size;
    const char *text = PyUnicode_AsUTF8AndSize(value, &size);
    if (text == NULL) {
        PyErr_Clear();
        return 0;
    }
    if (size > PY_SSIZE_T_MAX / 2 || grow(buf, 2 * size) < 0) return -1;
    char *at = buf->b + buf->n;
    for (Py_ssize_t i = 0; i < size; i++) {
        char ch = text[i];
        switch (ch) {
        case '\0':
            return 0;
        case '\\':
            *at++ = '\\';
            *at++ = '\\';
            break;
        case '\t':
            *at++ = '\\';
            *at++ = 't';
            break;
        case '\n':
            *at++ = '\\';
            *at++ = 'n';
            break;
        case '\r':
            *at++ = '\\';
            *at++ = 'r';
            break;
        default:
            *at++ = ch;
        }
    }
    buf->n = at - buf->b;
    return 1;
}

/* One value as COPY text, as psycopg's text dumpers write it (None \N, bools t/f, ints and
 * floats as str() gives them, bytes as bytea hex, dates and times as isoformat gives them);
 * 1 done, 0 declined (any other type, or a value those dumpers would refuse), -1 error. */
static int put_value(Buffer *buf, PyObject *value) {
    if (value == Py_None) return put(buf, "\\N", 2) < 0 ? -1 : 1;
    if (PyBool_Check(value)) return put(buf, value == Py_True ? "t" : "f", 1) < 0 ? -1 : 1;
    if (PyLong_CheckExact(value)) {
        int overflow;
        long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (overflow) return 0;
        if (v == -1 && PyErr_Occurred()) return -1;
        char text[32];
        int size = snprintf(text, sizeof text, "%lld", v);
        return put(buf, text, size) < 0 ? -1 : 1;
    }
    if (PyFloat_CheckExact(value)) {
        char *text = PyOS_double_to_string(PyFloat_AS_DOUBLE(value), 'r', 0, Py_DTSF_ADD_DOT_0,
                                           NULL);
        if (text == NULL) return -1;
        int rc = put(buf, text, (Py_ssize_t)strlen(text));
        PyMem_Free(text);
        return rc < 0 ? -1 : 1;
    }
    if (PyUnicode_CheckExact(value)) return put_text(buf, value);
    if (PyBytes_CheckExact(value))
        return put_bytea(buf, (const unsigned char *)PyBytes_AS_STRING(value),
                         PyBytes_GET_SIZE(value)) < 0
                   ? -1
                   : 1;
    char text[48];
    Py_ssize_t size = iso_text(value, text);
    if (size == 0) return 0;
    return put(buf, text, size) < 0 ? -1 : 1;
}

/* One StagedRow: staged, (delete, position, *values, None padding up to `width`); else
 * (*values, position). 1 done, 0 declined, -1 error. */
static int put_row(Buffer *buf, PyObject *row, Py_ssize_t width, int staged) {
    PyObject *delete, *values, *position;
    if (staged_fields(row, &delete, &values, &position) < 0) return -1;
    int rc = 0;
    if (!PyTuple_Check(values) || !PyBytes_CheckExact(position) || !PyBool_Check(delete) ||
        PyTuple_GET_SIZE(values) > width)
        goto done;
    if (staged) {
        rc = put(buf, delete == Py_True ? "t\t" : "f\t", 2) < 0 ||
                     put_bytea(buf, (const unsigned char *)PyBytes_AS_STRING(position),
                               PyBytes_GET_SIZE(position)) < 0
                 ? -1
                 : 1;
        for (Py_ssize_t i = 0; rc > 0 && i < width; i++) {
            rc = put(buf, "\t", 1) < 0 ? -1 : 1;
            if (rc > 0)
                rc = i < PyTuple_GET_SIZE(values) ? put_value(buf, PyTuple_GET_ITEM(values, i))
                     : put(buf, "\\N", 2) < 0     ? -1
                                                  : 1;
        }
    } else {
        rc = PyTuple_GET_SIZE(values) == width ? 1 : 0;
        for (Py_ssize_t i = 0; rc > 0 && i < width; i++) {
            rc = put_value(buf, PyTuple_GET_ITEM(values, i));
            if (rc > 0) rc = put(buf, "\t", 1) < 0 ? -1 : 1;
        }
        if (rc > 0)
            rc = put_bytea(buf, (const unsigned char *)PyBytes_AS_STRING(position),
                           PyBytes_GET_SIZE(position)) < 0
                     ? -1
                     : 1;
    }
    if (rc > 0) rc = put(buf, "\n", 1) < 0 ? -1 : 1;
done:
    Py_XDECREF(delete);
    Py_XDECREF(values);
    Py_XDECREF(position);
    return rc;
}

/* copy_text(rows, width, staged) -> the COPY text of the StagedRows (see put_row), or None
 * when a value is not one it writes exactly as psycopg's write_row would (then the caller
 * writes the rows with write_row). */
static PyObject *copy_text(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    Py_ssize_t width;
    int staged = nargs == 3 ? PyObject_IsTrue(args[2]) : 0;
    PyObject *seq = staged < 0 ? NULL
                               : rows_and_size(args, nargs, 3, &width,
                                               "(rows sequence, width >= 0, staged)");
    if (seq == NULL) return NULL;
    Buffer buf = {NULL, 0, 0};
    int rc = 1;
    for (Py_ssize_t i = 0; rc > 0 && i < PySequence_Fast_GET_SIZE(seq); i++) {
        PyObject *row = PySequence_Fast_ITEMS(seq)[i];
        Py_INCREF(row); /* held across attribute lookups, which may run Python code */
        rc = put_row(&buf, row, width, staged);
        Py_DECREF(row);
    }
    Py_DECREF(seq);
    PyObject *out = rc < 0   ? NULL
                    : rc == 0 ? Py_NewRef(Py_None)
                              : PyBytes_FromStringAndSize(buf.b ? buf.b : "", buf.n);
    PyMem_Free(buf.b);
    return out;
}

/* ---- PostgreSQL COPY binary ------------------------------------------------------------- */

static PyObject *uuid_type, *attr_bytes; /* uuid.UUID and "bytes", imported at the first need */

/* Proleptic Gregorian year, month, day -> days since 1970-01-01 (the inverse of
 * civil_from_days). */
static int64_t days_from_civil(int y, int m, int d) {
    int64_t year = m <= 2 ? y - 1 : y;
    int64_t era = (year >= 0 ? year : year - 399) / 400;
    int64_t yoe = year - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* The microseconds of a time of day (a time or datetime's clock). */
static int64_t clock_us(int h, int m, int s, int us) {
    return ((int64_t)(h * 60 + m) * 60 + s) * 1000000 + us;
}

/* An int (not a bool) within [lo, hi]: 1 with *out set, 0 declined, -1 error. */
static int int_in(PyObject *value, long long lo, long long hi, long long *out) {
    if (!PyLong_CheckExact(value)) return 0; /* bool too: its text is t/f */
    int overflow;
    *out = PyLong_AsLongLongAndOverflow(value, &overflow);
    if (*out == -1 && PyErr_Occurred()) return -1;
    return !overflow && *out >= lo && *out <= hi;
}

/* A float, or an int within +-limit (so exact as a double), as a double: 1, 0 declined (the
text path would write an int's digits, which float8in / float4in round), -1 error. */
static int float_in(PyObject *value, long long limit, double *out) {
    if (PyFloat_CheckExact(value)) {
        *out = PyFloat_AS_DOUBLE(value);
        return 1;
    }
    long long v;
    int rc = int_in(value, -limit, limit, &v);
    if (rc > 0) *out = (double)v;
    return rc;
}

/* A float8 field: a float as it is (NaN as float8in's), an int of at most 53 bits. */
static int put_float8(Buffer *buf, PyObject *value) {
    double d;
    int rc = float_in(value, 1LL << 53, &d);
    if (rc <= 0) return rc;
    uint64_t bits = PG_NAN8;
    if (!isnan(d)) memcpy(&bits, &d, 8);
    return put_fixed(buf, bits, 8) < 0 ? -1 : 1;
}

/* A float4 field: a value a float4 holds exactly (float4in reads the text of any other to a
 * rounded value or refuses it: declined), infinities, NaN as float4in's. */
static int put_float4(Buffer *buf, PyObject *value) {
    double d;
    int rc = float_in(value, 1LL << 24, &d);
    if (rc <= 0) return rc;
    float f = (float)d;
    if (!isnan(d) && (double)f != d) return 0;
    uint32_t bits = PG_NAN4;
    if (!isnan(f)) memcpy(&bits, &f, 4);
    return put_fixed(buf, bits, 4) < 0 ? -1 : 1;
}

/* A text field: UTF-8 (the client encoding), declining what put_text declines. */
static int put_text_field(Buffer *buf, PyObject *value) {
    if (!PyUnicode_CheckExact(value)) return 0;
    Py_ssize_t size;
    const char *text = PyUnicode_AsUTF8AndSize(value, &size);
    if (text == NULL) {
        PyErr_Clear();
        return 0;
    }
    return memchr(text, '\0', (size_t)size) ? 0 : put_raw(buf, text, size);
}

/* A timestamp / timestamptz field: microseconds since 2000-01-01 (UTC for timestamptz) of a
 * datetime, naive for timestamp, in UTC for timestamptz (any other declined). */
static int put_timestamp(Buffer *buf, PyObject *value, int utc) {
    if (!PyDateTime_CheckExact(value)) return 0;
    PyObject *tz = PyDateTime_DATE_GET_TZINFO(value);
    if (tz != (utc ? PyDateTime_TimeZone_UTC : Py_None)) return 0;
    int64_t days = days_from_civil(PyDateTime_GET_YEAR(value), PyDateTime_GET_MONTH(value),
                                   PyDateTime_GET_DAY(value)) -
                   PG_EPOCH_DAYS;
    int64_t us = days * US_PER_DAY + clock_us(PyDateTime_DATE_GET_HOUR(value),
                                              PyDateTime_DATE_GET_MINUTE(value),
                                              PyDateTime_DATE_GET_SECOND(value),
                                              PyDateTime_DATE_GET_MICROSECOND(value));
    return put_fixed(buf, (uint64_t)us, 8) < 0 ? -1 : 1;
}

static int put_date(Buffer *buf, PyObject *value) {
    if (!PyDate_CheckExact(value)) return 0;
    int64_t days = days_from_civil(PyDateTime_GET_YEAR(value), PyDateTime_GET_MONTH(value),
                                   PyDateTime_GET_DAY(value)) -
                   PG_EPOCH_DAYS;
    return put_fixed(buf, (uint32_t)(int32_t)days, 4) < 0 ? -1 : 1;
}

static int put_time(Buffer *buf, PyObject *value) {
    if (!PyTime_CheckExact(value) || PyDateTime_TIME_GET_TZINFO(value) != Py_None) return 0;
    int64_t us = clock_us(PyDateTime_TIME_GET_HOUR(value), PyDateTime_TIME_GET_MINUTE(value),
                          PyDateTime_TIME_GET_SECOND(value),
                          PyDateTime_TIME_GET_MICROSECOND(value));
    return put_fixed(buf, (uint64_t)us, 8) < 0 ? -1 : 1;
}

/* A uuid field: the 16 bytes of a uuid.UUID (exactly that class). */
static int put_uuid(Buffer *buf, PyObject *value) {
    if ((PyObject *)Py_TYPE(value) != uuid_type) return 0;
    PyObject *bytes = PyObject_GetAttr(value, attr_bytes);
    if (bytes == NULL) return -1;
    int rc = PyBytes_CheckExact(bytes) && PyBytes_GET_SIZE(bytes) == 16
                 ? put_raw(buf, PyBytes_AS_STRING(bytes), 16)
                 : 0;
    Py_DECREF(bytes);
    return rc;
}

/* One value of a column of type `type` in its type's binary (send) format; 1 done, 0
 * declined (a value of another Python type, or one the text path would load differently or
 * the server would refuse), -1 error. */
static int put_binary(Buffer *buf, PyObject *value, int type) {
    long long v;
    int rc;
    if (value == Py_None) return put(buf, "\377\377\377\377", 4) < 0 ? -1 : 1;
    switch (type) {
    case PG_BOOLEAN:
        if (!PyBool_Check(value)) return 0;
        return put_fixed(buf, value == Py_True, 1) < 0 ? -1 : 1;
    case PG_INTEGER:
        rc = int_in(value, INT32_MIN, INT32_MAX, &v);
        return rc <= 0 ? rc : put_fixed(buf, (uint32_t)(int32_t)v, 4) < 0 ? -1 : 1;
    case PG_BIGINT:
        rc = int_in(value, INT64_MIN, INT64_MAX, &v);
        return rc <= 0 ? rc : put_fixed(buf, (uint64_t)v, 8) < 0 ? -1 : 1;
    case PG_REAL:
        return put_float4(buf, value);
    case PG_DOUBLE:
        return put_float8(buf, value);
    case PG_TEXT:
        return put_text_field(buf, value);
    case PG_BYTEA:
        return PyBytes_CheckExact(value)
                   ? put_raw(buf, PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value))
                   : 0;
    case PG_TIMESTAMPTZ:
    case PG_TIMESTAMP:
        return put_timestamp(buf, value, type == PG_TIMESTAMPTZ);
    case PG_DATE:
        return put_date(buf, value);
    case PG_TIME:
        return put_time(buf, value);
    case PG_UUID:
        return put_uuid(buf, value);
    default:
        return 0;
    }
}

/* One StagedRow as a tuple: staged, (delete, position, *values, NULL padding up to `width`);
 * else (*values, position). 1 done, 0 declined, -1 error. */
static int put_binary_row(Buffer *buf, PyObject *row, const int *types, Py_ssize_t width,
                          int staged) {
    PyObject *delete, *values, *position;
    if (staged_fields(row, &delete, &values, &position) < 0) return -1;
    int rc = 0;
    if (!PyTuple_Check(values) || !PyBytes_CheckExact(position) || !PyBool_Check(delete) ||
        PyTuple_GET_SIZE(values) > width || (!staged && PyTuple_GET_SIZE(values) < width))
        goto done;
    Py_ssize_t fields = width + 1 + staged;
    if (grow(buf, 2) < 0) {
        rc = -1;
        goto done;
    }
    buf->b[buf->n++] = (char)(fields >> 8);
    buf->b[buf->n++] = (char)fields;
    rc = staged ? put_binary(buf, delete, PG_BOOLEAN) : 1;
    if (rc > 0 && staged) rc = put_binary(buf, position, PG_BYTEA);
    for (Py_ssize_t i = 0; rc > 0 && i < width; i++)
        rc = put_binary(buf, i < PyTuple_GET_SIZE(values) ? PyTuple_GET_ITEM(values, i) : Py_None,
                        types[i]);
    if (rc > 0 && !staged) rc = put_binary(buf, position, PG_BYTEA);
done:
    Py_XDECREF(delete);
    Py_XDECREF(values);
    Py_XDECREF(position);
    return rc;
}

/* uuid.UUID and the name of its bytes, once. */
static int import_uuid(void) {
    if (uuid_type != NULL) return 0;
    PyObject *module = PyImport_ImportModule("uuid");
    if (module == NULL) return -1;
    uuid_type = PyObject_GetAttrString(module, "UUID");
    Py_DECREF(module);
    attr_bytes = uuid_type ? PyUnicode_InternFromString("bytes") : NULL;
    if (attr_bytes == NULL) Py_CLEAR(uuid_type);
    return uuid_type ? 0 : -1;
}

/* copy_binary(rows, width, staged, types) -> the COPY binary data of the StagedRows (see
 * put_binary_row; `types` the PostgreSQL type names of the `width` columns), or None when a
 * value is not one it writes exactly as the text path would load it (then the caller takes
 * the text path). */
static PyObject *copy_binary(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    Py_ssize_t width;
    int staged = nargs == 4 ? PyObject_IsTrue(args[2]) : 0;
    PyObject *seq = staged < 0 ? NULL
                               : rows_and_size(args, nargs, 4, &width,
                                               "(rows sequence, width >= 0, staged, types)");
    if (seq == NULL) return NULL;
    int *types = width > INT16_MAX - 2 ? NULL : pg_types(args[3], width);
    if (types == NULL || import_uuid() < 0) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "too many columns");
        Py_DECREF(seq);
        PyMem_Free(types);
        return NULL;
    }
    Buffer buf = {NULL, 0, 0};
    int rc = put_copy_header(&buf) < 0 ? -1 : 1;
    for (Py_ssize_t i = 0; rc > 0 && i < PySequence_Fast_GET_SIZE(seq); i++) {
        PyObject *row = PySequence_Fast_ITEMS(seq)[i];
        Py_INCREF(row); /* held across attribute lookups, which may run Python code */
        rc = put_binary_row(&buf, row, types, width, staged);
        Py_DECREF(row);
    }
    if (rc > 0) rc = put_copy_trailer(&buf) < 0 ? -1 : 1;
    Py_DECREF(seq);
    PyMem_Free(types);
    PyObject *out = rc < 0    ? NULL
                    : rc == 0 ? Py_NewRef(Py_None)
                              : PyBytes_FromStringAndSize(buf.b, buf.n);
    PyMem_Free(buf.b);
    return out;
}

/* ---- the sqlite3 module's adapter for None ---------------------------------------------- */

/* same(value) -> value, with no Python frame (see sqlite_target.bind_none_as_is). */
static PyObject *same(PyObject *module, PyObject *value) {
    (void)module;
    return Py_NewRef(value);
}

/* ---- module ----------------------------------------------------------------------------- */

static PyMethodDef module_methods[] = {
    {"sqlite_params", (PyCFunction)(void (*)(void))sqlite_params, METH_FASTCALL,
     "sqlite_params(rows, nkey) -> (delete parameters, upsert parameters)."},
    {"stage", (PyCFunction)(void (*)(void))stage, METH_FASTCALL,
     "Append the StagedRows of a run of records; the index of the first one it left."},
    {"survey", (PyCFunction)(void (*)(void))survey, METH_FASTCALL,
     "survey(batch, change_type) -> (changes by topic, bad records, offsets, positions)."},
    {"compact", (PyCFunction)(void (*)(void))compact, METH_FASTCALL,
     "compact(records, truncate_op) -> (truncate position or None, {key tuple: record})."},
    {"copy_text", (PyCFunction)(void (*)(void))copy_text, METH_FASTCALL,
     "copy_text(rows, width, staged) -> PostgreSQL COPY text of StagedRows, or None."},
    {"copy_binary", (PyCFunction)(void (*)(void))copy_binary, METH_FASTCALL,
     "copy_binary(rows, width, staged, types) -> PostgreSQL COPY binary of StagedRows, or None."},
    {"same", same, METH_O, "same(value) -> value (an adapter handing None back as it is)."},
    {"isoformat", isoformat, METH_O, "value.isoformat(), natively for dates, times, datetimes."},
    {"make_reader", make_reader, METH_O,
     "A native reader for a plan: [(name, is_union, [(kind, arg, post, post_schema), ...])]."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_speedups",
    .m_doc = "Native hot paths of the materializers.",
    .m_size = -1,
    .m_methods = module_methods,
};

PyMODINIT_FUNC PyInit__speedups(void) {
    PyDateTime_IMPORT;
    if (PyDateTimeAPI == NULL) return NULL;
    static const char *methods[] = {"topic", "partition", "offset", "headers", "key", "value"};
    for (int i = 0; i < 6; i++) {
        if (method_names[i] == NULL) method_names[i] = PyUnicode_InternFromString(methods[i]);
        if (method_names[i] == NULL) return NULL;
    }
    if (PyType_Ready(&ReaderType) < 0 || PyType_Ready(&DecoderType) < 0) return NULL;
    attr_op = PyUnicode_InternFromString("op");
    attr_position = PyUnicode_InternFromString("position");
    attr_key = PyUnicode_InternFromString("key");
    int_zero = PyLong_FromLong(0);
    int_one = PyLong_FromLong(1);
    no_position = PyBytes_FromStringAndSize(NULL, 0);
    if (int_zero == NULL || int_one == NULL || no_position == NULL) return NULL;
    attr_delete = PyUnicode_InternFromString("delete");
    attr_values = PyUnicode_InternFromString("values");
    if (attr_delete == NULL || attr_values == NULL) return NULL;
    attr_key_schema = PyUnicode_InternFromString("key_schema");
    attr_value_schema = PyUnicode_InternFromString("value_schema");
    attr_value = PyUnicode_InternFromString("value");
    attr_topic = PyUnicode_InternFromString("topic");
    attr_partition = PyUnicode_InternFromString("partition");
    attr_offset = PyUnicode_InternFromString("offset");
    if (attr_op == NULL || attr_position == NULL || attr_key == NULL || attr_key_schema == NULL ||
        attr_value_schema == NULL || attr_value == NULL || attr_topic == NULL ||
        attr_partition == NULL || attr_offset == NULL)
        return NULL;
    PyObject *module = PyModule_Create(&speedups_module);
    if (module == NULL) return NULL;
    if (PyModule_AddObjectRef(module, "Reader", (PyObject *)&ReaderType) < 0 ||
        PyModule_AddObjectRef(module, "Decoder", (PyObject *)&DecoderType) < 0) {
        Py_DECREF(module);
        return NULL;
    }
    return module;
}
