"""Inputs of the twelfth attack that were accepted, ended in a traceback or kept stale results:

* a recipe's ``tokenizer.copy_from`` whose ids run past its length (the models get
  ``len(tokenizer)`` logits) passed the recipe check, then ``train`` ended in an ``IndexError``
  with the copied tokenizer left in ``--out``;
* a resume under a profile naming another tokenizer (or target) folder kept the records made
  with the old one, since only the fingerprints of locations both runs name were compared.

(The sampler, record-timing, pickle-sniffer and ``submit`` clean-up cases of the same attack
are in ``test_hostile_round11.py``, ``test_hostile_results.py`` and
``test_hostile_submissions.py``.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from suite.cli import main
from suite.errors import SpecError
from suite.models import load_tokenizer
from tests.hostile import refused
from tests.test_hostile_round9 import RECIPES, _split
from tests.test_hostile_tokenizer_ids import LLAMA, _case


def _recipe_copying(tmp_path, tokenizer) -> str:
    text = (RECIPES / "t5.yaml").read_text()
    assert "copy_from: ../llama/tokenizer" in text
    recipe = tmp_path / "r.yaml"
    recipe.write_text(text.replace("copy_from: ../llama/tokenizer", f"copy_from: {tokenizer}"))
    return str(recipe)


def test_a_copied_tokenizer_with_ids_past_its_length_is_refused_with_the_recipe(tmp_path, capsys):
    tok = tmp_path / "tok"
    shutil.copytree(LLAMA / "tokenizer", tok)
    data = json.loads((tok / "tokenizer.json").read_text())
    vocab = data["model"]["vocab"]
    vocab["Ġthe"] = 60_000 + vocab["Ġthe"]  # len(tokenizer) unchanged, one id far past it
    (tok / "tokenizer.json").write_text(json.dumps(data))
    recipe = _recipe_copying(tmp_path, tok)
    argv = ["train", "--recipe", recipe, "--out", str(tmp_path / "out"), "--only", "tokenizer"]
    refused(argv, tmp_path, capsys, "tok/tokenizer.json", "model.vocab.Ġthe", "60")
    assert not (tmp_path / "out").exists()


def test_the_bundled_tokenizer_passes_as_a_recipe_copy(tmp_path):
    """The control: the bundled T5 recipe's own copy_from is read as before."""
    from suite.distill.pretrain import load_recipe

    assert load_recipe(_recipe_copying(tmp_path, LLAMA / "tokenizer"))["name"] == "t5"


def _profile_with(tmp_path, tokenizer, folder: str) -> str:
    """The case's profile ``p`` (one name: a resume keeps its records) naming ``tokenizer``."""
    old = f"tokenizer: {{path: {tmp_path / 'tok'}}}"
    text = (tmp_path / "p.yaml").read_text()
    assert old in text
    path = tmp_path / folder / "p.yaml"
    path.parent.mkdir()
    path.write_text(text.replace(old, f"tokenizer: {{path: {tokenizer}}}"))
    return str(path)


def test_a_resume_under_another_tokenizer_folder_recomputes(tmp_path, capsys):
    _profile, study = _case(tmp_path)  # tok: a copy of the bundled tokenizer
    out = str(tmp_path / "o")
    first = _profile_with(tmp_path, LLAMA / "tokenizer", "a")
    assert main(["run", str(study), "--profile", first, "--out", out, "--quiet"]) == 0
    assert main(["run", str(study), "--profile", first, "--out", out, "--quiet"]) == 0
    assert "1 already done, 0 run" in capsys.readouterr().out  # the control: the same profile
    moved = _profile_with(tmp_path, tmp_path / "tok", "b")
    assert main(["run", str(study), "--profile", moved, "--out", out, "--quiet"]) == 0
    assert "0 already done, 1 run" in capsys.readouterr().out
    record = json.loads((tmp_path / "o" / "cells.jsonl").read_text().splitlines()[0])
    assert record["provenance"]["models"]["tokenizer"]["location"] == str(tmp_path / "tok")


