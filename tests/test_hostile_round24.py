"""Inputs left over from the earlier attacks, each accepted on the commit before its fix: a
generate call past the target's positions, a submitted draft of fewer positions than its
target, a profile whose llama family is another architecture's bundle, and weights written
private to their owner."""

from __future__ import annotations

import json
import os
import stat

import pytest

from suite.errors import SpecError
from tests.hostile import refused
from tests.test_hostile_inputs_more import REPO
from tests.test_submissions import scored, tiny  # noqa: F401 (fixtures)


def test_generate_refuses_to_run_past_the_targets_positions(tmp_path, capsys):
    """910 prompt tokens and 500 new ones pass the bundled target's 1,024 positions."""
    target = str(REPO / "reference" / "llama" / "target")
    argv = ["generate", "word " * 900, "--target", target, "--max-new-tokens", "500"]
    refused(argv, tmp_path, capsys, "'--max-new-tokens' = 500", "max_position_embeddings (1,024)")


def test_generate_within_the_targets_positions_runs(capsys):
    """The control: the same prompt with room for its new tokens."""
    from suite.cli import main

    target = str(REPO / "reference" / "llama" / "target")
    argv = ["generate", "word " * 900, "--target", target, "--max-new-tokens", "2"]
    assert main(argv) == 0, capsys.readouterr().err


def test_a_submitted_draft_of_fewer_positions_than_its_target_is_refused(
    tiny,  # noqa: F811
    tmp_path,
    capsys,
):
    from tests.test_hostile_round18_submissions import _check
    from tests.test_submissions import _copy

    folder = _copy(tiny, tmp_path)
    path = folder / "model" / "config.json"
    config = json.loads(path.read_text())
    config["max_position_embeddings"] = 1
    path.write_text(json.dumps(config))
    refused(_check(folder, tiny), tmp_path, capsys, "config.json", "max_position_embeddings", "= 1")


def _profile(tmp_path, family: str, bundle: str):
    text = (
        f"name: mixed\ndescription: x\nmodels:\n  {family}:\n"
        f"    bundle: {REPO / 'reference' / bundle}\n"
        "sizes:\n  analytic: {prompts: 1, seeds: 1, max_new_tokens: 4}\n"
        "  empirical: {prompts: 1, seeds: 1, max_new_tokens: 4}\n"
    )
    path = tmp_path / "mixed.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(("family", "bundle"), [("llama", "t5"), ("t5", "llama")])
def test_a_paper_family_is_its_own_architecture(family, bundle, tmp_path):
    from suite.profiles import load_profile

    with pytest.raises(SpecError) as err:
        load_profile(str(_profile(tmp_path, family, bundle)))
    assert err.value.field == f"models.{family}.bundle", str(err.value)
    assert f"model_type '{family}'" in str(err.value)


def test_a_family_of_another_name_takes_any_architecture(tmp_path):
    """The control: a family the paper does not name is the profile's own label."""
    from suite.profiles import load_profile

    profile = load_profile(str(_profile(tmp_path, "mine", "t5")))
    assert list(profile.models) == ["mine"]


def test_saved_weights_take_the_umask_not_a_private_mode(tmp_path):
    from suite.io import save_model
    from tests.models import tiny_llama

    old = os.umask(0o027)
    try:
        save_model(tiny_llama(), tmp_path / "m")
    finally:
        os.umask(old)
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in (tmp_path / "m").iterdir()}
    assert modes["model.safetensors"] == 0o640, modes


def _second_submission(data, folder):
    """Every record of the submitted draft again, as another submitted draft's."""
    lines = []
    for line in (folder / "cells.jsonl").read_text().splitlines():
        lines.append(line)
        record = json.loads(line)
        if record["cell"]["draft"] == data["draft"]:
            record["cell"]["draft"] = "sub-evil"
            record["key"] = record["key"].replace(data["draft"], "sub-evil")
            lines.append(json.dumps(record))
    (folder / "cells.jsonl").write_text("\n".join(lines) + "\n")
    header = json.loads((folder / "run.json").read_text())
    keys = header["study_cells"]["leaderboard"]
    keys += [k.replace(data["draft"], "sub-evil") for k in keys if data["draft"] in k]
    (folder / "run.json").write_text(json.dumps(header))


