"""Package data outside the package folder: a wheel gets a copy of the suite's own files.

The task specs (``tasks/``), the report template (``reports/templates/``), the paper's claims and
the data sources (``reference/paper.yaml``, ``reference/data_sources.yaml``) are edited where a
checkout keeps them; ``build_py`` copies them into ``suite/_resources`` of a (non-editable) build,
where ``suite.paths`` finds them through ``importlib.resources``. The models are not package data:
they are the bundle, found through ``--bundle`` or ``$SUITE_BUNDLE``.

Every build, editable or not, also puts ``suite-lm-eval.pth`` beside the package: its one line
imports ``suite_lm_eval_plugin`` at interpreter start, which makes ``specdec`` known to lm-eval's
own command line (see that module; it imports nothing until lm-eval does).
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

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


PTH_NAME = "suite-lm-eval.pth"  # sorts after an editable install's __editable__ .pth
PTH_LINE = (
    'import os; os.environ.get("SUITE_NO_LM_EVAL_PLUGIN") or __import__("suite_lm_eval_plugin")\n'
)


class BuildWithResources(build_py):
    def run(self):
        super().run()
        pth = Path(self.build_lib) / PTH_NAME
        pth.parent.mkdir(parents=True, exist_ok=True)
        pth.write_text(PTH_LINE, encoding="utf-8")
        if getattr(self, "editable_mode", False):
            return  # an editable install reads the checkout's own files
        dest = Path(self.build_lib) / "suite" / "_resources"
        shutil.rmtree(dest, ignore_errors=True)  # a spec deleted since the last build goes too
        for folder, pattern in RESOURCES:
            for source in sorted((HERE / folder).glob(pattern)):
                target = dest / folder / source.name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target)

    def get_outputs(self, include_bytecode=True):
        return [*super().get_outputs(include_bytecode), str(Path(self.build_lib) / PTH_NAME)]


class _WithPth:
    """An editable install's strategy that also writes the ``.pth`` into the editable wheel."""

    def __init__(self, strategy):
        self.strategy = strategy

    def __call__(self, wheel, files, mapping):
        self.strategy(wheel, files, mapping)
        wheel.writestr(PTH_NAME, PTH_LINE)

    def __enter__(self):
        self.strategy.__enter__()
        return self

    def __exit__(self, *exc):
        return self.strategy.__exit__(*exc)


class EditableWithPth(editable_wheel):
    def _select_strategy(self, *args, **kwargs):
        return _WithPth(super()._select_strategy(*args, **kwargs))


setup(cmdclass={"build_py": BuildWithResources, "editable_wheel": EditableWithPth})