def test_a_copied_tokenizer_without_eos_or_pad_is_refused_with_the_recipe(tmp_path, capsys):
    """It ended ``train`` in a traceback (no EOS to end documents with) or in an error naming
    nothing (T5: no pad token to start the decoder from), the copy left in ``--out``."""
    for name in ("eos_token", "pad_token"):
        tok = tmp_path / name / "tok"
        shutil.copytree(LLAMA / "tokenizer", tok)
        config = json.loads((tok / "tokenizer_config.json").read_text())
        config[name] = None
        (tok / "tokenizer_config.json").write_text(json.dumps(config))
        recipe = _recipe_copying(tmp_path / name, tok)
        out = str(tmp_path / name / "out")
        argv = ["train", "--recipe", recipe, "--out", out, "--only", "tokenizer", "draft"]
        refused(argv, tmp_path, capsys, "tok/tokenizer_config.json", f"'{name}'")


def test_a_model_part_refused_after_the_tokenizer_part_writes_nothing(tmp_path, capsys):
    """A model's ``train`` section was read when its part ran, after ``--only tokenizer`` had
    copied the tokenizer into ``--out``."""
    text = (RECIPES / "t5.yaml").read_text()
    assert "warmup_steps: 200" in text
    recipe = tmp_path / "r.yaml"
    recipe.write_text(text.replace("warmup_steps: 200", "warmup_steps: 10000", 1))
    (tmp_path / "r.yaml").write_text(
        recipe.read_text().replace("../llama/tokenizer", str(LLAMA / "tokenizer"))
    )
    argv = ["train", "--recipe", str(recipe), "--out", str(tmp_path / "out"), "--only", "tokenizer"]
    refused(argv, tmp_path, capsys, "r.yaml", "train.warmup_steps", "10000")


def test_a_chat_template_that_raises_is_refused_before_the_first_cell(tmp_path, capsys):
    """A run of two studies stored the first study's records, then met the second family's
    template, which raises, at its first prompt."""
    profile, study = _case(tmp_path)
    config = json.loads((tmp_path / "tok" / "tokenizer_config.json").read_text())
    config["chat_template"] = '{{ raise_exception("boom") }}'
    (tmp_path / "tok" / "tokenizer_config.json").write_text(json.dumps(config))
    text = profile.read_text()
    good = text.replace(
        f"tokenizer: {{path: {tmp_path / 'tok'}}}", f"tokenizer: {{path: {LLAMA / 'tokenizer'}}}"
    )
    family = good[good.index("  llama:") : good.index("sizes:")]
    bad = family.replace("  llama:", "  other:").replace(
        str(LLAMA / "tokenizer"), str(tmp_path / "tok")
    )
    profile.write_text(good.replace("sizes:", bad + "sizes:"))
    second = tmp_path / "studies" / "s2.yaml"
    second.write_text(
        study.read_text().replace("name: s", "name: s2").replace("family: llama", "family: other")
    )
    argv = [
        "run",
        str(study),
        str(second),
        "--profile",
        str(profile),
        "--quiet",
        "--out",
        str(tmp_path / "o"),
    ]
    refused(argv, tmp_path, capsys, "tok", "chat_template", "boom")
    assert not (tmp_path / "o").exists()
    argv = ["run", str(study), "--profile", str(profile), "--quiet", "--out", str(tmp_path / "o")]
    assert main(argv) == 0  # the control: the first study alone runs


T5 = LLAMA.parent / "t5"


def test_an_encoder_decoder_draft_without_a_decoder_start_is_refused_at_load(tmp_path, capsys):
    """It failed at the first step with 'encoder-decoder model has no decoder_start_token_id in
    its configs', naming no file."""
    draft = tmp_path / "draft"
    shutil.copytree(T5 / "draft", draft)
    for name in ("config.json", "generation_config.json"):
        path = draft / name
        if path.is_file():
            config = json.loads(path.read_text())
            config.pop("decoder_start_token_id", None)
            path.write_text(json.dumps(config))
    argv = ["generate", "Janet sells eggs", "--target", str(T5 / "target"), "--draft", str(draft),
            "--tokenizer", str(LLAMA / "tokenizer"), "--max-new-tokens", "2"]  # fmt: skip
    refused(argv, tmp_path, capsys, "draft/config.json", "decoder_start_token_id", "None")
    argv[argv.index(str(draft))] = str(T5 / "draft")
    assert main(argv) == 0  # the control: the bundled T5 draft


def test_bench_refuses_an_encoder_decoder_pair_in_one_line(tmp_path, capsys):
    """transformers' own error, two lines and 3,000 characters naming no file."""
    argv = ["bench", "--target", str(T5 / "target"), "--draft", str(T5 / "draft"),
            "--out", str(tmp_path / "out"), "--prompts", "1", "--num-draft-tokens", "1",
            "--max-new-tokens", "2", "--temperatures", "0"]  # fmt: skip
    err = refused(argv, tmp_path, capsys, "config.json", "model_type", "'t5'", "decoder-only")
    assert len(err.strip().splitlines()) == 1