@pytest.mark.usefixtures("hand_made_plan")  # the rule before the plan's
def test_a_submits_folder_holds_the_results_of_the_submission_it_states(
    scored,  # noqa: F811
    tmp_path,
    capsys,
):
    from tests.test_hostile_round23 import _report_of

    argv = _report_of(scored, tmp_path, _second_submission)
    refused(argv, tmp_path, capsys, "cells.jsonl", "cell.draft", "'sub-evil'", "does not state")


@pytest.mark.usefixtures("hand_made_plan")  # the rule before the plan's
def test_records_of_a_submitted_draft_need_their_submission_json(scored, tmp_path, capsys):  # noqa: F811
    from tests.test_hostile_round23 import _report_of

    argv = _report_of(scored, tmp_path, lambda data, folder: None)
    (tmp_path / "res" / "submission.json").unlink()
    refused(argv, tmp_path, capsys, "submission.json", "missing", "'sub-tiny-draft'")


@pytest.mark.parametrize("linked", [False, True], ids=["named", "through-a-link"])
def test_a_model_folder_named_like_a_hub_model_is_refused_by_check(
    linked,
    tiny,  # noqa: F811
    tmp_path,
    capsys,
):
    """``m@v1`` passed check, then submit ran every cell and refused its own submission.json
    (a report reads a model with '@' as a Hub id@commit)."""
    from tests.test_hostile_round18_submissions import _check
    from tests.test_submissions import _copy, _edit

    folder = _copy(tiny, tmp_path)
    (folder / "model").rename(folder / "m@v1")
    if linked:
        (folder / "model").symlink_to("m@v1")
    else:
        _edit(folder, model={"path": "m@v1"})
    refused(_check(folder, tiny), tmp_path, capsys, "submission.yaml", "model.path", "'@'")


def test_a_float64_model_as_transformers_saves_it_passes_check(tiny, tmp_path):  # noqa: F811
    import torch
    from transformers import AutoModelForCausalLM

    from suite.cli import main
    from tests.test_hostile_round18_submissions import _check
    from tests.test_submissions import _copy

    folder = _copy(tiny, tmp_path)
    model = AutoModelForCausalLM.from_pretrained(folder / "model").to(torch.float64)
    model.save_pretrained(folder / "model")
    assert json.loads((folder / "model" / "config.json").read_text())["dtype"] == "float64"
    assert main(_check(folder, tiny)) == 0


# train, distill, the KD data cache and the bundle's tools


def _manifest(tmp_path, artifacts: dict) -> list[str]:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "MANIFEST.json").write_text(json.dumps({"artifacts": artifacts}))
    return ["bundle-tables", "--reference", str(tmp_path / "b")]


def _kd(i: int, tau_kd: float, accepted: dict) -> dict:
    path = f"llama/d{i}"
    return {"kind": "draft", "path": path, "files": {}, "method": "offline",
            "kd_temperature": tau_kd, "acceptance": {"gsm8k": accepted}}  # fmt: skip


def test_bundle_tables_refuses_tables_no_bundle_makes(tmp_path, capsys):
    """400 configurations, each at its own τ_dec: 160,000 cells (the full-size case printed
    300 MB in 103 s)."""
    drafts = {f"llama/d{i}": _kd(i, i / 100, {f"{0.001 + i / 1000:.3f}": {"alpha": 0.5}})
              for i in range(400)}  # fmt: skip
    refused(_manifest(tmp_path, drafts), tmp_path, capsys, "MANIFEST.json", "160,000", "100,000")


def test_bundle_tables_prints_a_kd_temperature_of_minus_0_as_0(tmp_path, capsys):
    from suite.cli import main

    both = {"0.0": {"alpha": 0.5}}
    argv = _manifest(tmp_path, {"llama/k0": _kd(0, 0.0, both), "llama/k1": _kd(1, -0.0, both)})
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "τ_kd -0" not in out and "| offline τ_kd 0.0 | **0.500 ± 0.000** | 2 |" in out, out


