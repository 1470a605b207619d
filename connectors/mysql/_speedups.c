/* Native hot paths of the MySQL connector (placeholder: filled in by the binlog row
 * decoder). Built by setuptools as strangler.connectors.mysql._speedups. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static struct PyModuleDef speedups_module = {
    PyModuleDef_HEAD_INIT, "_speedups", "Native hot paths of the MySQL connector.", -1, NULL,
};

PyMODINIT_FUNC PyInit__speedups(void) { return PyModule_Create(&speedups_module); }
