"""Inputs of the thirty-third attack and the last one's open findings: empirical prompts whose
counts agree with each other but that no decoder run can give. Each case failed on the commit
before its fix."""

from __future__ import annotations

import itertools
import json
import re

import pytest

from suite.decoding import speculative_generate
from suite.record_read import RecordError, _empirical_prompt, _Reader
from suite.studies import Cell
from tests.hostile import refused, stats_counts
from tests.models import tiny_llama
from tests.test_bench import bundle  # noqa: F401 (fixture)
from tests.test_hostile_inputs_more import REPO
from tests.test_hostile_round23 import _report_of, _training
from tests.test_submissions import scored, tiny  # noqa: F401 (fixtures)

MAX_NEW = 12
EOS = 3  # a token the tiny pair samples often: many outputs end on it mid-step


def _cell(k: int) -> Cell:
    return Cell("empirical", "llama", "alpaca", "test", "d", 1.0, k, 0, 1, MAX_NEW)


def _prompt_json(out, target_out) -> dict:
    """An empirical prompt as a run writes it (suite.record_json), from two decoder outputs."""
    st = out.stats

    def generation(o):
        return {"tokens": len(o.tokens), "finish_reason": o.finish_reason, "text": None}

    return {
        "id": "p0",
        "seed": 1,
        **stats_counts(st),
        "mean_accepted_length": 1 + st.accepted / st.steps,
        "identical": out.tokens == target_out.tokens,
        "speculative": generation(out),
        "target": generation(target_out),
    }


@pytest.fixture(scope="module")
def decoded():
    """Genuine prompts over temperatures, K and seeds, many ending on eos mid-step."""
    target = tiny_llama(vocab=8, seed=0, sharpness=2.0)
    draft = tiny_llama(vocab=8, seed=1, sharpness=2.0)
    out = []
    for k, tau, seed in itertools.product((1, 3, 5), (0.0, 0.7, 1.5), range(8)):
        common = {"temperature": tau, "max_new_tokens": MAX_NEW, "seed": seed, "eos_token_id": EOS}
        spec = speculative_generate(target, draft, [1, 2], num_draft_tokens=k, **common)
        base = speculative_generate(target, target, [1, 2], num_draft_tokens=1, **common)
        out.append((k, _prompt_json(spec, base)))
    return out


def _read(k: int, prompt: dict):
    return _empirical_prompt(_Reader(prompt, "per_prompt[0]"), _cell(k))


def test_every_genuine_prompt_is_read_and_the_grid_reaches_each_bound(decoded):
    """Controls: each genuine prompt is read; the grid has outputs ending on eos and on length,
    eos outputs cut inside their last step, and prompts at each new bound."""
    reasons = set()
    for k, p in decoded:
        _read(k, p)
        reasons.add(p["speculative"]["finish_reason"])
    assert reasons == {"eos", "length"}
    assert any(
        p["speculative"]["finish_reason"] == "eos"
        and p["speculative"]["tokens"] < p["accepted"] + p["steps"]
        for _, p in decoded
    )
    first = [p["proposed_per_position"][0] - p["accepted_per_position"][0] for _, p in decoded]
    assert any(p["judged"] == p["accepted"] + f for (_, p), f in zip(decoded, first, strict=True))
    assert any(p["steps"] == p["proposed_per_position"][0] + 1 for _, p in decoded)


def _forged(decoded, reason, edit):
    """The first genuine prompt ending on ``reason`` that ``edit`` changes, changed."""
    for k, p in decoded:
        if p["speculative"]["finish_reason"] == reason:
            forged = {**p, "speculative": dict(p["speculative"])}
            if edit(forged, k):
                return k, forged
    raise AssertionError(f"no genuine prompt ending on {reason} to forge")


def _fewer_accepted(p, n=1):
    """``n`` fewer accepted drafts, each at its deepest position, every rate restated."""
    ap = p["accepted_per_position"] = list(p["accepted_per_position"])
    for _ in range(n):
        deepest = max((i for i, a in enumerate(ap) if a), default=None)
        if deepest is None:
            return False
        ap[deepest] -= 1
        p["accepted"] -= 1
    p["acceptance_rate"] = p["accepted"] / p["proposed"]
    p["judged_acceptance_rate"] = p["accepted"] / p["judged"]
    p["mean_accepted_length"] = 1 + p["accepted"] / p["steps"]
    return True


