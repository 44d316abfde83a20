"""Inputs that ran without bound or printed what they should not, each bounded or refused now,
naming the file, the field and the value:

* ``verify`` hashed every file of a bundle folder in full, a 100 GB sparse one that the manifest
  does not even list included;
* a pretraining recipe's ``tokenizer.vocab_size`` or model sizes asked the tokenizer trainer or
  torch for tens of GB (a Rust abort, a traceback) and left an empty ``--out``;
* ``train --only target`` before the tokenizer was built gave a Hub message naming no field;
* ``generate`` printed ``NaN``, which is not JSON, in its statistics line."""

from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

import pytest
import yaml

from suite import bundle
from suite.cli import main
from tests.hostile import refused

LLAMA_RECIPE = Path(__file__).parent.parent / "reference" / "recipes" / "llama.yaml"
T5_RECIPE = LLAMA_RECIPE.parent / "t5.yaml"
HUGE = 5 << 30  # over the 2 GiB file and 4 GiB bundle caps; sparse, so it takes no room


@pytest.fixture(autouse=True)
def _own_bundle_variable(monkeypatch):
    """``--bundle`` sets $SUITE_BUNDLE in this process: put it back after each test."""
    monkeypatch.setenv("SUITE_BUNDLE", "unset-by-the-test")
    monkeypatch.delenv("SUITE_BUNDLE")


# --- verify: names first, a size cap before hashing ---------------------------------------------


def _bundle(tmp_path, files: dict[str, str], sizes: dict[str, int]) -> Path:
    """A one-artifact bundle listing ``files`` (name to sha256) and holding ``sizes`` (sparse)."""
    root = tmp_path / "bundle"
    folder = root / "x" / "draft"
    folder.mkdir(parents=True)
    for name, size in sizes.items():
        with open(folder / name, "wb") as fh:
            fh.truncate(size)
    manifest = {"artifacts": {"x/draft": {"kind": "draft", "path": "x/draft", "files": files}}}
    (root / "MANIFEST.json").write_text(json.dumps(manifest))
    return root


def _verify(root: Path, capsys) -> tuple[int, str]:
    status = main(["--bundle", str(root), "verify", "--hashes-only"])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return status, out.out + out.err


def test_verify_refuses_an_unlisted_huge_file_unread(tmp_path, capsys):
    status, text = _verify(_bundle(tmp_path, {}, {"big.bin": HUGE}), capsys)
    assert status == 1 and "big.bin" in text, text
    assert f"{HUGE:,} bytes, over the 2,147,483,648 a bundle file may hold" in text


def test_verify_refuses_a_listed_huge_file_unread(tmp_path, capsys):
    status, text = _verify(_bundle(tmp_path, {"big.bin": "0" * 64}, {"big.bin": HUGE}), capsys)
    assert status == 1 and "over the 4,294,967,296 a bundle may hold; none hashed" in text, text


def test_verify_refuses_many_listed_files_over_the_bundle_cap_unread(tmp_path, capsys, monkeypatch):
    """Each under the file cap, together over the bundle's: 64 such files took 27 minutes."""
    sizes = {f"part{i}.bin": (2 << 30) - 1 for i in range(3)}
    root = _bundle(tmp_path, dict.fromkeys(sizes, "0" * 64), sizes)
    hashed = []
    monkeypatch.setattr(bundle, "sha256_file", lambda p: hashed.append(p) or "0" * 64)
    status, text = _verify(root, capsys)
    assert status == 1 and "6,442,450,941 bytes" in text and hashed == [], text


def test_verify_reports_an_unlisted_file_without_hashing_it(tmp_path, capsys, monkeypatch):
    digest = hashlib.sha256(b"\0" * 10).hexdigest()
    root = _bundle(tmp_path, {"config.json": digest}, {"config.json": 10, "extra.bin": 10})
    hashed = []
    real = bundle.sha256_file
    monkeypatch.setattr(bundle, "sha256_file", lambda p: hashed.append(p.name) or real(p))
    status, text = _verify(root, capsys)
    assert status == 1 and "file extra.bin is not listed in the manifest" in text, text
    assert hashed == ["config.json"]  # the listed file is hashed (and matches), the other is not
    assert "sha256" not in text


def test_verify_passes_a_sound_bundle(tmp_path, capsys):
    digest = hashlib.sha256(b"\0" * 10).hexdigest()
    status, text = _verify(_bundle(tmp_path, {"config.json": digest}, {"config.json": 10}), capsys)
    assert status == 0 and "1 artifacts, 0 problems" in text, text


# --- pretraining recipes: sizes typed and bounded -----------------------------------------------


def _recipe(tmp_path, source: Path, edit) -> Path:
    recipe = yaml.safe_load(source.read_text())
    edit(recipe)
    if "copy_from" in recipe["tokenizer"]:  # relative to the recipe file: keep it pointing home
        recipe["tokenizer"]["copy_from"] = str(source.parent / recipe["tokenizer"]["copy_from"])
    path = tmp_path / source.name
    path.write_text(yaml.safe_dump(recipe))
    return path


def _set(*keys_value):
    *keys, value = keys_value

    def edit(recipe):
        node = recipe
        for key in keys[:-1]:
            node = node[key]
        node[keys[-1]] = value

    return edit


def _target(key, value):
    return _set("models", "target", "config", key, value)


