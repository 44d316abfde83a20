"""Inputs of the thirty-fourth attack: empirical counts no decoder run gives (judged too few,
proposals that drop by two, lists shorter than K), a forged evaluation carried into a model
card, a checkpoint that drops its settings, a base draft that is the target, an artifact under
another's name, numbers a template's filters misread, list options given twice, and stop
strings without bound; and, from the thirty-fifth, a checkpoint path through a file, records
without an output or with an open bucket no run writes, sums that overflow as they render,
exponent texts cut to an integer, a value listed twice in one option, and options
--executor-compare would ignore. Each case failed on the commit before its fix."""

from __future__ import annotations

import copy
import itertools
import json

import pytest

from suite.errors import SpecError
from suite.record_read import RecordError
from tests.hostile import refused
from tests.test_bench import bundle  # noqa: F401 (fixture)
from tests.test_hostile_inputs_more import REPO
from tests.test_hostile_round30 import difficulty, forged_report_refused  # noqa: F401
from tests.test_hostile_round33 import (  # noqa: F401 (fixtures)
    _bench_refused,
    _read,
    _rewrite,
    decoded,
    linked_reference,
)

# --- empirical prompts: the decoder's bookkeeping, position by position ---


def _judged_at_the_old_floor(p, k):
    """judged lowered to accepted + rejections at position 1, below the rejections counted at
    the later positions (the judged α the claims read goes up)."""
    pp, ap = p["proposed_per_position"], p["accepted_per_position"]
    floor = p["accepted"] + pp[0] - ap[0]
    if floor >= p["judged"] or floor < max(p["accepted"], 1):
        return False
    p["judged"] = floor
    p["judged_acceptance_rate"] = p["accepted"] / floor
    return True


def _proposals_drop_by_two(p, k):
    """One proposal moved from a later position to an earlier one: totals kept, counts still
    bounded by the steps and not rising, but falling by two or more from one position to the
    next (two steps drafting the same j < K)."""
    pp, ap = p["proposed_per_position"], p["accepted_per_position"]
    for i in range(len(pp)):
        for j in range(i + 1, len(pp)):
            moved = list(pp)
            moved[i], moved[j] = moved[i] + 1, moved[j] - 1
            fine = (
                moved[0] <= p["steps"]
                and all(a >= b for a, b in itertools.pairwise(moved))
                and all(a <= n for a, n in zip(ap, moved, strict=True))
                and any(a - b >= 2 for a, b in itertools.pairwise(moved))
            )
            if fine and (p["accepted"] + moved[-1] - ap[-1]) <= p["judged"] <= (
                p["accepted"] + moved[0] - ap[-1]
            ):
                p["proposed_per_position"] = moved
                return True
    return False


@pytest.mark.parametrize(
    ("edit", "field", "shown"),
    [(_judged_at_the_old_floor, "judged", "steps that rejected a draft"),
     (_proposals_drop_by_two, "proposed_per_position", "drop by at most one")],
    ids=["judged-floor", "drop-by-two"],
)  # fmt: skip
def test_position_counts_no_decoder_run_gives_are_refused(decoded, edit, field, shown):  # noqa: F811
    for k, p in decoded:
        forged = dict(p)
        if edit(forged, k):
            break
    else:
        pytest.fail("no genuine prompt to forge")
    with pytest.raises(RecordError, match=shown) as err:
        _read(k, forged)
    assert err.value.field == f"per_prompt[0].{field}", str(err.value)


def test_lists_shorter_than_k_are_refused(decoded):  # noqa: F811
    """A genuine prompt of K 3 read as one of a K-5 cell: its lists hold 3 positions, not 5."""
    p = next(p for k, p in decoded if k == 3)
    with pytest.raises(RecordError, match="one count per draft position") as err:
        _read(5, p)
    assert err.value.field == "per_prompt[0].proposed_per_position", str(err.value)


def test_genuine_prompts_reach_each_judged_bound(decoded):  # noqa: F811
    """The control: genuine prompts are read, and some sit at each end of judged's range."""
    lows = highs = 0
    for k, p in decoded:
        _read(k, p)
        pp, ap, a = p["proposed_per_position"], p["accepted_per_position"], p["accepted"]
        lows += p["judged"] == a + pp[-1] - ap[-1]
        highs += p["judged"] == a + pp[0] - ap[-1]
    assert lows and highs