def _one_less_accepted(p, k):  # an output ending on length longer than its steps kept
    return _fewer_accepted(p)


def _cut_past_a_step(p, k):  # an eos output cut further back than its last step
    emitted = p["accepted"] + p["steps"]
    p["speculative"]["tokens"] = emitted - k - 1
    p["identical"] = False
    return p["steps"] <= p["speculative"]["tokens"]


def _judged_too_few(p, k):  # a rejection at position 1 that was never judged
    low = p["accepted"] + p["proposed_per_position"][0] - p["accepted_per_position"][0]
    if low - 1 < max(p["accepted"], 1) or p["judged"] != low:
        return False
    p["judged"] = low - 1
    p["judged_acceptance_rate"] = p["accepted"] / p["judged"]
    return True


def _steps_without_drafts(p, k):  # two steps that drafted nothing: only the last one can
    more = 2 - (p["steps"] - p["proposed_per_position"][0])
    p["steps"] += more
    return _fewer_accepted(p, more)  # so that the output keeps its length


@pytest.mark.parametrize(
    ("reason", "edit", "field", "shown"),
    [
        ("length", _one_less_accepted, "speculative.tokens", "holds accepted + steps"),
        ("eos", _cut_past_a_step, "speculative.tokens", "last step's tokens"),
        ("eos", _judged_too_few, "judged", "rejections at position 1"),
        ("length", _steps_without_drafts, "steps", "one step more"),
    ],
)
def test_counts_no_decoder_run_gives_are_refused(decoded, reason, edit, field, shown):
    k, forged = _forged(decoded, reason, edit)
    with pytest.raises(RecordError, match=re.escape(shown)) as err:
        _read(k, forged)
    assert err.value.field == f"per_prompt[0].{field}", str(err.value)


def _recipe_in_records(data, folder):
    """The submission's records restated as a recipe's, submission.json's τ_kd dropped to
    match: every fact the report compared before agreed."""
    path = folder / "cells.jsonl"
    lines = []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        if record["cell"]["draft"] == data["draft"]:
            facts = record["cell"]["draft_facts"]
            facts.update(kd_temperature=None, kd_temperatures=[0.5, 1.0], recipe=True)
        lines.append(json.dumps(record))
    path.write_text("\n".join(lines) + "\n")
    data["training"]["kd_temperature"] = None
    for field in ("kd_temperatures", "recipe"):
        data["training"].pop(field, None)  # as submit wrote it before it stated them


@pytest.mark.parametrize(
    ("edit", "field", "shown"),
    [(_recipe_in_records, "training.kd_temperatures", "(0.5, 1.0)"),
     (_training(kd_temperatures=[0.5, 1.0]), "training.kd_temperatures", "(0.5,)"),
     (_training(recipe=True), "training.recipe", "False"),
     (_training(recipe="yes"), "training.recipe", "true or false"),
     (_training(kd_temperatures=[0.5, -1]), "training.kd_temperatures", "KD temperatures")],
    ids=["recipe-in-records", "more-kd-temperatures", "recipe", "recipe-text", "negative"],
)  # fmt: skip
def test_a_submission_json_states_its_drafts_recipe_facts(edit, field, shown, scored, tmp_path,  # noqa: F811
                                                          capsys):  # fmt: skip
    refused(_report_of(scored, tmp_path, edit), tmp_path, capsys, "submission.json", field, shown)


def test_submit_states_every_draft_fact_it_scored_with(scored):  # noqa: F811
    """The control: submit writes the recipe facts, and its folder is reported (round 23)."""
    out, _ = scored
    training = json.loads((out / "submission.json").read_text())["training"]
    assert (training["kd_temperatures"], training["recipe"]) == ([0.5], False)


# --- bench and verify: a bundle's manifest, its drafts' training.json, its unlisted folders ---


