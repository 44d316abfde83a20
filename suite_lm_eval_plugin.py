"""Make ``specdec`` known to lm-eval's own command line, without importing anything heavy.

lm-eval 0.4.x looks a model up in its registry and reads no plugin entry points, and with a task
given by name (``lm_eval --include_path DIR --tasks suite_gsm8k``) it looks the model up before
anything of ours is imported. An installed suite therefore ships a ``.pth`` file whose one line
imports this module at interpreter start. It is a top-level module, not part of the ``suite``
package, so that importing it at start does not fix which ``suite`` a later import finds (a
checkout's own, when run from it). It only puts a finder on ``sys.meta_path`` that waits
for ``lm_eval.models`` (lm-eval's table of its own models, imported before any lookup) and, once
that module has run, registers ``specdec`` as a lazy ``"module:attribute"`` placeholder, which
lm-eval's registry resolves on first use. Nothing is imported until lm-eval itself is: no torch,
no suite code. Set ``SUITE_NO_LM_EVAL_PLUGIN=1`` to skip it.
"""

from __future__ import annotations

import os
import sys

MODEL_NAME = "specdec"
MODEL_TARGET = "suite.lm_eval_model:SpecDecLM"
TRIGGER = "lm_eval.models"
PTH_NAME = "suite-lm-eval.pth"  # written by setup.py beside the package


def register(registry) -> bool:
    """Register the placeholder in lm-eval's model registry unless a model of that name is there.

    Returns whether it registered. A registry without lazy placeholders (lm-eval before the
    ``Registry`` class) is left alone: there ``import suite.lm_eval_model`` registers the model.
    """
    if MODEL_NAME in registry or not hasattr(registry, "register"):
        return False
    try:
        registry.register(MODEL_NAME, target=MODEL_TARGET)
    except (TypeError, ValueError):
        return False
    return True


def _register_now() -> None:
    try:
        from lm_eval.api.registry import model_registry
    except ImportError:
        return
    register(model_registry)


class _RegisterAfter:
    """Runs the real loader of ``lm_eval.models``, then registers ``specdec``."""

    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        _register_now()


class _Finder:
    """Finds nothing itself: wraps the loader another finder returns for ``lm_eval.models``."""

    def find_spec(self, name, path, target=None):
        if name != TRIGGER:
            return None
        sys.meta_path.remove(self)  # once: the lookup below, and any later one, is the real one
        import importlib.util  # here, not at interpreter start

        spec = importlib.util.find_spec(name)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _RegisterAfter(spec.loader)
        return spec


def install() -> None:
    """Register now if lm-eval's models are already imported, else wait for them."""
    if os.environ.get("SUITE_NO_LM_EVAL_PLUGIN"):
        return
    if TRIGGER in sys.modules:
        _register_now()
    elif not any(isinstance(finder, _Finder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _Finder())


install()
