"""The native hot paths: our own C against the CPython API (and SQLite's, for the SQLite view).

Everything else about the distribution is in pyproject.toml; this file only adds what
pyproject cannot yet say in a stable way. Building needs a C compiler and Python's headers
(scripts/install-system-deps.sh installs gcc where it is missing).
"""

from setuptools import Extension, setup

_FLAGS = ["-O2", "-std=c11", "-Wall", "-Wextra", "-Werror=implicit-function-declaration"]

setup(
    ext_modules=[
        Extension(
            "strangler.connectors.postgres._speedups",
            sources=["connectors/postgres/_speedups.c"],
            depends=["connectors/avro_out.h", "connectors/avro_text.h"],
            extra_compile_args=_FLAGS,
        ),
        Extension(
            "strangler.connectors.mysql._speedups",
            sources=["connectors/mysql/_speedups.c"],
            depends=["connectors/avro_out.h", "connectors/avro_text.h"],
            extra_compile_args=_FLAGS,
        ),
        Extension(
            "strangler.connectors.mysql._snapshot",
            sources=["connectors/mysql/_snapshot.c"],
            depends=["connectors/avro_out.h", "connectors/avro_text.h"],
            extra_compile_args=_FLAGS,
        ),
        Extension(
            "strangler.materializers._speedups",
            sources=["materializers/_speedups.c"],
            depends=["materializers/avro_common.h", "materializers/pg_binary.h"],
            extra_compile_args=_FLAGS,
        ),
        # the SQLite view's fused apply: SQLite's own C API, on the sqlite3 module's handle
        Extension(
            "strangler.materializers._fused",
            sources=["materializers/_fused.c"],
            depends=["materializers/avro_common.h", "materializers/pg_binary.h"],
            libraries=["sqlite3"],
            extra_compile_args=_FLAGS,
        ),
    ]
)