def _trained(tmp_path):
    """A training stopped at step 1 of 2, logging every step; the call that resumes it."""
    import torch

    from suite.distill.loop import TrainConfig, train
    from suite.distill.pretrain import lm_loss
    from tests.models import tiny_llama

    cfg = TrainConfig(max_steps=2, lr=1e-2, min_lr=1e-3, warmup_steps=0, batch_size=2, log_every=1)
    batch = torch.randint(0, 8, (2, 5))
    train(tiny_llama(), cfg, lambda s: batch, lm_loss, tmp_path / "ck", desc="t", stop_at=1)
    return lambda: train(tiny_llama(), cfg, lambda s: batch, lm_loss, tmp_path / "ck", desc="t")


def _resumable(tmp_path):
    return _trained(tmp_path), tmp_path / "ck"


def test_a_checkpoint_log_that_is_a_link_is_not_written_through(tmp_path):
    resume, ckpt = _resumable(tmp_path)
    victim = tmp_path / "victim.txt"
    victim.write_text("victim original\n")
    (ckpt / "log.jsonl").unlink(missing_ok=True)
    (ckpt / "log.jsonl").symlink_to(victim)
    with pytest.raises(SpecError, match="delete the checkpoint folder") as err:
        resume()
    assert err.value.path == ckpt / "log.jsonl", str(err.value)
    assert victim.read_text() == "victim original\n"


