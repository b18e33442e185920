"""Builds libijepa.so with the Makefile and puts it inside the Python package (see pyproject.toml).
pip install . (offline: pip install --no-build-isolation .) runs this."""
import os
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


class BuildWithLibrary(build_py):
    def run(self):
        subprocess.check_call(["make", "-j2", "build/libijepa.so"], cwd=HERE)
        super().run()
        dest = os.path.join(self.build_lib, "ijepa")
        os.makedirs(dest, exist_ok=True)
        shutil.copy2(os.path.join(HERE, "build", "libijepa.so"), os.path.join(dest, "libijepa.so"))


setup(cmdclass={"build_py": BuildWithLibrary})
