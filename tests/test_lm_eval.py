"""The ``specdec`` lm-eval model, our lm-eval tasks and the quality study, on tiny random Llamas.

The tiny models use the bundled tokenizer (4096 tokens), so prompts are real GSM8K text.
"""

from __future__ import annotations

import json
import math
import re
import tempfile
from types import SimpleNamespace

import lm_eval
import pytest
import torch
from lm_eval.api.instance import Instance
from lm_eval.api.registry import get_model
from lm_eval.tasks import TaskManager

from suite import quality
from suite.acceptance import prompt_seed
from suite.bundle import REFERENCE_DIR
from suite.data import Example, data_root, load_examples
from suite.lm_eval_model import SpecDecLM
from suite.lm_eval_tasks import build_task, score
from suite.models import load_tokenizer
from suite.specs import DEFAULT_STOP, format_prompt, load_task
from tests.models import perturbed, tiny_llama

TOKENIZER = REFERENCE_DIR / "llama" / "tokenizer"
VOCAB = 4096
GEN = 12
ROOT = data_root()
needs_data = pytest.mark.skipif(
    ROOT is None or not (ROOT / "gsm8k").is_dir(), reason="local data mirror not found"
)
needs_tokenizer = pytest.mark.skipif(not TOKENIZER.is_dir(), reason="bundled tokenizer missing")
pytestmark = needs_tokenizer


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """target/, draft/ and a sibling tokenizer/ folder, as in the bundle."""
    root = tmp_path_factory.mktemp("pair")
    target = tiny_llama(vocab=VOCAB, hidden=32, layers=2, seed=0)
    draft = perturbed(target, 0.2, seed=1)
    for name, model in (("target", target), ("draft", draft)):
        model.save_pretrained(root / name, safe_serialization=True)
    load_tokenizer(TOKENIZER).save_pretrained(root / "tokenizer")
    return SimpleNamespace(root=root, target=root / "target", draft=root / "draft")


def make_lm(pair, **overrides) -> SpecDecLM:
    args = {"target": pair.target, "temperature": 0.0, "num_draft_tokens": 3, "seed": 0}
    args |= overrides
    text = ",".join(f"{k}={v}" for k, v in args.items() if v is not None)
    return get_model("specdec").create_from_arg_string(text)


def evaluate(lm, task):
    return lm_eval.simple_evaluate(
        model=lm, tasks=[task], task_manager=TaskManager(include_defaults=False), bootstrap_iters=0
    )


def toy_examples() -> list[Example]:
    instruction = "Tom has 2 apples and buys 3 more. How many apples does he have?"
    return [Example("toy/0", instruction, format_prompt(instruction), "2 + 3 = 5\n#### 5", "5")]


def request(context: str, until=("### Instruction",), max_gen_toks=GEN) -> Instance:
    gen_kwargs = {"until": list(until), "max_gen_toks": max_gen_toks}
    return Instance("generate_until", {}, (context, gen_kwargs), 0, ("toy", 0, 1))


def test_specdec_is_registered_and_lm_eval_models_stay_reachable():
    assert get_model("specdec") is SpecDecLM
    assert get_model("dummy").__name__ == "DummyLM"


def test_tokenizer_defaults_to_the_sibling_folder_of_the_bundle(pair):
    lm = make_lm(pair)
    assert lm.tokenizer_path == pair.root / "tokenizer"
    assert len(lm.tokenizer) == VOCAB
    assert lm.method == "target" and lm.draft is None
    assert make_lm(pair, draft=pair.draft).method == "speculative"


@needs_data
def test_greedy_speculative_equals_target_alone_through_lm_eval(pair, tmp_path):
    alone, spec = make_lm(pair), make_lm(pair, draft=pair.draft)
    outs = [
        evaluate(lm, build_task("gsm8k", tmp_path / lm.method, limit=3, max_gen_toks=GEN))
        for lm in (alone, spec)
    ]
    samples = [sorted(o["samples"]["suite_gsm8k"], key=lambda s: s["doc_id"]) for o in outs]
    examples = load_examples("gsm8k", "test", limit=3)
    assert [s["arguments"][0][0] for s in samples[0]] == [ex.prompt for ex in examples]
    texts = [[s["filtered_resps"][0] for s in group] for group in samples]
    assert len(texts[0]) == 3 and texts[0] == texts[1]
    assert [r.tokens for r in alone.records] == [r.tokens for r in spec.records]
    assert all(len(r.tokens) >= 1 for r in alone.records)
    # The draft is right on some tokens and wrong on others: the verifier really worked.
    assert 0 < spec.totals.accepted < spec.totals.proposed
    assert spec.totals.tokens == alone.totals.tokens == sum(len(r.tokens) for r in spec.records)
    assert alone.totals.proposed == 0 and alone.totals.steps == alone.totals.tokens
    results = [o["results"]["suite_gsm8k"] for o in outs]
    for metric in ("exact_match,none", "chrf,none"):
        assert results[0][metric] == results[1][metric]
    assert math.isnan(results[0]["acceptance_rate,none"])  # the target alone proposes nothing
    assert results[1]["acceptance_rate,none"] == spec.totals.accepted / spec.totals.proposed
    assert results[0]["mean_accepted_length,none"] == 1.0
    mal = results[1]["mean_accepted_length,none"]
    assert mal == spec.totals.tokens / spec.totals.steps and mal > 1.0


