"""lm-eval's own command line on the bundled pair: exported task YAML, stock ``lm_eval`` and
``python -m suite lm-eval run``, with exact match, α and mean accepted length in the results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from suite.bundle import REFERENCE_DIR
from suite.data import data_root
from suite.lm_eval_cli import main as lm_eval_main
from suite.lm_eval_tasks import NUMERIC_TASKS, export_tasks

ROOT = Path(__file__).resolve().parents[1]
TARGET = REFERENCE_DIR / "llama" / "target"
DRAFT = REFERENCE_DIR / "llama" / "kd-offline-gsm8k-t0.0-s0"
DATA = data_root()
pytestmark = [
    pytest.mark.skipif(not DRAFT.is_dir(), reason="bundled pair missing"),
    pytest.mark.skipif(DATA is None or not (DATA / "gsm8k").is_dir(), reason="no data mirror"),
]
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


def test_stock_lm_eval_cli_runs_an_exported_task_file(tmp_path):
    tasks = tmp_path / "tasks"
    export_tasks(tasks, ["gsm8k"], limit=2)
    env = dict(os.environ, PYTHONPATH=str(ROOT), TOKENIZERS_PARALLELISM="false")
    command = [sys.executable, "-m", "lm_eval", "--model", "specdec", "--model_args", MODEL_ARGS]
    command += ["--tasks", str(tasks / "suite_gsm8k.yaml"), "--include_path", str(tasks)]
    command += ["--device", "cpu", "--gen_kwargs", "max_gen_toks=8"]
    command += ["--output_path", str(tmp_path / "out")]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "acceptance_rate" in done.stdout and "exact_match" in done.stdout
    check(results_of(tmp_path / "out"), limit=2)


def test_suite_lm_eval_run_finds_tasks_by_name(tmp_path):
    tasks = tmp_path / "tasks"
    export_tasks(tasks, ["gsm8k"], limit=2)
    argv = ["--model", "specdec", "--model_args", MODEL_ARGS, "--include_path", str(tasks)]
    argv += ["--tasks", "suite_gsm8k", "--device", "cpu", "--gen_kwargs", "max_gen_toks=8"]
    argv += ["--output_path", str(tmp_path / "out")]
    assert lm_eval_main(["run", *argv]) == 0
    check(results_of(tmp_path / "out"), limit=2)