def test_a_checkpoint_log_that_is_a_fifo_is_refused_not_waited_on(tmp_path):
    """Run in a subprocess with a timeout: the defect was a hang."""
    import subprocess
    import sys

    script = f"""
import os, pytest
from pathlib import Path
from suite.errors import SpecError
from tests.test_hostile_round24 import _trained
tmp = Path({str(tmp_path)!r})
resume = _trained(tmp)
(tmp / "ck" / "log.jsonl").unlink(missing_ok=True)
os.mkfifo(tmp / "ck" / "log.jsonl")
with pytest.raises(SpecError, match="delete the checkpoint folder"):
    resume()
print("refused")
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, cwd=REPO)  # fmt: skip
    assert done.returncode == 0 and "refused" in done.stdout, done.stderr[-2000:]


def test_checkpoint_weights_of_another_dtype_are_refused(tmp_path):
    """float64 weights of 1e300 are finite, and infinite once the float32 model loads them."""
    from safetensors.torch import load_file, save_file

    resume, ckpt = _resumable(tmp_path)
    path = ckpt / "model.safetensors"
    weights = {k: v.double() for k, v in load_file(path).items()}
    name = sorted(weights)[0]
    weights[name].view(-1)[0] = 1e300
    save_file(weights, path, metadata={"format": "pt"})
    with pytest.raises(SpecError, match="float64 in the checkpoint but float32") as err:
        resume()
    assert err.value.path == path, str(err.value)


def test_a_loss_scaler_in_a_float32_run_is_refused(tmp_path):
    resume, ckpt = _resumable(tmp_path)
    state = json.loads((ckpt / "state.json").read_text())
    state["scaler"] = {"scale": 1.0}
    (ckpt / "state.json").write_text(json.dumps(state))
    with pytest.raises(SpecError, match="keeps none") as err:
        resume()
    assert err.value.field == "scaler", str(err.value)


@pytest.mark.parametrize(
    ("change", "field"),
    [({"growth_factor": None}, "scaler"), ({"growth_factor": -5.0}, "scaler.growth_factor"),
     ({"scale": 0.0}, "scaler.scale"), ({"growth_interval": 0.5}, "scaler.growth_interval"),
     ({"extra": 1.0}, "scaler")],
    ids=["missing-key", "negative-growth", "zero-scale", "fractional-interval", "unknown-key"],
)  # fmt: skip
def test_a_float16_runs_loss_scaler_is_its_own(change, field, tmp_path):
    import torch

    from suite.distill.loop import _check_scaler

    scaler = torch.amp.GradScaler("cpu")
    saved = scaler.state_dict()
    _check_scaler(tmp_path / "state.json", saved, scaler)  # the control: as it saves it
    saved = {k: v for k, v in {**saved, **change}.items() if v is not None}
    with pytest.raises(SpecError, match="delete the checkpoint folder") as err:
        _check_scaler(tmp_path / "state.json", saved, scaler)
    assert err.value.field == field, str(err.value)


@pytest.mark.parametrize("linked", ["kd-data", "recipe"])
def test_a_link_under_the_checkpoint_root_is_refused(linked, tmp_path, monkeypatch):
    from suite.distill.loop import under_checkpoints
    from suite.distill.offline import KDRequest, generate_kd_data
    from tests.models import tiny_llama

    monkeypatch.setenv("SUITE_CHECKPOINT_DIR", str(tmp_path / "ck"))
    (tmp_path / "ck").mkdir()
    (tmp_path / "elsewhere").mkdir()
    name = "kd-data" if linked == "kd-data" else "my-recipe"
    (tmp_path / "ck" / name).symlink_to(tmp_path / "elsewhere")
    with pytest.raises(SpecError, match="symbolic link"):
        if linked == "kd-data":
            request = KDRequest("a" * 64, "gsm8k", 0.5, 1, 4, 0, None, chunk_size=2)
            generate_kd_data(tiny_llama(vocab=8), [[1, 2]], request)
        else:
            under_checkpoints("my-recipe", "draft-x")
    assert list((tmp_path / "elsewhere").iterdir()) == []


def test_a_kd_cache_with_an_unknown_field_is_refused(tmp_path):
    from tests.test_hostile_round21 import _kd_cache

    _, final, again = _kd_cache(tmp_path)
    data = json.loads(final.read_text())
    data["extra"] = "x" * 10
    final.write_text(json.dumps(data))
    with pytest.raises(SpecError, match="unknown field") as err:
        again()
    assert err.value.field == "extra"


def test_a_lock_naming_pid_0_is_taken_over(tmp_path):
    import socket

    from suite.distill.recipes import claim

    lock = tmp_path / "locks" / "d.lock"
    lock.parent.mkdir()
    lock.write_text(f"{socket.gethostname()} 0")
    with claim(lock) as mine:
        assert mine
    assert not lock.exists()


def test_verify_refuses_a_fifo_when_it_opens_it(tmp_path):
    """A file swapped for a FIFO after the listing: refused when opened, not waited on."""
    import subprocess
    import sys

    os.mkfifo(tmp_path / "f")
    script = f"""
from pathlib import Path
from suite.bundle import sha256_file
from suite.errors import SpecError
try:
    sha256_file(Path({str(tmp_path / "f")!r}))
except SpecError as err:
    print("refused:", err)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, cwd=REPO)  # fmt: skip
    assert "refused:" in done.stdout and "not a regular file" in done.stdout, done.stderr[-2000:]


def _training_json(folder, **info) -> None:
    folder.mkdir(parents=True)
    (folder / "training.json").write_text(json.dumps({"artifact": "draft", "parameters": 5,
                                                      **info}))  # fmt: skip


@pytest.mark.parametrize(
    ("make", "shown"),
    [(lambda root, out: _training_json(root / "fam" / "d 1"), "'fam/d 1'"),
     (lambda root, out: (_training_json(out / "d2"), (root / "lnk").symlink_to(out)),
      "symbolic link"),
     (lambda root, out: _training_json(root / "fam" / "d1", kd_temperature=50,
                                       method="offline"), "kd_temperature"),
     (lambda root, out: _training_json(root / "fam" / "d1", heldout_loss={"gsm8k": -3.0}),
      "heldout_loss"),
     (lambda root, out: _training_json(root / "fam" / "d1", method="sorcery"), "method")],
    ids=["name-with-space", "linked-family", "kd-temperature-50", "negative-loss",
         "unknown-method"],
)  # fmt: skip
def test_manifest_refuses_what_its_readers_refuse(make, shown, tmp_path, capsys):
    root, out = tmp_path / "bundle", tmp_path / "outside"
    root.mkdir()
    make(root, out)
    argv = ["manifest", "--reference", str(root), "--cells", str(tmp_path / "cells")]
    refused(argv, tmp_path, capsys, shown)
    assert not (root / "MANIFEST.json").exists()