# --- the bundle: a carried evaluation, names and paths, a base draft, bundle files ---


def _manifest():
    return json.loads((REPO / "reference" / "MANIFEST.json").read_text())


def _evaluation(edit):
    manifest = _manifest()
    edit(manifest["artifacts"]["llama/target"]["evaluation"])
    return manifest


@pytest.mark.parametrize(
    ("edit", "field"),
    [(lambda e: e["greedy_quality"]["target"].update(
        {"gsm8k`\n\n# HEADING\n<script>alert(1)</script>": e["greedy_quality"]["target"]["gsm8k"]}),
      "evaluation.greedy_quality.target"),
     (lambda e: e["gsm8k_test_accuracy"].update(accuracy="not a number", correct=-5),
      "evaluation.gsm8k_test_accuracy"),
     (lambda e: e["gsm8k_test_accuracy"].update(accuracy=0.5),
      "evaluation.gsm8k_test_accuracy"),
     (lambda e: e["greedy_quality"].update(mallory={}), "evaluation.greedy_quality.mallory"),
     (lambda e: e["greedy_quality"].update(prompts_per_dataset=0),
      "evaluation.greedy_quality.prompts_per_dataset"),
     (lambda e: e["greedy_samples"].append({"task": "x", "greedy": 1}),
      "evaluation.greedy_samples[4]"),
     (lambda e: e.update(extra=1), "evaluation.extra")],
    ids=["markup-dataset", "accuracy-text", "accuracy-not-ratio", "unknown-model",
         "no-prompts", "sample-number", "unknown-field"],
)  # fmt: skip
def test_a_forged_evaluation_is_refused_before_it_is_carried(edit, field, tmp_path):
    """What manifest carries over, verify checks and a model card prints."""
    from suite.manifest import _carried

    path = tmp_path / "MANIFEST.json"
    with pytest.raises(SpecError) as err:
        _carried(_evaluation(edit), path)
    assert err.value.field.startswith(f"artifacts.llama/target.{field}"), str(err.value)
    assert err.value.path == path


def test_the_bundles_evaluation_is_carried():
    from pathlib import Path

    from suite.manifest import _carried

    assert "evaluation" in _carried(_manifest(), Path("MANIFEST.json"))["llama/target"]


def test_a_checkpoint_without_its_settings_does_not_resume(tmp_path):
    from tests.test_hostile_round24 import _resumable

    resume, ckpt = _resumable(tmp_path)
    state = json.loads((ckpt / "state.json").read_text())
    del state["train"]
    (ckpt / "state.json").write_text(json.dumps(state))
    with pytest.raises(SpecError, match="delete the checkpoint folder") as err:
        resume()
    assert (err.value.path, err.value.field) == (ckpt / "state.json", "train"), str(err.value)


@pytest.mark.parametrize("base", ["target", "tokenizer", "kd-online-alpaca-t0.0-s2", "unlisted"])
def test_a_base_draft_that_is_no_other_listed_draft_is_refused(base, bundle, tmp_path, capsys,  # noqa: F811
                                                               monkeypatch):  # fmt: skip
    import shutil

    if base == "unlisted":  # a model folder of the family the manifest does not list
        shutil.copytree(bundle / "draft", bundle / base)
    path = bundle / "kd-online-alpaca-t0.0-s2" / "training.json"  # the best KD draft's
    _rewrite(path, lambda facts: facts.update(base_draft=base))
    _bench_refused(bundle, tmp_path, capsys, monkeypatch, str(path), "base_draft", repr(base))


def _swap(manifest):
    a = manifest["artifacts"]
    a["llama/target"], a["llama/draft"] = a["llama/draft"], a["llama/target"]


def _renamed(manifest):  # a draft listed under the target's name, the target under another
    a = manifest["artifacts"]
    a["llama/target"], a["llama/target-old"] = a.pop("llama/draft"), a.pop("llama/target")


@pytest.mark.parametrize(("edit", "field"), [(_swap, "path"), (_renamed, "path")],
                         ids=["names-swapped", "renamed"])  # fmt: skip
