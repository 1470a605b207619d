/* Native hot paths of the PostgreSQL connector (placeholder: filled in by the text-to-Avro
 * encoder). Built by setuptools as strangler.connectors.postgres._speedups. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT, "_speedups", "Native hot paths of the PostgreSQL connector.", -1, NULL,
};

PyMODINIT_FUNC PyInit__speedups(void) { return PyModule_Create(&speedups_module); }
