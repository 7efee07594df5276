"""Build the Cython extensions: the RED codec (``neo_mef3._red``) and the directory scanner (``neo_mef3._scan``)."""
import os

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup



def _extension(name, optimize):
    return Extension(
        f"neo_mef3.{name}",
        [f"neo_mef3/{name}.pyx"],
        include_dirs=[numpy.get_include()],
        extra_compile_args=[optimize],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )


extensions = [_extension("_red", "-O3")]
if os.name == "posix":  # openat/fstatat/fdopendir; elsewhere neo_mef3.session scans in Python
    extensions.append(_extension("_scan", "-O2"))

setup(
    ext_modules=cythonize(
        extensions,
        language_level=3,
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True},
    )
)
