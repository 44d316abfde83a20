"""More of the eighteenth attack: an ``eos_token_id`` stated as a list (Llama-3's form) refused
though it holds the target's id, a tokenizer's ``added_tokens.json`` and ``special_tokens_map.json``
growing its vocabulary past the target's logits unseen until a prompt met the id, an lm-eval
``device=cuda:abc`` passed to torch, and ``bench --temperatures 0 -0`` failing after the whole
measurement. Each case failed on the commit before its fix; the controls passed there too."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from suite.cli import main
from tests.hostile import refused
from tests.test_hostile_tokenizer_ids import LLAMA, _case
from tests.test_submissions import _copy, _profile, tiny  # noqa: F401 (a fixture)

SUBMISSION = """name: {name}
authors: [A. Researcher]
model:
  path: model
target: llama
training:
  method: other
  kd_temperature: null
  data: a copy of the bundled base draft
license: Apache-2.0
"""


def _reference_copy(tmp_path: Path, name: str = "eoslist") -> Path:
    """The bundled base draft as a submission for the smoke profile's llama (eos 0, pad 1)."""
    folder = tmp_path / name
    shutil.copytree(LLAMA / "draft", folder / "model")
    (folder / "submission.yaml").write_text(SUBMISSION.format(name=name))
    return folder


def _edit(path: Path, **changes) -> None:
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def _check_argv(folder: Path) -> list[str]:
    return ["submissions", "check", str(folder), "--profile", "smoke"]


# D10: eos_token_id as a list of ids


@pytest.mark.parametrize("eos", [[0], [0, 5], [7, 0]], ids=["own", "with-another", "second"])
@pytest.mark.parametrize("file", ["config.json", "generation_config.json"])
def test_an_eos_list_holding_the_targets_id_passes_the_check(tmp_path, capsys, eos, file):
    folder = _reference_copy(tmp_path)
    _edit(folder / "model" / file, eos_token_id=eos)
    assert main(_check_argv(folder)) == 0, capsys.readouterr().err


EOS_REFUSED = [
    ("other-id", [5], "eos_token_id", "the 'llama' target's is 0"),
    ("empty", [], "eos_token_id", "the 'llama' target's is 0"),
    ("past-logits", [0, 4096], "eos_token_id[1]", "[0, 4096)"),
    ("negative", [0, -1], "eos_token_id[1]", "expected token ids"),
    ("text", [0, "0"], "eos_token_id[1]", "expected token ids"),
    ("too-long", [0] * 65, "eos_token_id", "at most 64"),
]


@pytest.mark.parametrize(("eos", "field", "why"), [c[1:] for c in EOS_REFUSED],
                         ids=[c[0] for c in EOS_REFUSED])  # fmt: skip
@pytest.mark.parametrize("file", ["config.json", "generation_config.json"])
def test_an_eos_list_without_the_targets_id_is_refused(tmp_path, capsys, eos, field, why, file):
    folder = _reference_copy(tmp_path)
    _edit(folder / "model" / file, eos_token_id=eos)
    refused(_check_argv(folder), tmp_path, capsys, f"model/{file}", f"field '{field}'", why)


@pytest.mark.parametrize("key", ["pad_token_id", "bos_token_id"])
def test_a_generation_config_pad_or_bos_list_is_refused(tmp_path, capsys, key):
    """Lists are read for eos only: transformers compares a pad id with numbers."""
    folder = _reference_copy(tmp_path)
    _edit(folder / "model" / "generation_config.json", **{key: [1]})
    refused(_check_argv(folder), tmp_path, capsys, "generation_config.json", f"'{key}'")


def test_a_generation_config_eos_other_than_the_targets_is_refused(tmp_path, capsys):
    folder = _reference_copy(tmp_path)
    _edit(folder / "model" / "generation_config.json", eos_token_id=5)
    refused(_check_argv(folder), tmp_path, capsys, "generation_config.json", "'eos_token_id' = 5")


def test_the_decoder_pairs_a_draft_whose_eos_list_holds_the_targets_id():
    """What submit runs: the decoders pair target and draft with the same rule as the check."""
    from suite.decoding.plumbing import check_pair
    from suite.models import load_model

    target, draft = load_model(LLAMA / "target"), load_model(LLAMA / "draft")
    draft.config.eos_token_id = [0]
    check_pair(target, draft)
    draft.config.eos_token_id = [3, 0]
    check_pair(target, draft)
    draft.config.eos_token_id = [5]
    with pytest.raises(ValueError, match="eos_token_id"):
        check_pair(target, draft)


# D11: added tokens past the target's logits


def _added_tokens(tok: Path, tokens: dict) -> None:
    (tok / "added_tokens.json").write_text(json.dumps(tokens))


def _run_argv(profile: Path, study: Path, tmp_path: Path) -> list[str]:
    return ["run", str(study), "--profile", str(profile), "--quiet", "--out", str(tmp_path / "o")]


ADDED = [
    ("past-logits", {"ow m": 4096, "at i": 4097, "he ": 4098}, "4096"),
    ("unused-past-logits", {"Question": 4096}, "4096"),
    ("negative", {"Question": -1}, "-1"),
    ("new-token", {"<zz>": 5}, "<zz>"),  # transformers appends it at 4096
]


