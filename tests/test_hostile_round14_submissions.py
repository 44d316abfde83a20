"""Submissions of the fourteenth attack: weights finite on disk but not in the dtype a run loads,
RoPE factors and norm epsilons that give NaN past the load probe, a tokenizer loaded from outside
the model folder, config keys that patch the layers, headers naming a tensor twice, files of
any size, symbolic link loops, and the good inputs (a dynamic-RoPE draft, a text file that starts
like a pickle opcode) that were refused. Each case failed on the commit before its fix."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import torch

from suite.cli import main
from tests.hostile import refused
from tests.test_hostile_submissions import _config, _tensor, _training
from tests.test_submissions import _copy, _json_edit, _profile, tiny  # noqa: F401 (a fixture)


def _huge_f64(name: str):
    def make(t):
        t = t.to(torch.float64).clone()
        t.view(-1)[-1] = 1e300  # the last row: past any short probe
        return t

    return _tensor(name, make)


def _duplicate_tensor(folder: Path) -> None:
    """The header lists model.norm.weight twice (the library keeps the last)."""
    path = folder / "model" / "model.safetensors"
    raw = path.read_bytes()
    size = int.from_bytes(raw[:8], "little")
    header = raw[8 : 8 + size].decode().rstrip()
    entry = re.search(r'"model\.norm\.weight":\{[^}]*\}', header).group(0)
    header = header[:-1] + "," + entry + "}"
    data = header.encode()
    data += b" " * (-len(data) % 8)
    path.write_bytes(len(data).to_bytes(8, "little") + data + raw[8 + size :])


def _tokenizer_config(**over):
    return lambda f: _json_edit(f / "model" / "tokenizer_config.json", lambda d: d.update(over))


def _outside_tokenizer(folder: Path) -> None:
    (folder / "tokenizer.1.json").write_bytes((folder / "model" / "tokenizer.json").read_bytes())
    _tokenizer_config(fast_tokenizer_files=["../tokenizer.1.json"])(folder)


def _sparse(name: str, size: int):
    def change(folder: Path) -> None:
        with open(folder / "model" / name, "wb") as fh:
            fh.truncate(size)

    return change


def _loop(folder: Path) -> None:
    os.symlink("loop", folder / "model" / "loop")


LONGROPE = {
    "rope_type": "longrope",
    "rope_theta": 10000.0,
    "original_max_position_embeddings": 16,
    "short_factor": [1.0] * 4,
    "long_factor": [1e-300] * 4,
}

CASES = [
    ("f64-past-float32", _huge_f64("model.norm.weight"), "model.norm.weight", "float32"),
    ("f64-embedding-row", _huge_f64("model.embed_tokens.weight"), "model.embed_tokens.weight",
     "1e+300"),
    ("longrope-tiny-factor", _config(rope_parameters=LONGROPE), "rope_parameters.long_factor",
     "1e-300"),
    ("epsilon-underflow", _config(rms_norm_eps=1e-300), "rms_norm_eps", "1e-300"),
    ("fusion-config", _config(fusion_config={"bogus": True}), "fusion_config", "patches"),
    ("other-architecture", _config(architectures=["LlamaForSequenceClassification"]),
     "architectures", "LlamaForCausalLM"),
    ("tie-as-text", _config(tie_word_embeddings="no"), "tie_word_embeddings", "'no'"),
    ("duplicate-tensor", _duplicate_tensor, "model.safetensors", "duplicate key"),
    ("generation-config", lambda f: _json_edit(
        f / "model" / "generation_config.json", lambda d: d.update(max_new_tokens=-3)),
     "max_new_tokens", "-3"),
    ("fast-tokenizer-files", _outside_tokenizer, "fast_tokenizer_files", "tokenizer.1.json"),
    ("huge-side-file", _sparse("notes.txt", (64 << 20) + 1), "notes.txt", "67,108,865 bytes"),
    ("symlink-loop", _loop, "model/loop", "cannot be resolved"),
    ("kd-temperature-huge", _training(kd_temperature=1e300), "training.kd_temperature", "1e+300"),
]  # fmt: skip


@pytest.mark.parametrize("command", ["check", "submit"])
@pytest.mark.parametrize(("change", "field", "value"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_a_hostile_submission_is_refused(tiny, tmp_path, capsys, command, change, field, value):  # noqa: F811
    folder = _copy(tiny, tmp_path)
    if not (folder / "model" / "generation_config.json").exists():
        (folder / "model" / "generation_config.json").write_text("{}")
    change(folder)
    out = tmp_path / "out"
    if command == "check":
        argv = ["submissions", "check", str(folder), "--profile", _profile(tiny)]
    else:
        argv = ["submit", str(folder), "--profile", _profile(tiny), "--out", str(out)]
    refused(argv, tmp_path, capsys, field, value)
    assert not out.exists()


def _dynamic_rope(folder: Path) -> None:
    rope = {"rope_type": "dynamic", "factor": 2.0, "rope_theta": 10000.0}
    _json_edit(folder / "model" / "config.json", lambda d: d.update(rope_parameters=rope))


def _text_files(folder: Path) -> None:
    (folder / "model" / "losses.txt").write_text("0.4123\n0.3981\n0.3870\n")
    (folder / "model" / ".gitignore").write_text(".cache\n")
    (folder / "model" / "AUTHORS").write_text("N. Smith <n@example.org>\nA. Jones\n")
    (folder / "model" / "README.txt").write_text("N.B. trained for 2 epochs on GSM8K.\n")


def _saved_file_fields(folder: Path) -> None:
    """Fields older transformers saved, naming where files were: not opened from the config."""
    _tokenizer_config(
        vocab_file="../vocab.json", special_tokens_map_file="/root/.cache/x/special_tokens_map.json"
    )(folder)


@pytest.mark.parametrize(
    "change",
    [_dynamic_rope, _text_files, _saved_file_fields],
    ids=["dynamic-rope", "text", "files"],
)
def test_a_good_submission_passes_the_check(tiny, tmp_path, capsys, change):  # noqa: F811
    folder = _copy(tiny, tmp_path)
    change(folder)
    argv = ["submissions", "check", str(folder), "--profile", _profile(tiny)]
    assert main(argv) == 0, capsys.readouterr().err


def test_a_submit_into_the_submission_folder_is_refused(tiny, tmp_path, capsys):  # noqa: F811
    folder = _copy(tiny, tmp_path)
    argv = [
        "submit",
        str(folder),
        "--profile",
        _profile(tiny),
        "--out",
        str(folder / "model" / "r"),
    ]
    refused(argv, tmp_path, capsys, "--out", "inside the submission folder")


def test_a_submission_to_an_encoder_decoder_family_names_the_target(tmp_path, capsys):
    import yaml

    from tests.test_hostile_inputs_more import REPO
    from tests.test_hostile_submissions import GOOD

    folder = tmp_path / "t5-draft"
    (folder / "model").mkdir(parents=True)
    config = (REPO / "reference" / "t5" / "draft" / "config.json").read_text()
    (folder / "model" / "config.json").write_text(config)
    spec = GOOD | {"name": "t5-draft", "target": "t5"}
    (folder / "submission.yaml").write_text(yaml.safe_dump(spec))
    argv = ["submissions", "check", str(folder), "--profile", "smoke"]
    refused(argv, tmp_path, capsys, "submission.yaml", "field 'target'", "encoder-decoder")