def _bench_refused(bundle, tmp_path, capsys, monkeypatch, *texts):  # noqa: F811
    from suite import bench_pairs
    from tests.test_bench import FAST

    monkeypatch.setattr(bench_pairs, "REFERENCE_FAMILY", bundle)
    argv = ["bench", "--out", str(tmp_path / "out"), *FAST, "--temperatures", "0"]
    argv += ["--num-draft-tokens", "1"]
    refused(argv, tmp_path, capsys, *texts)


def _rewrite(path, edit):
    """``path``'s JSON edited in place by ``edit``, or replaced by what it returns."""
    data = json.loads(path.read_text())
    replaced = edit(data)
    path.write_text(json.dumps(data if replaced is None else replaced))


def _no_kind(manifest):
    del manifest["artifacts"]["llama/kd-online-mix-s1"]["kind"]


@pytest.mark.parametrize(
    ("edit", "shown"),
    [(lambda m: [1], "(document)"),
     (lambda m: m["artifacts"]["llama/kd-online-mix-s1"]["acceptance"]["gsm8k"]["0.0"].update(
         alpha=7.5), "kd-online-mix-s1.acceptance"),
     (_no_kind, "kd-online-mix-s1")],
    ids=["a-list", "alpha-7.5", "no-kind"],
)  # fmt: skip
def test_bench_reads_the_manifest_as_verify_does(edit, shown, bundle, tmp_path, capsys,  # noqa: F811
                                                 monkeypatch):  # fmt: skip
    _rewrite(bundle.parent / "MANIFEST.json", edit)
    _bench_refused(bundle, tmp_path, capsys, monkeypatch, "MANIFEST.json", shown)


@pytest.mark.parametrize("base", ["../../elsewhere/draft", "/tmp", 7, "draft/../draft", ""])
def test_a_base_draft_outside_its_family_is_refused(base, bundle, tmp_path, capsys, monkeypatch):  # noqa: F811
    path = bundle / "kd-online-alpaca-t0.0-s2" / "training.json"  # the best KD draft's
    _rewrite(path, lambda facts: facts.update(base_draft=base))
    _bench_refused(bundle, tmp_path, capsys, monkeypatch, str(path), "base_draft", repr(base))


def test_a_draft_folder_that_is_a_link_is_refused(bundle, tmp_path, capsys, monkeypatch):  # noqa: F811
    import shutil

    outside = tmp_path / "outside"
    shutil.copytree(bundle / "kd-online-alpaca-t0.0-s2", outside)
    (bundle / "kd-online-zz-t0.0").symlink_to(outside, target_is_directory=True)
    _bench_refused(bundle, tmp_path, capsys, monkeypatch, "kd-online-zz-t0.0", "symbolic link")


def test_the_bundle_fixture_is_timed_as_it_was(bundle):  # noqa: F811
    """The control: the fixture's own manifest and facts still choose as before."""
    from suite import bench_drafts

    choice = bench_drafts.choose_drafts(bundle)
    assert (choice.base.name, choice.best_kd.name) == ("draft", "kd-online-alpaca-t0.0-s2")


@pytest.fixture
def linked_reference(tmp_path, monkeypatch):
    """The bundle's manifest beside hard links to its files: a copy verify can check quickly.
    ``--bundle`` sets $SUITE_BUNDLE for the process: restored after the test."""
    import os

    root = tmp_path / "ref"
    monkeypatch.setenv("SUITE_BUNDLE", str(root))
    for source in sorted((REPO / "reference").rglob("*")):
        target = root / source.relative_to(REPO / "reference")
        if source.is_dir():
            target.mkdir(parents=True, exist_ok=True)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(source, target)
    return root


@pytest.mark.parametrize(
    ("make", "shown"),
    [(lambda r: (r / "llama" / "zz-unlisted").mkdir(), "llama/zz-unlisted: a folder"),
     (lambda r: (r / "llama" / "notes.txt").write_text("hi"), "llama/notes.txt: a file"),
     (lambda r: (r / "stray.bin").write_bytes(b"x"), "stray.bin: a file"),
     (lambda r: (r / "t5" / "sub").mkdir(), "t5/sub: a folder")],
    ids=["draft-folder", "family-file", "root-file", "empty-folder"],
)  # fmt: skip
def test_verify_names_what_a_bundle_holds_beyond_its_manifest(make, shown, linked_reference,
                                                              capsys):  # fmt: skip
    from suite.cli import main

    make(linked_reference)
    assert main(["verify", "--hashes-only", "--bundle", str(linked_reference)]) == 1
    out = capsys.readouterr()
    assert shown in out.out + out.err and "1 problem" in out.out + out.err, out


