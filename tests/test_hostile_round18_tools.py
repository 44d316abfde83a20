"""Inputs of the eighteenth attack on the tools: a train block longer than the corpus, unchecked
pretraining eval fields and model config keys, a training loss that turns NaN, a checkpoint's
untyped ``state.json``, a download shorter than its Content-Length, manifest file names and
τ_dec keys that are not names or numbers, a KD recipe whose model folders collide with its own
drafts, KD lengths past the decode ceiling or the target's positions, and align settings refused
only after pretraining. Each case failed on the commit before its fix."""

from __future__ import annotations

import copy
import http.client
import io
import json
import math
import shutil

import pytest
import yaml

from suite.cli import main
from suite.errors import SpecError
from tests.hostile import refused, snapshot
from tests.test_hostile_inputs_more import REPO

RECIPES = REPO / "reference" / "recipes"
TOKENIZER = REPO / "reference" / "llama" / "tokenizer"
TRAIN = {"max_steps": 2, "lr": 1.0e-3, "min_lr": 1.0e-4, "warmup_steps": 0, "batch_size": 2,
         "block_size": 16}  # fmt: skip
CONFIG = {"hidden_size": 8, "intermediate_size": 8, "num_hidden_layers": 1,
          "num_attention_heads": 1, "num_key_value_heads": 1,
          "max_position_embeddings": 64}  # fmt: skip
TINY = {
    "name": "tiny",
    "seed": 0,
    "datasets": ["gsm8k"],
    "eval_examples": 2,
    "tokenizer": {"copy_from": str(TOKENIZER)},
    "models": {"target": {"config": CONFIG, "train": TRAIN}},
}
ALIGN = {"from": "tiny-pre", "rounds": 1, "prompts_per_dataset": 2, "max_prompt_tokens": 192,
         "samples_per_prompt": 1, "temperature": 0.5, "max_new_tokens": 2, "batch_size": 2,
         "chunk_size": 2, "eval_prompts": 1,
         "train": {"max_steps": 1, "lr": 1.0e-4, "min_lr": 1.0e-5, "warmup_steps": 0,
                   "batch_size": 1}}  # fmt: skip


def _train_recipe(tmp_path, edit=None) -> str:
    recipe = copy.deepcopy(TINY)
    if edit is not None:
        edit(recipe)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return str(path)


@pytest.fixture
def built(tmp_path, monkeypatch):
    """An --out whose tokenizer is built; checkpoints under tmp_path."""
    monkeypatch.setenv("SUITE_CHECKPOINT_DIR", str(tmp_path / "ckpt"))
    out = tmp_path / "out"
    shutil.copytree(TOKENIZER, out / "tokenizer")
    return out


def _target(**over):
    return lambda r: r["models"]["target"].update(over)


def _train(**over):
    return lambda r: r["models"]["target"]["train"].update(over)


def _config(**over):
    return lambda r: r["models"]["target"]["config"].update(over)


# 1. a block longer than the corpus: ZeroDivisionError at the first step, an empty checkpoint
def test_a_block_longer_than_the_corpus_is_refused_before_training(tmp_path, capsys, built):
    path = _train_recipe(tmp_path, _train(block_size=10_000_000))
    argv = ["train", "--recipe", path, "--out", str(built), "--only", "target"]
    refused(argv, tmp_path, capsys, "tiny.yaml", "models.target.train.block_size", "positions")
    assert not (tmp_path / "ckpt").exists()