def test_repeats_get_distinct_seeds_and_a_rerun_is_identical(pair, tmp_path):
    def run(seed):
        lm = make_lm(pair, draft=pair.draft, temperature=1.0, seed=seed)
        workdir = tempfile.mkdtemp(dir=tmp_path)
        task = build_task("gsm8k", workdir, examples=toy_examples(), max_gen_toks=GEN, repeats=3)
        out = evaluate(lm, task)
        (sample,) = out["samples"]["suite_gsm8k"]
        (texts,) = sample["resps"]  # one Instance per doc, answered `repeats` times
        assert texts == [r.text for r in lm.records]
        return lm, texts

    lm, texts = run(seed=0)
    assert [r.seed for r in lm.records] == [prompt_seed(0, i) for i in range(3)]
    assert len({r.seed for r in lm.records}) == 3
    assert len(set(texts)) == 3  # one context, three independent samples
    assert {r.doc_id for r in lm.records} == {0}
    again, texts_again = run(seed=0)
    assert texts_again == texts
    assert [r.tokens for r in again.records] == [r.tokens for r in lm.records]
    _, other = run(seed=1)
    assert other != texts


def test_until_and_max_gen_toks_are_honoured(pair):
    lm = make_lm(pair, draft=pair.draft, temperature=1.0)
    context = toy_examples()[0].prompt
    (full,) = lm.generate_until([request(context, until=())])
    assert lm.records[-1].finish_reason == "length" and len(lm.records[-1].tokens) == GEN
    stop = full[len(full) // 2 : len(full) // 2 + 2]
    assert stop.strip() and stop in full
    (cut,) = lm.generate_until([request(context, until=(stop,))])
    assert cut == full.split(stop)[0]
    assert lm.records[-1].finish_reason == "stop"
    assert len(lm.records[-1].tokens) < GEN
    lm.generate_until([request(context, until=(), max_gen_toks=4)])
    assert len(lm.records[-1].tokens) == 4 and lm.records[-1].finish_reason == "length"
    # The target alone draws one number per token, so a smaller budget gives a prefix; the
    # speculative decoder drafts fewer tokens near the budget, which shifts its random stream.
    alone = make_lm(pair, temperature=1.0)
    (full_alone,) = alone.generate_until([request(context, until=())])
    (short_alone,) = alone.generate_until([request(context, until=(), max_gen_toks=4)])
    assert alone.records[-1].tokens == alone.records[0].tokens[:4]
    assert full_alone.startswith(short_alone)


def test_loglikelihood_is_refused(pair):
    lm = make_lm(pair)
    with pytest.raises(NotImplementedError, match="only generates"):
        lm.loglikelihood([request("a")])
    with pytest.raises(NotImplementedError, match="loglikelihood_rolling"):
        lm.loglikelihood_rolling([request("a")])


@pytest.mark.parametrize(
    ("overrides", "pattern"),
    [
        ({"temperature": -0.5}, r"temperature.*-0\.5"),
        ({"temperature": "nan"}, r"temperature.*nan"),
        ({"num_draft_tokens": 0}, r"num_draft_tokens.*0"),
        ({"seed": -1}, r"seed.*-1"),
        ({"seed": 10**23}, r"seed.*100000000000000000000000"),
        ({"max_new_tokens": 10**9}, r"max_new_tokens.*8192.*1000000000"),
        ({"batch_size": 8}, r"batch_size.*8"),
        ({"tokenizer": "/nonexistent/tok"}, r"tokenizer='/nonexistent/tok'"),
    ],
)
def test_bad_model_args_name_the_argument_and_value(pair, overrides, pattern):
    with pytest.raises(ValueError, match=pattern):
        make_lm(pair, **overrides)


def test_missing_and_pickled_checkpoints_are_refused(pair, tmp_path):
    missing = tmp_path / "nowhere"
    with pytest.raises(ValueError, match=re.escape(f"field 'target' = '{missing}'")):
        make_lm(pair, target=missing)
    pickled = tmp_path / "pickled"
    pickled.mkdir()
    (pickled / "config.json").write_text((pair.target / "config.json").read_text())
    (pickled / "pytorch_model.bin").write_bytes(b"\x80\x04N.")
    with pytest.raises(ValueError, match=r"field 'target' = 'pytorch_model.bin'.*pickle"):
        make_lm(pair, target=pickled)
    with pytest.raises(ValueError, match=r"field 'draft' = 'pytorch_model.bin'"):
        make_lm(pair, draft=pickled)
    with pytest.raises(ValueError, match="target is required"):
        SpecDecLM(target=None)


@needs_data
@pytest.mark.parametrize(("name", "limit"), [("gsm8k", 5), ("svamp", 4), ("asdiv", 2)])
def test_task_builder_keeps_limit_docs_with_our_prompts(name, limit, tmp_path):
    task = build_task(name, tmp_path, limit=limit)
    docs = list(task.eval_docs)
    examples = load_examples(name, "test", limit=limit)
    assert len(docs) == limit
    assert [d["id"] for d in docs] == [ex.id for ex in examples]
    assert [task.doc_to_text(d) for d in docs] == [ex.prompt for ex in examples]
    assert task.config.generation_kwargs["until"] == list(DEFAULT_STOP)
    assert task.config.generation_kwargs["max_gen_toks"] == load_task(name).max_new_tokens
    assert task.task_name == f"suite_{name}"
    assert sorted(p.name for p in tmp_path.glob("*.jsonl")) == [f"{name}-test.jsonl"]


def test_numeric_scorer_counts_right_and_wrong_answers(tmp_path):
    spec = load_task("gsm8k")
    doc = {"answer": "42", "reference": "6 * 7 = 42\n#### 42"}
    assert score(spec, doc, "6 * 7 = 42\n#### 42") == {"exact_match": 1.0, "chrf": 100.0}
    wrong = score(spec, doc, "6 * 7 = 41\n#### 41")
    assert wrong["exact_match"] == 0.0 and 0.0 < wrong["chrf"] < 100.0
    assert score(spec, doc, "#### 42.00")["exact_match"] == 1.0
    assert score(spec, doc, "no number at all")["exact_match"] == 0.0
    task = build_task("gsm8k", tmp_path, examples=toy_examples())
    (toy,) = task.eval_docs
    assert task.process_results(toy, ["2 + 3 = 5\n#### 5"])["exact_match"] == 1.0
    assert task.process_results(toy, ["2 + 3 = 6\n#### 6"])["exact_match"] == 0.0


def test_interval_and_paired_statistics():
    low, high = quality.wilson_interval(0, 100)
    assert low == 0.0 and high == pytest.approx(3.8415 / 103.8415, abs=1e-4)
    low, high = quality.wilson_interval(50, 100)
    assert (low, high) == (pytest.approx(0.4038, abs=1e-4), pytest.approx(0.5962, abs=1e-4))
    a, b = [True] * 8 + [False] * 12, [False] * 8 + [False] * 12
    assert quality.mcnemar_exact(a, b)["p_value"] == pytest.approx(2 / 2**8)
    assert quality.mcnemar_exact(a, a)["p_value"] == 1.0
    assert quality.wilcoxon_paired([1.0, 2.0], [1.0, 2.0])["p_value"] == 1.0
    ci = quality.bootstrap_mean_interval([0.0, 10.0] * 20, n_boot=2000, seed=0)
    assert ci.low < 5.0 < ci.high and ci == quality.bootstrap_mean_interval(
        [0.0, 10.0] * 20, n_boot=2000, seed=0
    )
    assert quality.overlap(ci, type(ci)(ci.high, ci.high + 1))
    assert not quality.overlap(ci, type(ci)(ci.high + 0.1, ci.high + 1))


@needs_data
def test_quality_main_writes_json_and_checks_losslessness(pair, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["--out", str(out), "--limit", "2", "--max-gen-toks", "8", "--n-boot", "200"]
    argv += ["--target", str(pair.target), "--draft", str(pair.draft)]
    argv += ["--tokenizer", str(pair.root / "tokenizer"), "--threads", "0"]
    threads = torch.get_num_threads()
    assert quality.main(argv) == 0
    assert torch.get_num_threads() == threads
    result = json.loads((out / "quality.json").read_text())
    assert not [p for p in out.iterdir() if p.name != "quality.json"]  # no temp files left
    conditions = {(c["method"], c["temperature"]) for c in result["conditions"]}
    assert conditions == {(m, t) for m in ("target", "speculative") for t in (0.0, 0.7)}
    greedy, sampled = result["comparisons"]
    assert greedy["temperature"] == 0.0 and greedy["identical_outputs"] == 2
    assert greedy["lossless_check"] == "passed" and greedy["verdict"] == "agree"
    assert sampled["lossless_check"] == "n/a"
    for c in result["conditions"]:
        assert c["prompts"] == 2
        assert c["accuracy"] == c["lm_eval_metrics"]["exact_match"]
        assert c["chrf"] == pytest.approx(c["lm_eval_metrics"]["chrf"])
        assert c["chrf_ci"][0] <= c["chrf"] <= c["chrf_ci"][1]
        if c["method"] == "speculative":
            assert 0.0 <= c["acceptance_rate"] <= 1.0
        else:
            assert c["acceptance_rate"] is None
        assert not math.isnan(c["decoder"]["tokens"])
    table = capsys.readouterr().out
    assert "speculative" in table and "2/2" in table