def test_an_artifact_is_the_folder_of_its_name(edit, field, tmp_path):
    from suite.bundle import load_manifest

    manifest = _manifest()
    edit(manifest)
    (tmp_path / "MANIFEST.json").write_text(json.dumps(manifest))
    with pytest.raises(SpecError) as err:
        load_manifest(tmp_path)
    assert err.value.field.endswith(field), str(err.value)
    assert "artifacts.llama/" in err.value.field, str(err.value)


def _replaced(path, make):
    import shutil

    shutil.rmtree(path) if path.is_dir() else path.unlink()
    make(path)


@pytest.mark.parametrize(
    ("make", "shown"),
    [(lambda r: _replaced(r / "recipes", lambda p: p.symlink_to("/etc")),
      "recipes: a bundle file is a plain folder"),
     (lambda r: _replaced(r / "paper.yaml", __import__("os").mkfifo),
      "paper.yaml: a bundle file is a regular file")],
    ids=["recipes-link", "paper-fifo"],
)  # fmt: skip
def test_a_bundle_file_that_is_not_its_own_is_named(make, shown, linked_reference, capsys):  # noqa: F811
    from suite.cli import main

    root = linked_reference
    make(root)
    assert main(["verify", "--hashes-only", "--bundle", str(root)]) == 1
    out = capsys.readouterr()
    assert shown in out.out + out.err, out


# --- task templates, list options, stop strings ---


@pytest.mark.parametrize(
    ("template", "shown"),
    [('{{ "1e-400"|float }}{{ question }}', "below the smallest float"),
     ('{{ "1e999"|float }}{{ question }}', "beyond the largest float"),
     ('{{ "١٢"|int }}{{ question }}', "a number's text"),
     ('{{ "abc"|int }}{{ question }}', "a number's text"),
     ('{{ "nan"|float }}{{ question }}', "a number's text"),
     ('{{ "12"|int(base=16) }}{{ question }}', "base 10")],
    ids=["float-underflow", "float-overflow", "arabic-indic", "text", "nan", "base-16"],
)  # fmt: skip
def test_a_template_filter_reads_numbers_as_written(template, shown):
    from jinja2.exceptions import SecurityError

    from suite.sandbox import JINJA, template_problem

    assert template_problem(template) is None  # the filter raises as it renders
    with pytest.raises(SecurityError, match=shown):
        JINJA.from_string(template).render(question="q")


def test_a_folded_sum_a_float_cannot_hold_is_refused(tmp_path, capsys):
    from tests.test_hostile_specs import _folder, _with

    folder = _folder(tmp_path, _with("instruction", "{{ 1e308 + 1e308 }}{{ question }}"))
    refused(["tasks", "--tasks-dir", str(folder)], tmp_path, capsys, "toy.yaml", "instruction",
            "beyond the largest float")  # fmt: skip


def test_template_filters_read_numbers_and_their_texts():
    """The control: numbers, ASCII numbers' texts (spaces around them too) and record fields."""
    from suite.sandbox import JINJA

    template = '{{ "12"|int + 1 }} {{ " 2.5 "|float }} {{ 3.7|int }} {{ x|int }} {{ "1e3"|float }}'
    assert JINJA.from_string(template).render(x="7") == "13 2.5 3 7 1000.0"


@pytest.mark.parametrize(
    "argv",
    [["run", "difficulty", "--profile", "smoke", "--engine", "analytic", "--engine",
      "empirical"],
     ["calibrate", "--n-sim", "1", "--claims", "1", "--claims", "2"],
     ["quality", "--limit", "1", "--temperatures", "0.7", "--temperatures", "0"],
     ["bench", "--tasks", "gsm8k", "--tasks", "alpaca"]],
    ids=["run-engine", "calibrate-claims", "quality-temperatures", "bench-tasks"],
)  # fmt: skip
def test_a_list_option_given_twice_is_refused(argv, tmp_path, capsys):
    """argparse kept the last of two and dropped the first values without a word."""
    from suite.cli import main

    option = argv[-2]
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and f"{option} given twice" in err, err
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert list(tmp_path.iterdir()) == []


