/* Avro output shared by the connectors' native modules (included by each of their C files;
 * every function is static inline, so each module has its own copy and nothing is exported).
 *
 * - Buf: a growable byte buffer on PyMem;
 * - put_long: Avro's zig-zag varint (int and long);
 * - put_prefix: Confluent's wire-format header (magic byte 0, 4-byte big-endian schema id);
 * - put_decimal: an Avro decimal's bytes from an unsigned magnitude in 32-bit limbs and a sign,
 *   as encoding._decimal_writer writes it (two's complement, big-endian, in
 *   (bit_length(|n|) + 8) // 8 bytes).
 */
#ifndef STRANGLER_AVRO_OUT_H
#define STRANGLER_AVRO_OUT_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#define DECLINE 1 /* a field encoder's "not mine": the row goes to the Python path */

typedef struct {
    unsigned char *p;
    size_t len, cap;
} Buf;

static inline int buf_reserve(Buf *b, size_t extra) {
    if (b->len + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra) {
        if (cap > PY_SSIZE_T_MAX / 2) {
            PyErr_NoMemory();
            return -1;
        }
        cap *= 2;
    }
    unsigned char *p = PyMem_Realloc(b->p, cap);
    if (p == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

/* zig-zag varint of n into out (at most 10 bytes); returns the bytes written */
static inline size_t put_long(unsigned char *out, int64_t n) {
    uint64_t z = ((uint64_t)n << 1) ^ (uint64_t)(n >> 63);
    size_t i = 0;
    while (z >= 0x80) {
        out[i++] = (unsigned char)((z & 0x7F) | 0x80);
        z >>= 7;
    }
    out[i++] = (unsigned char)z;
    return i;
}

static inline void put_prefix(unsigned char *p, uint32_t id) {
    p[0] = 0;
    p[1] = (unsigned char)(id >> 24);
    p[2] = (unsigned char)(id >> 16);
    p[3] = (unsigned char)(id >> 8);
    p[4] = (unsigned char)id;
}

/* The Avro bytes (length varint, then the value) of the decimal whose unscaled magnitude is
 * limbs[0..nl) (little-endian 32-bit limbs, top zero limbs allowed) and sign neg; out has room
 * for 10 + 4 * nl + 1 bytes. Returns the bytes written. */
static inline size_t put_decimal(unsigned char *out, const uint32_t *limbs, size_t nl, int neg) {
    while (nl > 0 && limbs[nl - 1] == 0) nl--;
    size_t bits = 0;
    if (nl > 0) {
        uint32_t top = limbs[nl - 1];
        bits = (nl - 1) * 32;
        while (top) {
            bits++;
            top >>= 1;
        }
    }
    size_t size = (bits + 8) / 8;
    size_t head = put_long(out, (int64_t)size);
    unsigned char *b = out + head;
    for (size_t j = 0; j < size; j++) { /* big-endian magnitude */
        size_t byte = size - 1 - j, limb = byte / 4;
        b[j] = limb < nl ? (unsigned char)(limbs[limb] >> (8 * (byte % 4))) : 0;
    }
    if (neg) { /* two's complement: invert, add one */
        int carry = 1;
        for (size_t j = size; j-- > 0;) {
            unsigned v = (unsigned char)~b[j] + carry;
            b[j] = (unsigned char)v;
            carry = v >> 8;
        }
    }
    return head + size;
}

#endif
