"""Inputs of the eighteenth attack on the tools, continued: files in an artifact's subfolders
that ``verify`` never listed, a device number in non-ASCII digits, manifests whose artifacts share
a folder (time and memory multiplied), links and files planted where ``train`` and ``distill``
write inside ``--out``, misspelt pretraining recipe fields, a checkpoint of other sizes, artifact
names that are markup in the tables ``bundle-tables --write`` edits, and an empty
``bundle-tables --reference``. Each case failed on the commit before its fix."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from suite.cli import main
from suite.errors import SpecError
from tests.hostile import refused, snapshot
from tests.test_hostile_inputs_more import REPO
from tests.test_hostile_round18_tools import (  # noqa: F401 (built: a fixture)
    RECIPES,
    TOKENIZER,
    _train_recipe,
    built,
)

TEXT = b"hi\n"
DIGEST = hashlib.sha256(TEXT).hexdigest()


def _bundle(tmp_path: Path, paths: dict[str, str]) -> Path:
    """A bundle whose artifacts (name -> folder) each hold one listed file, x.txt."""
    root = tmp_path / "b"
    artifacts = {}
    for name, rel in paths.items():
        (root / rel).mkdir(parents=True, exist_ok=True)
        (root / rel / "x.txt").write_bytes(TEXT)
        artifacts[name] = {"kind": "tokenizer", "path": rel, "files": {"x.txt": DIGEST}}
    root.mkdir(exist_ok=True)
    (root / "MANIFEST.json").write_text(json.dumps({"artifacts": artifacts}))
    return root


def _verify(root: Path, capsys) -> tuple[int, str, str]:
    code = main(["verify", "--hashes-only", "--reference", str(root)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# 16. files in an artifact's subfolders: never listed, never reported
def test_verify_reports_every_file_in_an_artifacts_subfolders(tmp_path, capsys):
    root = _bundle(tmp_path, {"fam/tokenizer": "fam/tokenizer"})
    art = root / "fam" / "tokenizer"
    (art / "additional_chat_templates").mkdir()
    (art / "additional_chat_templates" / "default.jinja").write_text("{{ messages }}")
    (art / "a" / "b").mkdir(parents=True)
    (art / "a" / "b" / "c.txt").write_text("x")
    (art / "empty").mkdir()
    (art / "a" / "link").symlink_to("/etc/passwd")
    code, _out, err = _verify(root, capsys)
    assert code == 1 and "Traceback" not in err
    for text in ("additional_chat_templates/default.jinja", "a/b/c.txt", "a/link", "empty"):
        assert f"file {text} is not listed" in err or f"folder {text} is not" in err, (text, err)
    assert "folder additional_chat_templates is not" in err


def test_verify_passes_a_sound_bundle(tmp_path, capsys):
    code, out, err = _verify(_bundle(tmp_path, {"fam/a": "fam/a", "fam/b": "fam/b"}), capsys)
    assert (code, err) == (0, "") and "2 artifacts, 0 problems" in out


def test_verify_lists_an_artifacts_tree_within_a_bound(tmp_path, capsys, monkeypatch):
    from suite import bundle

    monkeypatch.setattr(bundle, "MAX_FOLDER_ENTRIES", 50)
    root = _bundle(tmp_path, {"fam/a": "fam/a"})
    deep = root / "fam" / "a" / "sub"
    deep.mkdir()
    for i in range(200):
        (deep / f"f{i}").touch()
    code, _out, err = _verify(root, capsys)
    assert code == 1 and "more than 50 entries" in err, err


# 19. many artifacts sharing a folder: listing and problems multiplied
@pytest.mark.parametrize(
    ("paths", "field", "shown"),
    [({"a": "fam/art", "b": "fam/art"}, "artifacts.b.path", "artifacts.a"),
     ({"a": "fam/art", "b": "fam/art/sub"}, "artifacts.b.path", "inside"),
     ({"b": "fam/art/sub", "a": "fam/art"}, "artifacts.b.path", "inside")],
    ids=["same", "inside", "inside-listed-first"],
)  # fmt: skip
def test_verify_refuses_artifacts_sharing_a_folder(tmp_path, capsys, paths, field, shown):
    root = _bundle(tmp_path, paths)
    argv = ["verify", "--hashes-only", "--reference", str(root)]
    refused(argv, tmp_path, capsys, "MANIFEST.json", field, shown)


def test_verify_refuses_a_manifest_of_too_many_artifacts(tmp_path, capsys):
    from suite.bundle import MAX_ARTIFACTS

    root = tmp_path / "b"
    root.mkdir()
    arts = {f"a{i}": {"kind": "tokenizer", "path": f"f/a{i}", "files": {}}
            for i in range(MAX_ARTIFACTS + 1)}  # fmt: skip
    (root / "MANIFEST.json").write_text(json.dumps({"artifacts": arts}))
    argv = ["verify", "--hashes-only", "--reference", str(root)]
    refused(argv, tmp_path, capsys, "MANIFEST.json", "'artifacts'", f"{MAX_ARTIFACTS:,}")


def test_verify_prints_the_first_problems_and_counts_the_rest(tmp_path, capsys):
    from suite.bundle import MAX_PROBLEMS_SHOWN

    root = _bundle(tmp_path, {"fam/a": "fam/a"})
    for i in range(1000):
        (root / "fam" / "a" / f"f{i:04d}").touch()
    code, out, err = _verify(root, capsys)
    assert code == 1
    assert out == "1 artifacts, 1000 problems\n", out
    lines = err.splitlines()
    assert len(lines) == MAX_PROBLEMS_SHOWN + 1, len(lines)
    assert "900 more problems" in lines[-1], lines[-1]


def test_verify_of_thousands_of_missing_folders_stays_small(tmp_path):
    """The attack's shape with a folder per artifact: 5,000 artifacts, each missing, checked in
    a child under a memory limit and a timeout."""
    import subprocess
    import sys

    root = tmp_path / "b"
    root.mkdir()
    arts = {f"a{i}": {"kind": "tokenizer", "path": f"fam/a{i}", "files": {"x": DIGEST}}
            for i in range(5000)}  # fmt: skip
    (root / "MANIFEST.json").write_text(json.dumps({"artifacts": arts}))
    done = subprocess.run(
        [sys.executable, "-m", "suite", "verify", "--hashes-only", "--reference", str(root)],
        capture_output=True, text=True, timeout=60, cwd=REPO,
    )  # fmt: skip
    assert done.returncode == 1 and done.stdout == "5000 artifacts, 5000 problems\n"
    assert len(done.stderr.splitlines()) <= 101


# 17. a device number in non-ASCII digits
@pytest.mark.parametrize("device", ["cuda:\u0660", "cuda:\u0661", "cuda:\uff11", "cuda:\u00b2"],
                         ids=["arabic-0", "arabic-1", "fullwidth-1", "superscript-2"])  # fmt: skip
def test_a_device_number_is_ascii_digits(monkeypatch, device):
    from suite.distill.precision import check_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(ValueError, match="expected cpu, cuda or cuda:N"):
        check_device(device)
    assert check_device("cuda:1") == "cuda:1"  # the control


def test_a_lock_holders_pid_is_ascii_digits(tmp_path):
    from suite.distill.recipes import claim

    lock = tmp_path / "x.lock"
    import socket

    lock.write_text(f"{socket.gethostname()} \u00b2")  # int() refuses it: a ValueError traceback
    with claim(lock) as mine:
        assert mine is False
    assert lock.exists()


# 20. and 24. links and files where train and distill write inside --out
def _victim(tmp_path: Path) -> Path:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "tokenizer.json").write_text("precious")
    (victim / "model.safetensors").write_text("precious")
    return victim


@pytest.mark.parametrize("plant", ["folder-link", "file-link", "file", "fifo"])
def test_train_refuses_what_is_planted_where_the_tokenizer_goes(tmp_path, capsys, plant):
    victim = _victim(tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    where = out / "tokenizer"
    if plant == "folder-link":
        where.symlink_to(victim)
        shown = "symbolic link"
    elif plant == "file-link":
        where.mkdir()
        (where / "tokenizer.json").symlink_to(victim / "tokenizer.json")
        where, shown = where / "tokenizer.json", "symbolic link"
    elif plant == "file":
        shutil.copy(_train_recipe(tmp_path), where)
        shown = "not a folder"
    else:
        where.mkdir()
        import os

        os.mkfifo(where / "tokenizer_config.json")
        where, shown = where / "tokenizer_config.json", "not a regular file"
    path = _train_recipe(tmp_path)
    argv = ["train", "--recipe", path, "--out", str(out), "--only", "tokenizer"]
    refused(argv, tmp_path, capsys, str(where), "--out", shown)


@pytest.mark.parametrize("plant", ["link", "file"])
def test_train_refuses_a_model_folder_that_is_not_one_before_training(
    tmp_path,
    capsys,
    built,  # noqa: F811
    plant,
):
    target = built / "target"
    if plant == "link":
        target.symlink_to(_victim(tmp_path))
    else:
        target.write_text("a file")
    path = _train_recipe(tmp_path)
    argv = ["train", "--recipe", path, "--out", str(built), "--only", "target"]
    refused(argv, tmp_path, capsys, str(target), "symbolic link" if plant == "link" else "folder")
    assert not (tmp_path / "ckpt").exists()


def test_train_checks_a_model_folder_again_before_saving(tmp_path, built, monkeypatch):  # noqa: F811
    """A link planted while the model trains is refused too, before anything is saved."""
    from suite.distill import pretrain

    recipe = pretrain.load_recipe(_train_recipe(tmp_path))
    victim = _victim(tmp_path)
    before = snapshot(victim)
    real = pretrain.heldout_loss

    def plant(*args, **kwargs):
        if not (built / "target").exists():
            (built / "target").symlink_to(victim)
        return real(*args, **kwargs)

    monkeypatch.setattr(pretrain, "heldout_loss", plant)
    with pytest.raises(SpecError, match="symbolic link") as err:
        pretrain.run_model(recipe, "target", built)
    assert err.value.path == built / "target" and (built / "target").is_symlink()
    assert snapshot(victim) == before


KD_DRAFT = "kd-offline-gsm8k-t0.0-s0"


def _kd_out(tmp_path: Path) -> Path:
    out = tmp_path / "d"
    for part in ("target", "draft", "tokenizer"):
        shutil.copytree(REPO / "reference" / "llama" / part, out / part,
                        ignore=shutil.ignore_patterns("*.safetensors"))  # fmt: skip
    return out


@pytest.mark.parametrize("plant", ["link", "file", "inner-link"])
def test_distill_refuses_what_is_planted_where_a_draft_goes(tmp_path, capsys, monkeypatch, plant):
    monkeypatch.setenv("SUITE_CHECKPOINT_DIR", str(tmp_path / "ckpt"))
    out = _kd_out(tmp_path)
    victim = _victim(tmp_path)
    where = out / KD_DRAFT
    if plant == "link":
        where.symlink_to(victim)
    elif plant == "file":
        where.write_text("a file")
    else:
        where.mkdir()
        (where / "model.safetensors").symlink_to(victim / "model.safetensors")
        where = where / "model.safetensors"
    recipe = tmp_path / "kd.yaml"
    shutil.copy(RECIPES / "kd-llama.yaml", recipe)
    argv = ["distill", "--recipe", str(recipe), "--out", str(out), "--only", KD_DRAFT]
    refused(argv, tmp_path, capsys, str(where), "--out")


def test_distill_refuses_an_out_that_is_a_file_naming_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SUITE_CHECKPOINT_DIR", str(tmp_path / "ckpt"))
    out = tmp_path / "afile"
    out.write_text("x")
    argv = ["distill", "--recipe", str(RECIPES / "kd-llama.yaml"), "--out", str(out), "--only",
            KD_DRAFT]  # fmt: skip
    refused(argv, tmp_path, capsys, str(out), "--out", "not a folder")


def test_distill_checks_a_draft_folder_again_before_saving(tmp_path, monkeypatch):
    """A link planted while the draft trains is refused too, before anything is saved."""
    import os

    from suite.distill import recipes

    monkeypatch.setenv("SUITE_CHECKPOINT_DIR", str(tmp_path / "ckpt"))
    out = tmp_path / "d"
    for part in ("target", "draft", "tokenizer"):
        shutil.copytree(REPO / "reference" / "llama" / part, out / part, copy_function=os.link)
    victim = _victim(tmp_path)
    before = snapshot(victim)
    name = "kd-online-gsm8k-t0.0-s0"

    def plant(*args, **kwargs):
        (out / name).symlink_to(victim)
        return {"alpaca": 1.0, "gsm8k": 1.0}

    monkeypatch.setattr(recipes, "train", lambda *a, **k: {"steps": 1, "train_loss": 1.0,
                                                           "train_seconds": 0.0})  # fmt: skip
    monkeypatch.setattr(recipes, "heldout_loss", plant)
    recipe = recipes.load_kd_recipe(_kd_recipe_file(tmp_path))
    drafts = recipes.select_drafts(recipes.kd_grid(recipe), [name])
    with pytest.raises(SpecError, match="symbolic link") as err:
        recipes.run_distill(recipe, out, drafts)
    assert err.value.path == out / name and (out / name).is_symlink()  # planted, then refused
    assert snapshot(victim) == before


def _kd_recipe_file(tmp_path: Path) -> Path:
    recipe = yaml.safe_load((RECIPES / "kd-llama.yaml").read_text())
    recipe["prompts"].update(per_dataset=2)
    path = tmp_path / "kd.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


# 21. a pretraining recipe's misspelt top-level fields
@pytest.mark.parametrize("key", ["eval_exmples", "archtecture", "_data_checked", "_path"])
def test_a_pretraining_recipe_refuses_an_unknown_field(tmp_path, capsys, key):
    path = _train_recipe(tmp_path, lambda r: r.update({key: 5}))
    argv = ["train", "--recipe", path, "--out", str(tmp_path / "out"), "--only", "tokenizer"]
    refused(argv, tmp_path, capsys, "tiny.yaml", f"field '{key}'", "unknown field")


def test_the_bundled_pretraining_recipes_read(tmp_path):
    from suite.distill.pretrain import load_recipe

    for name in ("llama.yaml", "t5.yaml"):
        assert load_recipe(RECIPES / name)["architecture"] in ("llama", "t5")
    assert load_recipe(_train_recipe(tmp_path, lambda r: r.update(architecture="llama")))


# 22. a checkpoint of other sizes: a RuntimeError traceback, a line per tensor
def test_a_checkpoint_of_other_sizes_is_refused_naming_the_first_tensor(tmp_path):
    from suite.distill.loop import TrainConfig, train
    from suite.distill.pretrain import lm_loss
    from tests.models import tiny_llama

    cfg = TrainConfig(max_steps=2, lr=1e-2, min_lr=1e-3, warmup_steps=0, batch_size=2)
    batch = torch.randint(0, 8, (2, 5))
    ckpt = tmp_path / "ck"
    train(tiny_llama(hidden=32), cfg, lambda s: batch, lm_loss, ckpt, desc="t", stop_at=1)
    with pytest.raises(SpecError) as err:
        train(tiny_llama(hidden=16), cfg, lambda s: batch, lm_loss, ckpt, desc="t")
    text = str(err.value)
    assert "\n" not in text and str(ckpt) in text and "delete" in text, text
    assert "model.embed_tokens.weight" in text and "[8, 32]" in text and "[8, 16]" in text, text
    state = train(tiny_llama(hidden=32), cfg, lambda s: batch, lm_loss, ckpt, desc="t")
    assert state["steps"] == 2  # the control: the same sizes resume


# 23. names that are markup in the tables --write edits
@pytest.mark.parametrize(
    ("edit", "field"),
    [(lambda a: a.update({"fam/target<!-- bundle-tables:end -->": a.pop("fam/target")}),
      "artifacts"),
     (lambda a: a.update({"fam/t`x": a.pop("fam/target")}), "artifacts"),
     (lambda a: a.update({"fam/<img src=x>": a.pop("fam/target")}), "artifacts"),
     (lambda a: a.update({"fam/t x": a.pop("fam/target")}), "artifacts"),
     (lambda a: a["fam/kd-x"]["acceptance"].update({"gsm<b>8k": {"1.0": {"alpha": 0.5}}}),
      "artifacts.fam/kd-x.acceptance")],
    ids=["end-marker", "backtick", "html", "space", "dataset-html"],
)  # fmt: skip
def test_bundle_tables_refuses_a_name_that_is_not_plain(tmp_path, capsys, edit, field):
    arts = {
        "fam/target": {"kind": "target", "path": "fam/t", "files": {"x": "0" * 64},
                       "parameters": 5},
        "fam/kd-x": {"kind": "draft", "path": "fam/kd-x", "files": {"x": "0" * 64},
                     "method": "offline", "kd_temperature": 0.5,
                     "acceptance": {"gsm8k": {"1.0": {"alpha": 0.4}}}},
    }  # fmt: skip
    edit(arts)
    bundle = tmp_path / "b"
    bundle.mkdir()
    (bundle / "MANIFEST.json").write_text(json.dumps({"artifacts": arts}))
    readme = tmp_path / "w.md"
    readme.write_text("A\n<!-- bundle-tables:start -->\nold\n<!-- bundle-tables:end -->\nB\n")
    argv = ["bundle-tables", "--reference", str(bundle), "--write", str(readme)]
    refused(argv, tmp_path, capsys, "MANIFEST.json", f"field '{field}'", "letters, digits")


def test_bundle_tables_writes_the_bundled_names(tmp_path, capsys):
    readme = tmp_path / "w.md"
    readme.write_text("A\n<!-- bundle-tables:start -->\nold\n<!-- bundle-tables:end -->\nB\n")
    assert main(["bundle-tables", "--write", str(readme)]) == 0
    assert "`llama/target`" in readme.read_text()


# bundle-tables --reference '': the default bundle, silently
def test_bundle_tables_refuses_an_empty_reference(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = snapshot(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main(["bundle-tables", "--reference", ""])
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and err.startswith("error: python -m suite bundle-tables"), err
    assert err.count("\n") == 1 and "an empty one names no file" in err, err
    assert snapshot(tmp_path) == before