def test_verify_passes_the_bundle_and_refuses_an_alpha_it_cannot_hold(linked_reference, tmp_path,
                                                                      capsys):  # fmt: skip
    """The control (the bundle as shipped: no problem), then an α̂ of 7.5 refused."""
    from suite.cli import main

    assert main(["verify", "--hashes-only", "--bundle", str(linked_reference)]) == 0
    assert "0 problems" in capsys.readouterr().out

    def edit(m):
        m["artifacts"]["llama/draft"]["acceptance"]["alpaca"]["0.0"]["alpha"] = 7.5

    manifest = linked_reference / "MANIFEST.json"
    manifest.unlink()  # a hard link to the checkout's: replaced, not edited
    _rewrite_from = json.loads((REPO / "reference" / "MANIFEST.json").read_text())
    edit(_rewrite_from)
    manifest.write_text(json.dumps(_rewrite_from))
    argv = ["verify", "--hashes-only", "--bundle", str(linked_reference)]
    refused(argv, tmp_path, capsys, "MANIFEST.json", "llama/draft.acceptance")


# --- studies, task templates and run options ---


def _grid_with(**over):
    from tests.test_studies import _study

    study = _study()
    study["grid"] = study["grid"] | over
    return study


def _study_with(**over):
    from tests.test_studies import _study

    return _study(**over)


STUDIES = [
    ("misspelt-profile", lambda: _study_with(profiles={"smok": {"grid": {"decode_temperatures":
     [0.5]}}}), "profiles.smok", "unknown profile"),
    ("cased-profile", lambda: _study_with(profiles={"smoke": {}, "Smoke": {}}), "profiles.Smoke",
     "unknown profile"),
    ("empirical-of-analytic", lambda: _study_with(empirical={"datasets": ["alpaca"]}), "empirical",
     "['analytic']"),
    ("profile-empirical-of-analytic", lambda: _study_with(profiles={"smoke": {"empirical":
     {"datasets": ["alpaca"]}}}), "profiles.smoke.empirical", "['analytic']"),
    ("kd-temperature-twice", lambda: _grid_with(drafts=[{"method": "offline", "dataset": "alpaca",
     "kd_temperature": [0.0, 0.0]}]), "grid.drafts[0].kd_temperature[1]", "listed twice"),
    ("kd-temperature-signed-zero", lambda: _grid_with(drafts=[{"method": "offline", "dataset":
     "alpaca", "kd_temperature": [0.0, -0.0]}]), "grid.drafts[0].kd_temperature[1]",
     "listed twice"),
    ("kd-temperature-int-and-float", lambda: _grid_with(drafts=[{"method": "offline", "dataset":
     "alpaca", "kd_temperature": [1, 1.0]}]), "grid.drafts[0].kd_temperature[1]", "listed twice"),
]  # fmt: skip


@pytest.mark.parametrize(("make", "field", "shown"), [c[1:] for c in STUDIES],
                         ids=[c[0] for c in STUDIES])  # fmt: skip
def test_a_study_part_no_run_would_apply_is_refused(make, field, shown, tmp_path, capsys):
    import yaml

    path = tmp_path / "mini.yaml"
    path.write_text(yaml.safe_dump(make(), sort_keys=False))
    argv = ["run", str(path), "--profile", "smoke", "--out", str(tmp_path / "out")]
    refused(argv, tmp_path, capsys, "mini.yaml", field, shown)


