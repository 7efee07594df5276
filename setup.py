"""Build the Cython extensions: the RED codec (``neo_mef3._red``) and the directory scanner (``neo_mef3._scan``).

Compiler flags are chosen per compiler (GCC/Clang-style or MSVC) in :class:`BuildExt`.
Setting ``CFLAGS=-DNEO_RED_PORTABLE`` (``CL=/DNEO_RED_PORTABLE`` with MSVC) builds the
codec's plain C paths only (see ``neo_mef3/_red_platform.h``).
"""
import os

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# Flags per extension and compiler style. The codec's loops gain from -O3, the scanner
# does not. -ffp-contract=off: no fused multiply-add where the target has one (ARM64),
# so the lossy blocks' retrending rounds as meflib's does on x86 (MSVC on x64 has no FMA
# without /arch:AVX2, and since Visual Studio 2022 does not contract by default).
FLAGS = {"neo_mef3._red": {"unix": ["-O3", "-ffp-contract=off"], "msvc": ["/O2"]},
         "neo_mef3._scan": {"unix": ["-O2"], "msvc": ["/O2"]}}


class BuildExt(build_ext):
    """build_ext with the flags in the compiler's own syntax."""

    def build_extensions(self):
        style = "msvc" if self.compiler.compiler_type == "msvc" else "unix"  # unix, mingw32, cygwin: GCC-like
        for ext in self.extensions:
            ext.extra_compile_args = FLAGS[ext.name][style]
        super().build_extensions()


def _extension(name, depends=()):
    return Extension(
        f"neo_mef3.{name}",
        [f"neo_mef3/{name}.pyx"],
        depends=list(depends),
        include_dirs=[numpy.get_include()],
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )


def cythonized():
    """The extensions, their Cython sources translated to C."""
    extensions = [_extension("_red", depends=["neo_mef3/_red_platform.h"])]
    if os.name == "posix":  # openat/fstatat/fdopendir; elsewhere neo_mef3.session scans in Python
        extensions.append(_extension("_scan", depends=["neo_mef3/_red.pxd"]))
    return cythonize(
        extensions,
        language_level=3,
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True},
    )


if __name__ == "__main__":  # (as setuptools runs it; scripts/check_portable_build.py imports it)
    setup(cmdclass={"build_ext": BuildExt}, ext_modules=cythonized())