# command-line numbers, study grids and task specs


def test_lm_eval_model_args_numbers_are_read_as_written():
    from suite.lm_eval_args import check_numbers_as_written

    check_numbers_as_written("target=t,temperature=0.7,num_draft_tokens=4,seed=0")  # control
    for bad in ("temperature=1e-400", "temperature=nan", "num_draft_tokens=٣", "seed=1_0"):
        with pytest.raises(ValueError, match=bad.split("=")[0]):
            check_numbers_as_written(f"target=t,{bad}")


@pytest.mark.parametrize(
    "argv",
    [["lm-eval", "export", "--out", "x", "--tasks", "gsm8k", "--limit", "١"],
     ["lm-eval", "export", "--out", "x", "--tasks", "gsm8k", "--limit", "1_0"],
     ["calibrate", "--n-sim", "1", "--claims", "٣"],
     ["bench", "--cost-run-time", "٠.٠٢"], ["bench", "--cost-run-time", "nan"]],
    ids=["export-arabic-indic", "export-underscore", "calibrate-claims", "bench-cost-digits",
         "bench-cost-nan"],
)  # fmt: skip
def test_more_number_options_are_ascii(argv, tmp_path, capsys, monkeypatch):
    from suite.cli import main

    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and argv[-1] in err and "Traceback" not in err, err
    assert list(tmp_path.iterdir()) == []


def test_a_yaml_number_below_the_smallest_float_is_refused(tmp_path, capsys):
    study = (REPO / "tasks" / "studies" / "difficulty.yaml").read_text()
    assert "decode_temperatures: [0.0, 1.0]" in study
    path = tmp_path / "dx.yaml"
    path.write_text(study.replace("name: difficulty", "name: dx").replace(
        "decode_temperatures: [0.0, 1.0]", "decode_temperatures: [1.0e-400]"))  # fmt: skip
    argv = ["run", str(path), "--profile", "smoke", "--engine", "analytic", "--out",
            str(tmp_path / "r"), "--quiet"]  # fmt: skip
    refused(argv, tmp_path, capsys, "dx.yaml", "1.0e-400", "smallest float")


def _spec_dir(tmp_path, old: str, new: str):
    text = (REPO / "tasks" / "gsm8k.yaml").read_text()
    assert old in text
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "gsm8k.yaml").write_text(text.replace(old, new))
    return ["tasks", "gsm8k", "--split", "test", "--show", "1", "--tasks-dir", str(tmp_path / "t")]


def test_an_instruction_that_renders_empty_is_refused(tmp_path, capsys):
    argv = _spec_dir(tmp_path, "instruction: '{{ question }}'", "instruction: '{{ \"\" }}'")
    refused(argv, tmp_path, capsys, "gsm8k.yaml", "'instruction'", "empty instruction")


def test_a_studys_kd_dataset_is_a_dataset_name(tmp_path, capsys):
    study = (REPO / "tasks" / "studies" / "difficulty.yaml").read_text()
    path = tmp_path / "dx.yaml"
    text = study.replace("name: difficulty", "name: dx")
    assert "datasets: [gsm8k, alpaca]" in text
    path.write_text(text.replace("datasets: [gsm8k, alpaca]", "datasets: {gsm8k: ../../etc}"))
    argv = ["run", str(path), "--profile", "smoke", "--engine", "analytic", "--out",
            str(tmp_path / "r"), "--quiet"]  # fmt: skip
    refused(argv, tmp_path, capsys, "dx.yaml", "datasets.gsm8k", "'../../etc'")