def test_a_selectors_near_equal_kd_temperatures_are_refused(tmp_path, capsys):
    import yaml

    from tests.test_hostile_round33 import _grid_with

    study = _grid_with(drafts=[{"method": "online", "kd_temperature": [0.5, 0.5000000001]}])
    path = tmp_path / "mini.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    argv = ["run", str(path), "--profile", "smoke", "--out", str(tmp_path / "out")]
    refused(argv, tmp_path, capsys, "mini.yaml", "kd_temperature[1]", "listed twice")


@pytest.mark.parametrize(
    ("until", "shown"),
    [([f"q{i:05d}" for i in range(17)], "at most 16"),
     (["z" * 257], "at most 256")],
    ids=["seventeen", "long"],
)  # fmt: skip
def test_stop_strings_are_bounded_as_a_task_specs(until, shown, tmp_path, capsys):
    from suite.lm_eval_model import _until

    with pytest.raises(ValueError, match=shown):
        _until({"until": until})
    config = tmp_path / "c.yaml"
    config.write_text(json.dumps({"gen_kwargs": {"until": until}}))
    argv = ["lm-eval", "run", "--config", str(config), "--model", "specdec", "--model_args",
            "target=t", "--tasks", "x", "--output_path", str(tmp_path / "o")]  # fmt: skip
    refused(argv, tmp_path, capsys, "gen_kwargs.until", shown)


def test_a_config_gen_kwargs_number_is_read_as_written(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("gen_kwargs:\n  temperature: 1e-400\n")
    argv = ["lm-eval", "run", "--config", str(config), "--model", "specdec", "--model_args",
            "target=t", "--tasks", "x", "--output_path", str(tmp_path / "o")]  # fmt: skip
    refused(argv, tmp_path, capsys, "gen_kwargs.temperature", "a number a float holds")


# --- the thirty-fifth attack (the same areas) ---


@pytest.mark.parametrize("which", ["checkpoint", "its-parent"])
def test_a_checkpoint_path_through_a_file_is_refused_before_training(which, tmp_path):
    import torch

    from suite.distill.loop import TrainConfig, train
    from suite.distill.pretrain import lm_loss
    from tests.models import tiny_llama

    ckpt = tmp_path / "tiny" / "target"
    blocker = ckpt if which == "checkpoint" else ckpt.parent
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("a file")
    cfg = TrainConfig(max_steps=2, lr=1e-2, min_lr=1e-3, warmup_steps=0, batch_size=2)
    batch = torch.randint(0, 8, (2, 5))
    steps = []

    def batches(step):
        steps.append(step)
        return batch

    with pytest.raises(SpecError, match="delete the checkpoint folder") as err:
        train(tiny_llama(), cfg, batches, lm_loss, ckpt, desc="t")
    assert err.value.path == blocker and steps == [], str(err.value)
    assert blocker.read_text() == "a file"


def test_an_evaluation_of_a_dataset_with_fewer_prompts_is_read(tmp_path):
    """The control: a dataset whose test split holds fewer examples than asked scores fewer."""
    from suite.bundle_tables import check_table_fields

    manifest = _evaluation(lambda e: e["greedy_quality"]["target"]["gsm8k"].update(prompts=30))
    check_table_fields(manifest, tmp_path / "MANIFEST.json")


def _first(records, engine):
    return next(r for r in records if r["cell"]["engine"] == engine)


def _open_bucket_zero(records, header):
    """Every token of an analytic record moved into bucket 0, the open bucket set to 0."""
    result = _first(records, "analytic")["result"]
    buckets = result["acceptance_by_token_chars"]
    total = [sum(v[0] for v in buckets.values()), sum(v[1] for v in buckets.values())]
    result.update(acceptance_by_token_chars={"0": total}, token_chars_open_bucket=0)


def _no_target(records, header):
    record = _first(records, "empirical")
    prompt = record["result"]["per_prompt"][0]
    record["result"]["tokens_target"] -= prompt["target"]["tokens"]
    del prompt["target"]


def _no_finish(records, header):
    _first(records, "empirical")["result"]["per_prompt"][0]["speculative"]["finish_reason"] = None


def _parts_over_whole(records, header):
    timing = _first(records, "empirical")["timing"]["per_prompt"][0]
    timing["draft_seconds"] = timing["target_seconds"] = timing["speculative_seconds"] * 0.6


@pytest.mark.parametrize(
    ("edit", "shown"),
    [(_open_bucket_zero, "token_chars_open_bucket"),
     (_no_target, "per_prompt[0].target"),
     (_no_finish, "speculative.finish_reason"),
     (_parts_over_whole, "target_seconds")],
    ids=["open-bucket-0", "no-target", "no-finish-reason", "parts-over-whole"],
)  # fmt: skip
def test_a_record_no_run_writes_is_refused(edit, shown, difficulty, tmp_path, capsys):  # noqa: F811
    forged_report_refused(difficulty, tmp_path, capsys, edit, "cells.jsonl", shown)


@pytest.mark.parametrize(
    ("template", "shown"),
    [("{{ (1e308 if question else 0) + 1e308 }}", "beyond the largest float"),
     ("{{ (0 if question else 1) - 1e308 - 1e308 }}", "beyond the largest float")],
    ids=["sum-as-rendered", "difference-as-rendered"],
)  # fmt: skip
def test_a_sum_a_float_cannot_hold_is_refused_as_it_renders(template, shown):
    from jinja2.exceptions import SecurityError

    from suite.sandbox import JINJA, template_problem

    assert template_problem(template) is None
    with pytest.raises(SecurityError, match=shown):
        JINJA.from_string(template).render(question="q")


def test_a_constant_sum_in_a_list_is_refused_when_read():
    from suite.sandbox import template_problem

    assert "beyond the largest float" in template_problem("{{ [1e308 + 1e308] ~ question }}")


def test_int_truncates_an_exponent_text_as_written():
    from suite.sandbox import JINJA

    rendered = JINJA.from_string('{{ "1e23"|int }} {{ "1e30"|int }} {{ "-2.5e1"|int }}').render()
    assert rendered == f"{10**23} {10**30} -25"


@pytest.mark.parametrize(
    "argv",
    [["train", "--only", "tokenizer", "tokenizer"],
     ["calibrate", "--n-sim", "1", "--claims", "1", "1"],
     ["quality", "--limit", "1", "--temperatures", "0.0", "-0"]],
    ids=["train-only", "calibrate-claims", "quality-signed-zero"],
)  # fmt: skip
def test_a_value_listed_twice_in_one_option_is_refused(argv, tmp_path, capsys):
    from suite.cli import main

    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "listed twice" in err and err.count("\n") == 1, err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("extra", "shown"),
    [(["--draft", "x"], "--draft"), (["--prompts", "3"], "--prompts"),
     (["--temperatures", "0"], "--temperatures")],
    ids=["draft", "prompts", "temperatures"],
)  # fmt: skip
def test_executor_compare_refuses_options_it_would_ignore(extra, shown, tmp_path, capsys):
    argv = ["bench", "--executor-compare", *extra, "--out", str(tmp_path / "out")]
    refused(argv, tmp_path, capsys, shown, "--executor-compare")


