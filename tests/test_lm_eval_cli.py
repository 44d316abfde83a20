"""lm-eval's own command line on the bundled pair: exported task YAML given by file, folder or
name to stock ``lm_eval``, and ``python -m suite lm-eval run``, with exact match, α and mean
accepted length in the results; the installed ``.pth`` that makes ``specdec`` known to stock
``lm_eval`` without importing anything heavy; and why a model that only registers on import (a
plain lm-eval plugin) cannot be used with a task given by name."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import suite_lm_eval_plugin as plugin
from suite.bundle import REFERENCE_DIR
from suite.data import data_root
from suite.lm_eval_cli import main as lm_eval_main
from suite.lm_eval_tasks import NUMERIC_TASKS, export_tasks

ROOT = Path(__file__).resolve().parents[1]
TARGET = REFERENCE_DIR / "llama" / "target"
DRAFT = REFERENCE_DIR / "llama" / "kd-offline-gsm8k-t0.0-s0"
DATA = data_root()
needs_pair = pytest.mark.skipif(
    not DRAFT.is_dir() or DATA is None or not (DATA / "gsm8k").is_dir(),
    reason="bundled pair or data mirror missing",
)
MODEL_ARGS = f"target={TARGET},draft={DRAFT},num_draft_tokens=4"


def results_of(out: Path) -> dict:
    (path,) = out.rglob("results_*.json")
    return json.loads(path.read_text())


def check(results: dict, limit: int) -> None:
    gsm8k = results["results"]["suite_gsm8k"]
    assert gsm8k["exact_match,none"] in (0.0, 0.5, 1.0)
    assert 0.0 < gsm8k["acceptance_rate,none"] < 1.0
    assert 1.0 < gsm8k["mean_accepted_length,none"] <= 5.0  # K + 1 tokens per step at most
    assert results["config"]["specdec_method"] == "speculative"
    assert results["config"]["specdec_dtype"] == "float32"
    assert results["n-samples"]["suite_gsm8k"]["effective"] == limit


@needs_pair
def test_export_writes_yaml_lm_eval_loads(tmp_path):
    paths = lm_eval_main(["export", "--out", str(tmp_path), "--limit", "3"])
    assert paths == 0
    assert sorted(p.name for p in tmp_path.glob("*.yaml")) == [
        f"suite_{n}.yaml" for n in sorted(NUMERIC_TASKS)
    ]
    text = (tmp_path / "suite_gsm8k.yaml").read_text()
    assert "!function suite.lm_eval_hooks.process_gsm8k" in text.replace("'", "")
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_path=str(tmp_path), include_defaults=False)
    assert {"suite_gsm8k", "suite_svamp", "suite_asdiv"} <= set(manager.all_tasks)
    raw = yaml.load(text, Loader=yaml.BaseLoader)  # tags kept as text
    assert raw["task"] == "suite_gsm8k" and raw["num_fewshot"] == "0"


def stock_lm_eval(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """``python -m lm_eval ARGS``: lm-eval's own command line, nothing of ours imported first."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), TOKENIZERS_PARALLELISM="false")
    command = [sys.executable, "-m", "lm_eval", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)