def test_a_study_overriding_a_suite_profile_and_listing_distinct_temperatures_loads(tmp_path):
    """The controls: every bundled study loads; an override for each suite profile, an
    empirical section of a study that runs it, and distinct τ_kd are read."""
    import yaml

    from suite.profiles import profile_names
    from suite.studies import load_studies, load_study

    assert len(load_studies(["all"])) >= 8
    study = _grid_with(drafts=[{"method": "offline", "dataset": "alpaca",
                                "kd_temperature": [0.0, 1.0]}])  # fmt: skip
    study |= {"engines": ["analytic", "empirical"], "empirical": {"datasets": ["alpaca"]}}
    study["profiles"] = {name: {"empirical": {"decode_temperatures": [0.5]}}
                         for name in profile_names()}  # fmt: skip
    path = tmp_path / "mini.yaml"
    path.write_text(yaml.safe_dump(study, sort_keys=False))
    assert set(load_study(path).profiles) == set(profile_names())


def test_an_engine_listed_twice_is_refused(tmp_path, capsys):
    import yaml

    from suite.cli import main

    path = tmp_path / "mini.yaml"
    path.write_text(yaml.safe_dump(_study_with(), sort_keys=False))
    argv = ["run", str(path), "--profile", "smoke", "--out", str(tmp_path / "out")]
    with pytest.raises(SystemExit) as exit_:  # refused as the command line is read
        main([*argv, "--engine", "analytic", "analytic"])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "--engine 'analytic': listed twice" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mini.yaml"]


@pytest.mark.parametrize(
    ("template", "shown"),
    [("{% if 1e-400 == 0 %}ZERO{% endif %}{{ question }}", "would read as 0"),
     ("{{ 1e400 }}{{ question }}", "would read as inf"),
     ("{{ question }}{{ 0.000_1e-400 }}", "would read as 0")],
    ids=["underflow-in-if", "overflow", "underscored"],
)  # fmt: skip
def test_a_template_number_a_float_cannot_hold_is_refused(template, shown, tmp_path, capsys):
    from tests.test_hostile_specs import _folder, _with

    folder = _folder(tmp_path, _with("instruction", template))
    refused(["tasks", "--tasks-dir", str(folder)], tmp_path, capsys, "toy.yaml", "instruction",
            shown)  # fmt: skip


def test_template_numbers_a_float_holds_are_rendered(tmp_path, capsys):
    """The control: 0.0, 1e-300 and 2.5e10 are numbers as written; the spec is listed."""
    from suite.cli import main
    from suite.sandbox import JINJA, template_problem
    from tests.test_hostile_specs import _folder, _with

    template = "{{ 0.0 }} {{ 1e-300 > 0 }} {{ 2.5e10 }} {{ question }}"
    assert template_problem(template) is None
    assert JINJA.from_string(template).render(question="q") == "0.0 True 25000000000.0 q"
    folder = _folder(tmp_path, _with("instruction", template))
    assert main(["tasks", "--tasks-dir", str(folder)]) == 0
    assert "toy" in capsys.readouterr().out


# --- submissions: a config's label table ---


@pytest.mark.parametrize(
    ("key", "value", "shown"),
    [("num_labels", 10**7, "10000000"),
     ("num_labels", -1, "-1"),
     ("id2label", {str(i): f"L{i}" for i in range(2000)}, "2,000 labels")],
    ids=["ten-million", "negative", "id2label-2000"],
)  # fmt: skip
def test_a_config_whose_label_table_is_unbounded_is_refused(key, value, shown, tiny, tmp_path,  # noqa: F811
                                                            capsys):  # fmt: skip
    """transformers builds id2label and label2id of num_labels entries, each time a config is
    built: ten million took minutes and gigabytes before the check refused it."""
    from tests.test_hostile_round18_submissions import _check
    from tests.test_submissions import _copy

    folder = _copy(tiny, tmp_path)
    path = folder / "model" / "config.json"
    data = json.loads(path.read_text())
    data[key] = value
    path.write_text(json.dumps(data))
    refused(_check(folder, tiny), tmp_path, capsys, "config.json", key, shown, "labels")


def test_a_config_of_a_few_labels_is_checked(tiny, tmp_path, capsys):  # noqa: F811
    """The control: num_labels 3 passes the check."""
    from suite.cli import main
    from tests.test_hostile_round18_submissions import _check
    from tests.test_submissions import _copy

    folder = _copy(tiny, tmp_path)
    path = folder / "model" / "config.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | {"num_labels": 3}))
    assert main(_check(folder, tiny)) == 0, capsys.readouterr().err
