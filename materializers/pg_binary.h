/* PostgreSQL's binary COPY format, as the materializers' C modules (_speedups.c's copy_binary,
 * _fused.c's Batch.copy) write it: a growing buffer, a field's length and big-endian bytes,
 * and the column types they write, by their names in columns.py. Header-only (static inline). */
#ifndef STRANGLER_MATERIALIZERS_PG_BINARY_H
#define STRANGLER_MATERIALIZERS_PG_BINARY_H

#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    char *b;
    Py_ssize_t n, cap;
} Buffer;

static inline int grow(Buffer *buf, Py_ssize_t more) {
    if (buf->n + more <= buf->cap) return 0;
    Py_ssize_t cap = buf->cap ? buf->cap : 1 << 16;
    while (cap < buf->n + more) {
        if (cap > PY_SSIZE_T_MAX / 2) {
            PyErr_NoMemory();
            return -1;
        }
        cap *= 2;
    }
    char *b = PyMem_Realloc(buf->b, (size_t)cap);
    if (b == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    buf->b = b;
    buf->cap = cap;
    return 0;
}

static inline int put(Buffer *buf, const char *text, Py_ssize_t size) {
    if (grow(buf, size) < 0) return -1;
    memcpy(buf->b + buf->n, text, (size_t)size);
    buf->n += size;
    return 0;
}

/* The column types copy_binary and Batch.copy write, by their names in columns.py's PostgreSQL
 * column; a column of any other type (numeric, jsonb) takes only NULLs (any other value
 * declines). */
enum PgType {
    PG_OTHER = -1,
    PG_BOOLEAN,
    PG_INTEGER,
    PG_BIGINT,
    PG_REAL,
    PG_DOUBLE,
    PG_TEXT,
    PG_BYTEA,
    PG_TIMESTAMPTZ,
    PG_TIMESTAMP,
    PG_DATE,
    PG_TIME,
    PG_UUID,
    PG_TYPES,
};

static const char *const pg_type_names[PG_TYPES] = {
    "boolean", "integer",   "bigint", "real", "double precision", "text",
    "bytea",   "timestamptz", "timestamp", "date", "time",         "uuid",
};

/* The header of COPY binary data (signature, no flags, no extension), and its trailer. */
static inline int put_copy_header(Buffer *buf) {
    static const char header[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";
    return put(buf, header, sizeof header);
}

static inline int put_copy_trailer(Buffer *buf) { return put(buf, "\377\377", 2); }

#define PG_EPOCH_DAYS 10957 /* 2000-01-01, PostgreSQL's epoch, in days since 1970-01-01 */
#define PG_NAN8 0x7ff8000000000000ULL /* the NaN float8in makes of "NaN" */
#define PG_NAN4 0x7fc00000U           /* the NaN float4in makes of "NaN" */

/* A field: its int32 length, then `size` bytes of v, big-endian (size 1, 2, 4 or 8); 0 done,
 * -1 error. */
static inline int put_fixed(Buffer *buf, uint64_t v, int size) {
    if (grow(buf, 4 + size) < 0) return -1;
    unsigned char *at = (unsigned char *)buf->b + buf->n;
    at[0] = at[1] = at[2] = 0;
    at[3] = (unsigned char)size;
    for (int i = size - 1; i >= 0; i--, v >>= 8) at[4 + i] = (unsigned char)v;
    buf->n += 4 + size;
    return 0;
}

/* A field of `size` raw bytes (text, bytea), its int32 length first; 1 done, 0 declined (too
 * long for an int32 length), -1 error. */
static inline int put_raw(Buffer *buf, const char *data, Py_ssize_t size) {
    if (size > INT32_MAX - 4) return 0;
    if (grow(buf, 4 + size) < 0) return -1;
    unsigned char *at = (unsigned char *)buf->b + buf->n;
    at[0] = (unsigned char)(size >> 24);
    at[1] = (unsigned char)(size >> 16);
    at[2] = (unsigned char)(size >> 8);
    at[3] = (unsigned char)size;
    memcpy(at + 4, data, (size_t)size);
    buf->n += 4 + size;
    return 1;
}

/* The PgType of each of `width` type names (a new array), NULL with an exception. */
static inline int *pg_types(PyObject *names, Py_ssize_t width) {
    PyObject *seq = PySequence_Fast(names, "types must be a sequence of type names");
    if (seq == NULL) return NULL;
    int *types = NULL;
    if (PySequence_Fast_GET_SIZE(seq) != width) {
        PyErr_SetString(PyExc_TypeError, "one type name per column, please");
        goto done;
    }
    if ((types = PyMem_Calloc((size_t)width + 1, sizeof *types)) == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < width; i++) {
        PyObject *name = PySequence_Fast_ITEMS(seq)[i];
        if (!PyUnicode_Check(name)) {
            PyErr_SetString(PyExc_TypeError, "a type name must be a str");
            PyMem_Free(types);
            types = NULL;
            goto done;
        }
        types[i] = PG_OTHER;
        for (int t = 0; t < PG_TYPES; t++)
            if (PyUnicode_CompareWithASCIIString(name, pg_type_names[t]) == 0) types[i] = t;
    }
done:
    Py_DECREF(seq);
    return types;
}

#endif
