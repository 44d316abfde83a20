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
import shutil

from suite.cli import main
from tests.hostile import refused
from tests.test_hostile_round9 import RECIPES
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