def test_generate_reads_a_tokenizer_config_strictly(tmp_path, capsys):
    """NaN in tokenizer_config.json was refused for a profile's tokenizer, read by ``generate``."""
    tok = tmp_path / "tok"
    shutil.copytree(LLAMA / "tokenizer", tok)
    text = (tok / "tokenizer_config.json").read_text().rstrip()
    (tok / "tokenizer_config.json").write_text(text[:-1] + ', "model_max_length": NaN}')
    argv = ["generate", "Janet sells eggs", "--target", str(LLAMA / "target"),
            "--draft", str(LLAMA / "draft"), "--tokenizer", str(tok),
            "--max-new-tokens", "2"]  # fmt: skip
    refused(argv, tmp_path, capsys, "tok/tokenizer_config.json", "NaN")


# --- round 13 -----------------------------------------------------------------------------------


def test_ignore_case_is_read_from_any_option_group():
    """``(?mi)`` turned ignore-case on in Oniguruma, but only ``(?i`` was looked for, so the
    folded forms (``ss`` of ``ß``) went unprobed."""
    from suite.tokenizer_probes import pattern_chars

    for pattern in ("(?mi)[^ß]ß+z", "(?xi)[^ß]ß+z", "a(?i:[^ß]ß+)z", "(?i)[^ß]ß+z"):
        assert {"ss", "s"} <= set(pattern_chars(pattern)), pattern
    assert "ss" not in pattern_chars("(?m)[^ß]ß+z")  # the control: case kept


def test_bounded_repeats_are_probed_with_their_units(tmp_path):
    """Three adjacent ``{1,64}`` repeats split a run 64³ ways (7 s on 8,192 characters of
    ``bc``); only repeats past 64 were given a unit."""
    from suite.tokenizer_probes import _repeat_units, _sre_parse

    assert "ab" in _repeat_units(_sre_parse.parse("(?:ab){1,2}c"))
    pattern = "[^xc]c" + "(?:[xb]c){1,64}" * 3 + "d"
    _case(tmp_path, _split(pattern))
    with pytest.raises(SpecError, match=r"on a run of [\d,]+ × '[xb]c'"):
        load_tokenizer(tmp_path / "tok")


def _stored(tmp_path):
    _profile, study = _case(tmp_path)
    profile = _profile_with(tmp_path, LLAMA / "tokenizer", "a")
    argv = ["run", str(study), "--profile", profile, "--out", str(tmp_path / "o"), "--quiet"]
    assert main(argv) == 0
    return argv, tmp_path / "o" / "cells.jsonl"


def test_a_resumed_record_naming_no_model_or_profile_is_recomputed(tmp_path, capsys):
    """A record whose provenance names no models, lacks the tokenizer, or names no profile was
    kept on resume under any profile and models."""
    for i, edit in enumerate(
        (
            lambda p: p.update(models={}),
            lambda p: p["models"].pop("tokenizer"),
            lambda p: p.update(profile=None),
        )
    ):
        argv, cells = _stored(tmp_path / str(i))
        record = json.loads(cells.read_text())
        record["timing"]["finished_at"] = "2000-01-01T00:00:00+00:00"  # a marker: not a run's
        edit(record["provenance"])
        cells.write_text(json.dumps(record) + "\n")
        capsys.readouterr()
        assert main(argv) == 0
        assert "0 already done, 1 run" in capsys.readouterr().out, i
        assert json.loads(cells.read_text())["timing"]["finished_at"] != "2000-01-01T00:00:00+00:00"
    assert main(argv) == 0
    assert "1 already done, 0 run" in capsys.readouterr().out  # the control: a record it made


def test_a_refused_prompt_leaves_one_line_on_stderr(tmp_path):
    """transformers' 'Token indices sequence length is longer ...' warning came first."""

    argv = [sys.executable, "-m", "suite", "generate", "word " * 3000,
            "--target", str(LLAMA / "target"), "--draft", str(LLAMA / "draft"),
            "--max-new-tokens", "2"]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if k != "TRANSFORMERS_VERBOSITY"}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "over 1,024" in lines[0], lines
