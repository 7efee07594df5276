"""Build the Cython extensions: the RED codec (``neo_mef3._red``) and the directory scanner (``neo_mef3._scan``)."""
import os

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup

extensions = [
    Extension(
        "neo_mef3._red",
        ["src/neo_mef3/_red.pyx"],
        include_dirs=[numpy.get_include()],
        extra_compile_args=["-O3"],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    ),
]
if os.name == "posix":  # openat/fstatat/fdopendir; elsewhere neo_mef3.session scans in Python
    extensions.append(
        Extension(
            "neo_mef3._scan",
            ["src/neo_mef3/_scan.pyx"],
            include_dirs=[numpy.get_include()],
            extra_compile_args=["-O2"],
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
        )
    )

setup(
    ext_modules=cythonize(
        extensions,
        language_level=3,
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True},
    )
)
