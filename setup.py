"""Package data outside the package folder: a wheel gets a copy of the suite's own files.

The task specs (``tasks/``), the report template (``reports/templates/``), the paper's claims and
the data sources (``reference/paper.yaml``, ``reference/data_sources.yaml``) are edited where a
checkout keeps them; ``build_py`` copies them into ``suite/_resources`` of a (non-editable) build,
where ``suite.paths`` finds them through ``importlib.resources``. The models are not package data:
they are the bundle, found through ``--bundle`` or ``$SUITE_BUNDLE``.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
RESOURCES = [
    ("tasks", "*.yaml"),
    ("tasks/profiles", "*.yaml"),
    ("tasks/studies", "*.yaml"),
    ("reports/templates", "*.j2"),
    ("reference", "paper.yaml"),
    ("reference", "data_sources.yaml"),
    ("reference", "calibration.json"),
]


class BuildWithResources(build_py):
    def run(self):
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout's own files
        dest = Path(self.build_lib) / "suite" / "_resources"
        shutil.rmtree(dest, ignore_errors=True)  # a spec deleted since the last build goes too
        for folder, pattern in RESOURCES:
            for source in sorted((HERE / folder).glob(pattern)):
                target = dest / folder / source.name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)


setup(cmdclass={"build_py": BuildWithResources})