LLAMA_CASES = [
    (_set("tokenizer", "vocab_size", 1_000_000_000), "tokenizer.vocab_size", "1000000000"),
    (_set("tokenizer", "vocab_size", 4096.5), "tokenizer.vocab_size", "4096.5"),
    (_set("tokenizer", "vocab_size", "4096"), "tokenizer.vocab_size", "'4096'"),
    (_set("tokenizer", "vocab_size", 10), "tokenizer.vocab_size", "from 258 to 262,144"),
    (_set("tokenizer", "min_frequency", -1), "tokenizer.min_frequency", "-1"),
    (_set("tokenizer", "limit", 3), "tokenizer.limit", "known fields"),
    (_target("hidden_size", 1_048_576), "models.target.config.hidden_size", "1048576"),
    (_target("num_hidden_layers", True), "models.target.config.num_hidden_layers", "True"),
    (_target("num_hidden_layers", 0), "models.target.config.num_hidden_layers", "0"),
    (_target("vocab_size", 50), "models.target.config.vocab_size", "set from the tokenizer"),
    (_set("models", "target", "config", None), "models.target.config", "expected a mapping"),
    (_set("models", "draft", "config", {}), "models.draft.config", "parameters, over the"),
    (_target("num_key_value_heads", 3), "models.target.config.num_key_value_heads", "divide"),
    (_target("hidden_size", 250), "models.target.config.hidden_size", "multiple of"),
    (
        _target("attn_implementation", "kernels-community/flash-attn"),
        "models.target.config.attn_implementation",
        "kernels-community",
    ),
    (_target("auto_map", {"AutoModel": "x.Y"}), "models.target.config.auto_map", "remote code"),
]
HUGE_TOGETHER = {"hidden_size": 32768, "intermediate_size": 131072, "num_hidden_layers": 4}


@pytest.mark.parametrize(("edit", "field", "value"), LLAMA_CASES)
def test_a_pretraining_recipes_sizes_are_bounded(tmp_path, capsys, edit, field, value):
    recipe = _recipe(tmp_path, LLAMA_RECIPE, edit)
    argv = ["train", "--recipe", str(recipe), "--only", "tokenizer", "--out", str(tmp_path / "o")]
    refused(argv, tmp_path, capsys, recipe.name, field, value)


def test_sizes_each_in_range_are_bounded_together(tmp_path, capsys):
    def edit(recipe):
        recipe["models"]["target"]["config"] |= HUGE_TOGETHER

    recipe = _recipe(tmp_path, LLAMA_RECIPE, edit)
    argv = ["train", "--recipe", str(recipe), "--only", "tokenizer", "--out", str(tmp_path / "o")]
    refused(argv, tmp_path, capsys, "models.target.config", "over the 2,000,000,000")


@pytest.mark.parametrize(
    ("changes", "field", "expected"),
    [
        ({"d_model": 1 << 20}, "models.target.config.d_model", "1048576"),
        ({"num_layers": 1.5}, "models.target.config.num_layers", "1.5"),
        ({"d_kv": -4}, "models.target.config.d_kv", "-4"),
        ({"d_model": 8192, "d_ff": 131072, "num_layers": 24}, "models.target.config", "over the"),
    ],
)
def test_a_t5_recipes_sizes_are_bounded(tmp_path, capsys, changes, field, expected):
    def edit(recipe):
        recipe["models"]["target"]["config"] |= changes

    recipe = _recipe(tmp_path, T5_RECIPE, edit)
    argv = ["train", "--recipe", str(recipe), "--only", "tokenizer", "--out", str(tmp_path / "o")]
    refused(argv, tmp_path, capsys, recipe.name, field, expected)


@pytest.mark.parametrize("source", [LLAMA_RECIPE, T5_RECIPE])
def test_the_bundled_recipes_load(tmp_path, source):
    from suite.distill.pretrain import load_recipe

    assert load_recipe(source)["models"]["target"]["config"]
    assert load_recipe(_recipe(tmp_path, source, lambda r: None))["tokenizer"]


def test_only_target_needs_the_tokenizer_built_first(tmp_path, capsys):
    out = tmp_path / "o"
    argv = ["train", "--recipe", str(LLAMA_RECIPE), "--only", "target", "--out", str(out)]
    refused(argv, tmp_path, capsys, "--out", str(out), "--only target needs the tokenizer built")
    assert not out.exists()


def test_only_tokenizer_then_target_passes_the_check(tmp_path):
    from suite.distill.pretrain import check_parts

    check_parts(["tokenizer", "target"], tmp_path / "o")  # built by the earlier part
    (tmp_path / "o" / "tokenizer").mkdir(parents=True)
    (tmp_path / "o" / "tokenizer" / "tokenizer.json").write_text("{}")
    check_parts(["target", "draft"], tmp_path / "o")  # built already


# --- generate: its statistics line is JSON ------------------------------------------------------


def test_generate_writes_its_statistics_as_json(capsys):
    llama = Path(__file__).parent.parent / "reference" / "llama"
    argv = ["generate", "Janet sells eggs", "--target", str(llama / "target")]
    argv += ["--draft", str(llama / "draft"), "--max-new-tokens", "3", "--num-draft-tokens", "4"]
    assert main(argv) == 0
    line = capsys.readouterr().err.strip().splitlines()[-1]
    stats = json.loads(line, parse_constant=lambda name: pytest.fail(f"{name} in {line}"))
    assert stats["finish_reason"] and "position_acceptance" in stats


def test_non_finite_numbers_are_written_as_null():
    from suite.jsonable import finite_or_null

    value = {"a": [1.0, math.nan, (math.inf, -math.inf)], "b": {"c": 0.5, "d": "NaN"}, "e": 3}
    assert finite_or_null(value) == {"a": [1.0, None, [None, None]], "b": value["b"], "e": 3}
    assert os.linesep not in json.dumps(finite_or_null(value), allow_nan=False)