@pytest.mark.parametrize(("tokens", "shown"), [c[1:] for c in ADDED], ids=[c[0] for c in ADDED])
def test_added_tokens_json_past_the_targets_logits_is_refused_when_the_profile_is_read(
    tmp_path, capsys, tokens, shown
):
    profile, study = _case(tmp_path)
    _added_tokens(tmp_path / "tok", tokens)
    expected = ("p.yaml", "models.llama.tokenizer", "added_tokens.json", shown)
    refused(_run_argv(profile, study, tmp_path), tmp_path, capsys, *expected)


def test_a_new_special_token_in_special_tokens_map_is_refused(tmp_path, capsys):
    """transformers appends a special token it does not know at id 4096, past the logits."""
    profile, study = _case(tmp_path)
    (tmp_path / "tok" / "special_tokens_map.json").write_text('{"eos_token": "<brandnew>"}')
    expected = ("models.llama.tokenizer", "special_tokens_map.json", "eos_token", "<brandnew>")
    refused(_run_argv(profile, study, tmp_path), tmp_path, capsys, *expected)


def test_added_tokens_json_naming_its_own_tokens_is_accepted(tmp_path):
    """Controls: an added_tokens.json restating a token at its id, and a special_tokens_map.json
    naming the tokenizer's own eos token."""
    from suite.profiles import load_profile_file

    profile, _ = _case(tmp_path)
    tok = tmp_path / "tok"
    vocab = json.loads((tok / "tokenizer.json").read_text())["model"]["vocab"]
    _added_tokens(tok, {"Qu": vocab["Qu"], "<|endoftext|>": 0})
    (tok / "special_tokens_map.json").write_text('{"eos_token": "<|endoftext|>"}')
    assert load_profile_file(profile).models["llama"].tokenizer.path == tok


def test_a_submission_shipping_added_tokens_past_the_logits_is_refused(tiny, tmp_path, capsys):  # noqa: F811
    folder = _copy(tiny, tmp_path)
    _added_tokens(folder / "model", {"ow m": 4096})
    argv = ["submissions", "check", str(folder), "--profile", _profile(tiny)]
    refused(argv, tmp_path, capsys, "model/added_tokens.json", "ow m", "4096")


# D18 of the second attacker: lm-eval's device model_arg


@pytest.mark.parametrize("device", ["cuda:abc", "cuda:-1", "cuda:", "cuda:\u0660", "cuda:1", "gpu"])
@pytest.mark.parametrize("cuda", [True, False], ids=["cuda", "no-cuda"])
def test_a_bad_lm_eval_device_is_refused_naming_the_model_arg(monkeypatch, device, cuda):
    from suite import lm_eval_model

    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1 if cuda else 0)
    if device == "cuda:1" and not cuda:
        assert lm_eval_model.pick_device(device) == torch.device("cpu")  # falls back, warned
        return
    with pytest.raises(ValueError, match=r"specdec: model_args device=") as err:
        lm_eval_model.pick_device(device)
    assert repr(device) in str(err.value)


def test_good_lm_eval_devices_are_taken(monkeypatch):
    from suite import lm_eval_model

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    for device, want in [("cuda", "cuda"), ("cuda:0", "cuda:0"), ("cuda:1", "cuda:1"),
                         ("cpu", "cpu"), ("auto", "cuda"), (None, "cpu")]:  # fmt: skip
        assert lm_eval_model.pick_device(device) == torch.device(want)


# D25 of the second attacker: bench's temperatures


def test_bench_reads_minus_zero_as_zero_and_times_each_temperature_once(tmp_path, capsys):
    """0, -0 and 0.0 are one temperature: listed twice, refused as the command line is read
    (it was timed once; every option of several values now lists each value once)."""
    from suite import bench

    out = tmp_path / "out"
    argv = ["--out", str(out), "--draft", str(LLAMA / "draft"), "--prompts", "1",
            "--max-new-tokens", "2", "--num-draft-tokens", "1", "--temperatures", "0", "-0",
            "0.0", "--cost-rounds", "1", "--cost-run-time", "0.005"]  # fmt: skip
    with pytest.raises(SystemExit) as exit_:
        bench.main(argv)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and "--temperatures 0.0: listed twice" in err, err
    assert not out.exists()
    argv[argv.index("-0") : argv.index("-0") + 2] = []  # the control: 0 alone is timed once
    assert bench.main(argv) == 0, capsys.readouterr().err
    result = json.loads((out / "latest.json").read_text())
    assert [row["temperature"] for row in result["rows"]] == [0.0]


def test_bench_keeps_distinct_temperatures_in_order(tmp_path):
    import argparse

    from suite import bench

    parser = argparse.ArgumentParser()
    bench.add_arguments(parser)
    argv = ["--out", str(tmp_path / "o"), "--temperatures", "1", "-0", "1.0", "0.5", "0"]
    args = parser.parse_args(argv)
    bench._check_args(args)
    assert args.temperatures == [1.0, 0.0, 0.5]
    assert [str(t) for t in args.temperatures] == ["1.0", "0.0", "0.5"]