@needs_pair
@pytest.mark.parametrize("form", ["file", "folder"])
def test_stock_lm_eval_cli_runs_exported_tasks_given_by_file_or_folder(tmp_path, form):
    tasks = tmp_path / "tasks"
    export_tasks(tasks, ["gsm8k"], limit=2)
    given = tasks / "suite_gsm8k.yaml" if form == "file" else tasks
    args = ["--model", "specdec", "--model_args", MODEL_ARGS, "--tasks", str(given)]
    args += ["--device", "cpu", "--gen_kwargs", "max_gen_toks=8"]
    done = stock_lm_eval([*args, "--output_path", str(tmp_path / "out")], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "acceptance_rate" in done.stdout and "exact_match" in done.stdout
    check(results_of(tmp_path / "out"), limit=2)


@needs_pair
def test_stock_lm_eval_cli_runs_a_suite_task_by_name_from_the_include_path(tmp_path):
    tasks = tmp_path / "tasks"
    export_tasks(tasks, ["gsm8k"], limit=2)
    args = ["--model", "specdec", "--model_args", MODEL_ARGS, "--include_path", str(tasks)]
    args += ["--tasks", "suite_gsm8k", "--device", "cpu", "--gen_kwargs", "max_gen_toks=8"]
    done = stock_lm_eval([*args, "--output_path", str(tmp_path / "out")], tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    row = next(line for line in done.stdout.splitlines() if line.startswith("|suite_gsm8k"))
    assert "acceptance_rate" in row
    assert "exact_match" in done.stdout and "mean_accepted_length" in done.stdout
    check(results_of(tmp_path / "out"), limit=2)


def installed_pth() -> Path | None:
    """The .pth our setup.py installs (its name is stated there and in the plugin module)."""
    import site

    assert f'PTH_NAME = "{plugin.PTH_NAME}"' in (ROOT / "setup.py").read_text()
    folders = [Path(f) for f in [*site.getsitepackages(), site.getusersitepackages()]]
    return next((f / plugin.PTH_NAME for f in folders if (f / plugin.PTH_NAME).is_file()), None)


def test_the_installed_pth_registers_specdec_lazily_once_lm_eval_loads_its_models():
    pth = installed_pth()
    assert pth is not None, "the suite is not installed: pip install -e . (or .) puts the .pth"
    probe = (
        "import sys\n"
        "heavy = ('torch', 'transformers', 'suite.lm_eval_model')\n"
        "started = {m for m in heavy if m in sys.modules}\n"
        "from lm_eval.api.registry import get_model, model_registry\n"
        "import lm_eval.models\n"
        "placeholder = model_registry._objs.get('specdec')\n"
        "print(sorted(started), placeholder, get_model('dummy').__name__)\n"
        "print(get_model('specdec').__module__, get_model('specdec').__name__)\n"
    )
    env = dict(os.environ)
    env.pop("SUITE_NO_LM_EVAL_PLUGIN", None)
    done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    first, second = done.stdout.splitlines()
    assert first == "[] suite.lm_eval_model:SpecDecLM DummyLM"  # nothing heavy at start
    assert second == "suite.lm_eval_model SpecDecLM"
    env["SUITE_NO_LM_EVAL_PLUGIN"] = "1"
    off = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert off.returncode != 0 and "no model for this name found" in off.stderr


def test_the_pth_leaves_the_suite_package_to_whichever_checkout_runs(tmp_path):
    """The .pth imports a top-level module, not ``suite``: run from another checkout, ``import
    suite`` finds that checkout's package, as it would without the .pth."""
    (tmp_path / "suite").mkdir()
    (tmp_path / "suite" / "__init__.py").write_text("MARK = 'other checkout'\n")
    probe = "import sys, suite; print(suite.MARK, 'suite_lm_eval_plugin' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["other", "checkout", str(installed_pth() is not None)]


def test_register_leaves_a_registered_model_alone_and_resolves_lazily():
    from lm_eval.api.registry import Registry

    registry = Registry("model")
    assert plugin.register(registry) is True
    assert registry._objs["specdec"] == plugin.MODEL_TARGET
    assert plugin.register(registry) is False  # already there: untouched
    assert registry.get("specdec").__name__ == "SpecDecLM"
    taken = Registry("model")
    taken.register("specdec", target="somewhere.else:Model")
    assert plugin.register(taken) is False
    assert taken._objs["specdec"] == "somewhere.else:Model"
    assert plugin.register({}) is False  # an old dict registry: importing the model registers it


MINIMAL_TASK = """\
task: mini
dataset_path: json
dataset_kwargs: {{data_files: {{test: {docs}}}}}
test_split: test
doc_to_text: prompt
doc_to_target: answer
output_type: generate_until
generation_kwargs: {{until: ["\\n"], max_gen_toks: 4}}
process_results: !function plugin.process
metric_list: [{{metric: hit, aggregation: mean, higher_is_better: true}}]
metadata: {{version: 1}}
"""
MINIMAL_PLUGIN = """\
from lm_eval.api.model import LM
from lm_eval.api.registry import register_model


@register_model("plugin-lm")
class PluginLM(LM):
    def __init__(self, **kwargs):
        super().__init__()

    def generate_until(self, requests, disable_tqdm=False):
        return ["42" for _ in requests]

    def loglikelihood(self, requests, disable_tqdm=False):
        raise NotImplementedError

    def loglikelihood_rolling(self, requests, disable_tqdm=False):
        raise NotImplementedError


def process(doc, results):
    return {"hit": float(results[0].strip() == doc["answer"])}
"""


def test_stock_lm_eval_builds_the_model_before_it_imports_a_named_tasks_hooks(tmp_path):
    """Why the suite installs a .pth, shown without the suite: lm-eval 0.4.x registers a model
    only by import and reads no plugin entry points; a task named from --include_path is indexed
    without importing its !function module, and the model is built before the task is loaded.
    The same two files work when the task is given by path, whose hooks are imported first."""
    folder = tmp_path / "mini"
    folder.mkdir()
    docs = folder / "docs.jsonl"
    docs.write_text('{"prompt": "6 x 7 =", "answer": "42"}\n{"prompt": "1 + 1 =", "answer": "2"}\n')
    (folder / "mini.yaml").write_text(MINIMAL_TASK.format(docs=docs))
    (folder / "plugin.py").write_text(MINIMAL_PLUGIN)
    args = ["--model", "plugin-lm", "--include_path", str(folder), "--tasks", "mini"]
    by_name = stock_lm_eval(args, tmp_path)
    assert by_name.returncode != 0
    assert "Attempted to load model 'plugin-lm', but no model for this name found" in by_name.stderr
    by_path = stock_lm_eval(
        ["--model", "plugin-lm", "--tasks", str(folder / "mini.yaml")], tmp_path
    )
    assert by_path.returncode == 0, by_path.stderr[-3000:]
    row = next(line for line in by_path.stdout.splitlines() if line.startswith("|mini"))
    assert [cell.strip() for cell in row.split("|")][5:8] == ["hit", "↑", "0.5"]


@needs_pair
def test_suite_lm_eval_run_finds_tasks_by_name(tmp_path):
    tasks = tmp_path / "tasks"
    export_tasks(tasks, ["gsm8k"], limit=2)
    argv = ["--model", "specdec", "--model_args", MODEL_ARGS, "--include_path", str(tasks)]
    argv += ["--tasks", "suite_gsm8k", "--device", "cpu", "--gen_kwargs", "max_gen_toks=8"]
    argv += ["--output_path", str(tmp_path / "out")]
    assert lm_eval_main(["run", *argv]) == 0
    check(results_of(tmp_path / "out"), limit=2)