# --- the thirty-sixth attack: an abbreviated --bundle, a train recipe's roles and grad_clip ---


@pytest.mark.parametrize("argv", [["verify", "--bund", "DIR"], ["--bun=DIR", "verify"],
                                  ["verify", "--bundl", "DIR", "--bundle", "DIR"]],
                         ids=["abbreviated", "abbreviated-equals", "beside-the-full"])  # fmt: skip
def test_an_abbreviated_bundle_option_is_refused(argv, tmp_path, capsys, monkeypatch):
    """argparse took --bund for --bundle and its value went unread: the checkout's bundle was
    verified instead of the folder given."""
    from suite.cli import main

    monkeypatch.delenv("SUITE_BUNDLE", raising=False)
    argv = [str(tmp_path) if a == "DIR" else a.replace("DIR", str(tmp_path)) for a in argv]
    with pytest.raises(SystemExit) as exit_:
        main([*argv, "--hashes-only"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "write --bundle in full" in err, err


@pytest.mark.parametrize(
    ("edit", "field", "shown"),
    [(lambda r: r["models"].__setitem__("drfat", copy.deepcopy(r["models"]["target"])),
      "models.drfat", "unknown role"),
     (lambda r: r["models"].__setitem__("../../escape\u202e",
                                        copy.deepcopy(r["models"]["target"])),
      "models.../../escape", "unknown role"),
     (lambda r: r["models"]["target"]["train"].update(grad_clip=0), "grad_clip", "at least 1e-06")],
    ids=["misspelt-role", "path-role", "grad-clip-0"],
)  # fmt: skip
def test_a_train_recipe_part_no_run_would_use_is_refused(edit, field, shown, tmp_path, capsys,
                                                         monkeypatch):  # fmt: skip
    from tests.test_hostile_round18_tools import _train_recipe

    monkeypatch.setenv("SUITE_CHECKPOINT_DIR", str(tmp_path / "ckpt"))
    path = _train_recipe(tmp_path, edit)
    argv = ["train", "--recipe", path, "--out", str(tmp_path / "out")]
    refused(argv, tmp_path, capsys, "tiny.yaml", field, shown)


@pytest.mark.parametrize(
    "target", ["http://127.0.0.1:8000/x", "ftp://host/x", "file:///etc/passwd"]
)
def test_fetch_follows_redirects_to_https_only(target):
    """An entry's https URL redirected to plain http was fetched (the hash still held)."""
    import urllib.request

    from suite.fetch import _HttpsRedirectsOnly

    handler, request = _HttpsRedirectsOnly(), urllib.request.Request("https://example.org/a")
    with pytest.raises(ValueError, match="only https is followed"):
        handler.redirect_request(request, None, 302, "Found", {}, target)
    followed = handler.redirect_request(request, None, 302, "Found", {}, "https://example.org/b")
    assert followed.full_url == "https://example.org/b"  # the control


def test_a_fetch_refused_by_its_redirect_names_the_entrys_url(tmp_path):
    from suite.fetch import fetch_one

    def redirected(url, *args, **kwargs):
        raise ValueError("redirected to 'http://127.0.0.1/x': only https is followed")

    entry = {"path": "a.jsonl", "url": "https://example.org/a", "sha256": "0" * 64}
    with pytest.raises(SpecError, match="only https") as err:
        fetch_one(tmp_path / "data", entry, opener=redirected, index=3)
    assert err.value.field == "files[3].url" and not (tmp_path / "data").exists()


@pytest.mark.parametrize("executor", ["ray", "local"])
def test_an_empty_cluster_address_is_refused(executor, tmp_path, capsys):
    from suite.cli import main

    argv = ["run", "difficulty", "--profile", "smoke", "--executor", executor, "--address", "",
            "--out", str(tmp_path / "out")]  # fmt: skip
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "--address" in err and "empty" in err, err
    assert list(tmp_path.iterdir()) == []


def _level_half(records, header):
    """An analytic record at a 50 % level: its interval restated at that level agrees."""
    from suite.stats.intervals import restated_ratio_bootstrap

    record = _first(records, "analytic")
    result = record["result"]
    tokens = result["prompt_tokens"]
    accepted = [a * t for a, t in zip(result["prompt_acceptance"], tokens, strict=True)]
    interval, error = restated_ratio_bootstrap(
        accepted, tokens, seed=record["cell"]["seed"], n_boot=result["n_boot"], level=0.5
    )
    result.update(confidence_level=0.5, confidence_interval=list(interval), standard_error=error)


def _no_mean_length(records, header):
    record = _first(records, "empirical")
    record["result"]["mean_accepted_length"] = None
    for prompt in record["result"]["per_prompt"]:
        prompt["mean_accepted_length"] = None


def _prompts_of_another_split(records, header):
    record = _first(records, "analytic")
    record["prompt_ids"] = [f"train/{i}" for i in range(len(record["prompt_ids"]))]


@pytest.mark.parametrize(
    ("edit", "shown"),
    [(_level_half, "confidence_level"),
     (_no_mean_length, "mean_accepted_length"),
     (_prompts_of_another_split, "prompt_ids")],
    ids=["level-0.5", "no-mean-accepted-length", "prompts-of-another-split"],
)  # fmt: skip
def test_a_record_a_resume_would_not_keep_is_refused(edit, shown, difficulty, tmp_path, capsys):  # noqa: F811
    forged_report_refused(difficulty, tmp_path, capsys, edit, "cells.jsonl", shown)