def test_a_block_too_long_is_refused_before_pretraining_a_tokenizer_built_with_it(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("SUITE_CHECKPOINT_DIR", str(tmp_path / "ckpt"))
    path = _train_recipe(tmp_path, _train(block_size=10_000_000))
    argv = ["train", "--recipe", path, "--out", str(tmp_path / "out"), "--only", "tokenizer",
            "target"]  # fmt: skip
    assert main(argv) == 2
    assert "models.target.train.block_size" in capsys.readouterr().err
    assert not (tmp_path / "ckpt").exists() and not (tmp_path / "out" / "target").exists()


# 2. eval_examples and eval_every: TypeErrors after training
@pytest.mark.parametrize(
    ("edit", "field"),
    [(lambda r: r.update(eval_examples="x"), "eval_examples"),
     (lambda r: r.update(eval_examples=-5), "eval_examples"),
     (lambda r: r.update(eval_examples=10**10), "eval_examples"),
     (_target(eval_every="y"), "models.target.eval_every"),
     (_target(eval_every=0.5), "models.target.eval_every"),
     (_target(eval_evry=5), "models.target.eval_evry")],
    ids=["examples-text", "examples-negative", "examples-huge", "every-text", "every-half",
         "every-typo"],
)  # fmt: skip
def test_pretraining_eval_fields_are_read_with_the_recipe(tmp_path, capsys, edit, field):
    path = _train_recipe(tmp_path, edit)
    argv = ["train", "--recipe", path, "--out", str(tmp_path / "out"), "--only", "tokenizer"]
    refused(argv, tmp_path, capsys, "tiny.yaml", field)
    assert not (tmp_path / "out").exists()


def test_eval_every_zero_turns_the_held_out_loss_off(tmp_path):
    from suite.distill.pretrain import load_recipe

    assert load_recipe(_train_recipe(tmp_path, _target(eval_every=0)))["models"]


# 5. the rest of a model's config: tracebacks mid-train, or a NaN model written
@pytest.mark.parametrize(
    ("key", "value", "shown"),
    [("hidden_act", "bogus", "activation"),
     ("return_dict", False, "what forward returns"),
     ("output_hidden_states", True, "what forward returns"),
     ("rms_norm_eps", float("nan"), "epsilon"),
     ("initializer_range", 1e300, "initializer"),
     ("attention_dropout", float("inf"), "dropout"),
     ("num_hiden_layers", 2, "known"),
     ("dtype", "float16", "known")],
    ids=["act", "return-dict", "hidden-states", "eps-nan", "init-huge", "dropout-inf", "typo",
         "dtype"],
)  # fmt: skip
def test_a_model_config_is_checked_whole_with_the_recipe(tmp_path, capsys, key, value, shown):
    path = _train_recipe(tmp_path, _config(**{key: value}))
    argv = ["train", "--recipe", path, "--out", str(tmp_path / "out"), "--only", "tokenizer"]
    refused(argv, tmp_path, capsys, "tiny.yaml", f"models.target.config.{key}", shown)


def test_the_bundled_recipes_configs_pass():
    from suite.distill.pretrain import load_recipe

    for name in ("llama.yaml", "t5.yaml"):
        assert load_recipe(RECIPES / name)["models"]


def test_a_training_loss_that_turns_nan_is_refused_not_saved(tmp_path, capsys, built, monkeypatch):
    from suite.distill import pretrain

    real = pretrain.lm_loss
    monkeypatch.setattr(pretrain, "lm_loss", lambda model, batch: real(model, batch) * math.nan)
    path = _train_recipe(tmp_path)
    before = snapshot(tmp_path)
    assert main(["train", "--recipe", path, "--out", str(built), "--only", "target"]) == 2
    err = capsys.readouterr().err  # the progress bar, then the error's one line
    assert "Traceback" not in err and err.endswith("\n")
    last = err.splitlines()[-1]
    for text in ("error: ", "tiny.yaml", "models.target.train", "NaN", "step 1"):
        assert text in last, last
    assert snapshot(tmp_path) == before  # no checkpoint, no model


# 6. a checkpoint's state.json, typed
@pytest.mark.parametrize(
    ("state", "field"),
    [({"step": 1, "seconds": 0.0, "losses": "abc"}, "losses"),
     ({}, "step"),
     ({"step": 1, "seconds": 0.0, "losses": [1.0, 2.0]}, "losses"),
     ({"step": 99, "seconds": 0.0, "losses": [1.0] * 99}, "step"),
     ({"step": True, "seconds": 0.0, "losses": [1.0]}, "step"),
     ({"step": 1, "seconds": -1.0, "losses": [1.0]}, "seconds"),
     ({"step": 1, "seconds": 0.0, "losses": ["1"]}, "losses"),
     ({"step": 1, "seconds": 0.0, "losses": [1.0], "extra": 1}, "extra"),
     ({"step": 1, "seconds": 0.0, "losses": [1.0], "scaler": "x"}, "scaler")],
    ids=["losses-text", "empty", "losses-long", "step-past-end", "step-bool", "seconds-negative",
         "loss-text", "unknown", "scaler-text"],
)  # fmt: skip
def test_a_checkpoint_state_is_read_typed(tmp_path, state, field):
    from suite.distill.loop import TrainConfig, train
    from suite.distill.pretrain import lm_loss
    from tests.models import tiny_llama

    cfg = TrainConfig(max_steps=2, lr=1e-2, min_lr=1e-3, warmup_steps=0, batch_size=2)
    batch = __import__("torch").randint(0, 8, (2, 5))
    train(tiny_llama(), cfg, lambda s: batch, lm_loss, tmp_path / "ck", desc="t", stop_at=1)
    (tmp_path / "ck" / "state.json").write_text(json.dumps(state))
    with pytest.raises(SpecError) as err:
        train(tiny_llama(), cfg, lambda s: batch, lm_loss, tmp_path / "ck", desc="t")
    assert err.value.field == field, str(err.value)
    assert "state.json" in str(err.value) and "delete" in str(err.value)


# 8. a body shorter than its Content-Length
class _Socket:
    def __init__(self, raw: bytes):
        self.raw = raw

    def makefile(self, mode):
        return io.BytesIO(self.raw)


def _opener(body: bytes, length: int):
    def opener(url, timeout):
        head = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % length
        response = http.client.HTTPResponse(_Socket(head + body))
        response.begin()
        return response

    return opener


@pytest.mark.parametrize(("body", "length"), [(b"hello world\n", 1000), (b"", 12)],
                         ids=["cut", "no-body"])  # fmt: skip
def test_a_download_shorter_than_its_content_length_is_incomplete(tmp_path, body, length):
    import hashlib

    from suite.fetch import fetch_one

    digest = hashlib.sha256(body).hexdigest()
    entry = {"path": "d/a.txt", "url": "https://example.org/a", "sha256": digest}
    with pytest.raises(SpecError, match="incomplete") as err:
        fetch_one(tmp_path / "dest", entry, _opener(body, length), tmp_path / "s.yaml", 0)
    assert err.value.field == "files[0].url"
    assert not (tmp_path / "dest").exists()
    full = _opener(b"hello world\n", 12)  # the control: a whole body
    entry["sha256"] = hashlib.sha256(b"hello world\n").hexdigest()
    assert fetch_one(tmp_path / "dest", entry, full, tmp_path / "s.yaml", 0)


# 9. a manifest file name that is no file name
@pytest.mark.parametrize("name", ["y\x00z", "a\\b", "", "x\x1b[2J"],
                         ids=["nul", "backslash", "empty", "escape"])  # fmt: skip
def test_verify_refuses_a_manifest_file_name_naming_it(tmp_path, capsys, name):
    bundle = tmp_path / "b"
    (bundle / "fam" / "art").mkdir(parents=True)
    (bundle / "fam" / "art" / "x.txt").write_text("hi\n")
    digest = "0" * 64
    manifest = {"artifacts": {"a": {"kind": "target", "path": "fam/art",
                                    "files": {"x.txt": digest, name: digest}}}}  # fmt: skip
    (bundle / "MANIFEST.json").write_text(json.dumps(manifest))
    argv = ["verify", "--hashes-only", "--reference", str(bundle)]
    refused(argv, tmp_path, capsys, "MANIFEST.json", "artifacts.a.files")


# 10. τ_dec keys of the acceptance tables
@pytest.mark.parametrize(
    "key", ["abc", "nan", "1e999", "\u0661", "-1.0", "101.0", "0.0001"],
    ids=["text", "nan", "inf", "arabic", "negative", "huge", "tiny"],
)  # fmt: skip
def test_bundle_tables_refuses_a_tau_dec_that_is_not_a_temperature(tmp_path, capsys, key):
    bundle = tmp_path / "b"
    bundle.mkdir()
    entry = {"kind": "draft", "path": "fam/kd-x", "files": {"x": "0" * 64}, "method": "offline",
             "kd_temperature": 0.5, "acceptance": {"gsm8k": {key: {"alpha": 0.5},
                                                             "1.0": {"alpha": 0.4}}}}  # fmt: skip
    (bundle / "MANIFEST.json").write_text(json.dumps({"artifacts": {"fam/kd-x": entry}}))
    argv = ["bundle-tables", "--reference", str(bundle)]
    refused(argv, tmp_path, capsys, "MANIFEST.json", "artifacts.fam/kd-x.acceptance.gsm8k")


def test_the_bundled_tau_dec_keys_pass(tmp_path):
    from suite.bundle_tables import check_table_fields

    manifest = json.loads((REPO / "reference" / "MANIFEST.json").read_text())
    check_table_fields(manifest, tmp_path / "MANIFEST.json")


# 11. and 12. a KD recipe's model folders and lengths
def _kd_recipe(tmp_path, edit) -> str:
    recipe = yaml.safe_load((RECIPES / "kd-llama.yaml").read_text())
    edit(recipe)
    path = tmp_path / "kd.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return str(path)


@pytest.mark.parametrize(
    ("edit", "field", "shown"),
    [(lambda r: r["models"].update(target="kd-online-gsm8k-recipe-s0"), "models.target", "draft"),
     (lambda r: r["models"].update(tokenizer="kd-offline-alpaca-recipe-s1"), "models.tokenizer",
      "draft"),
     (lambda r: r["models"].update(base_draft="kd-online-alpaca-recipe-s2"), "models.base_draft",
      "draft"),
     (lambda r: r["models"].update(base_draft="target"), "models.base_draft", "models.target"),
     (lambda r: r["prompts"].update(max_new_tokens=100_000), "prompts.max_new_tokens", "8,192"),
     (lambda r: r["prompts"].update(max_prompt_tokens=100_000), "prompts.max_prompt_tokens",
      "8,192")],
    ids=["target-is-a-draft", "tokenizer-is-a-draft", "base-is-a-draft",
         "base-is-the-target", "new-tokens", "prompt-tokens"],
)  # fmt: skip
def test_a_kd_recipe_names_its_models_apart_and_bounds_its_lengths(tmp_path, capsys, edit, field,
                                                                    shown):  # fmt: skip
    path = _kd_recipe(tmp_path, edit)
    argv = ["distill", "--recipe", path, "--out", str(tmp_path / "d"), "--list"]
    refused(argv, tmp_path, capsys, "kd.yaml", field, shown)


def test_kd_lengths_past_the_targets_positions_are_refused_first(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SUITE_CHECKPOINT_DIR", str(tmp_path / "ckpt"))
    out = tmp_path / "d"
    for part in ("target", "draft", "tokenizer"):
        shutil.copytree(REPO / "reference" / "llama" / part, out / part,
                        ignore=shutil.ignore_patterns("*.safetensors"))  # fmt: skip
    path = _kd_recipe(tmp_path, lambda r: r["prompts"].update(max_new_tokens=8000))
    argv = ["distill", "--recipe", path, "--out", str(out), "--only", "kd-offline-gsm8k-t0.0-s0"]
    refused(argv, tmp_path, capsys, "kd.yaml", "prompts.max_new_tokens", "1,024 positions")


# 13. align settings refused before pretraining, naming the recipe and the field
def test_an_align_temperature_below_the_minimum_is_refused_with_the_recipe(tmp_path, capsys):
    path = _train_recipe(tmp_path, _target(align=dict(ALIGN, temperature=0.0001)))
    argv = ["train", "--recipe", path, "--out", str(tmp_path / "out"), "--only", "tokenizer"]
    refused(argv, tmp_path, capsys, "tiny.yaml", "models.target.align.temperature", "0.001")


def test_an_align_pool_that_cannot_fill_is_refused_before_pretraining(tmp_path, capsys, built):
    path = _train_recipe(tmp_path, _target(align=dict(ALIGN, max_prompt_tokens=5)))
    argv = ["train", "--recipe", path, "--out", str(built), "--only", "target"]
    refused(argv, tmp_path, capsys, "tiny.yaml", "models.target.align.max_prompt_tokens", "gsm8k")
    assert not (tmp_path / "ckpt").exists()


def test_an_align_pool_is_checked_before_pretraining_with_a_tokenizer_built_then(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("SUITE_CHECKPOINT_DIR", str(tmp_path / "ckpt"))
    path = _train_recipe(tmp_path, _target(align=dict(ALIGN, max_prompt_tokens=5)))
    out = tmp_path / "out"
    assert main(["train", "--recipe", path, "--out", str(out), "--only", "tokenizer",
                 "target"]) == 2  # fmt: skip
    assert "models.target.align.max_prompt_tokens" in capsys.readouterr().err
    assert not (tmp_path / "ckpt").exists()


def test_a_tokenizer_copied_onto_itself_is_refused_naming_the_field(tmp_path, capsys, built):
    itself = {"copy_from": str(built / "tokenizer")}
    path = _train_recipe(tmp_path, lambda r: r.update(tokenizer=itself))
    argv = ["train", "--recipe", path, "--out", str(built), "--only", "tokenizer"]
    refused(argv, tmp_path, capsys, "tiny.yaml", "tokenizer.copy_from", "itself")


def test_run_model_checks_the_data_when_the_recipe_could_not(tmp_path, built):
    """A tokenizer trained by the same command is not there when the recipe is read: the data
    check runs before the first model trains."""
    from suite.distill.pretrain import load_recipe, run_model

    recipe = load_recipe(_train_recipe(tmp_path))
    recipe["models"]["target"]["train"]["block_size"] = 10_000_000  # past the corpus, not read
    with pytest.raises(SpecError, match="block_size"):
        run_model(recipe, "target", built)
    assert not (tmp_path / "ckpt").exists()
