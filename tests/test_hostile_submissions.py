"""Hostile submissions (``python -m suite submissions check`` and ``python -m suite submit``):
each is refused with exit status 2, an ``error:`` naming file, field and value, no traceback, the
submission folder byte for byte unchanged and no results folder; the good submission and the
example built by ``make-example`` pass."""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import zipfile
from pathlib import Path

import pytest
import torch
import yaml

from suite.cli import main
from tests.hostile import refused
from tests.test_submissions import _copy, _json_edit, _profile, tiny  # noqa: F401 (a fixture)

REPO = Path(__file__).resolve().parents[1]
GOOD = {
    "name": "tiny-draft",
    "authors": ["A. Researcher"],
    "model": {"path": "model"},
    "target": "llama",
    "training": {"method": "offline", "kd_temperature": 0.5, "data": "gsm8k train"},
    "license": "Apache-2.0",
}


def _yaml(text: str | bytes):
    """Replace submission.yaml with this text (or bytes)."""

    def change(folder: Path) -> None:
        path = folder / "submission.yaml"
        if isinstance(text, bytes):
            path.write_bytes(text)
        else:
            path.write_text(text, encoding="utf-8")

    return change


def _spec(**over):
    """submission.yaml as the good one with these top-level fields replaced."""
    return _yaml(yaml.safe_dump(GOOD | over, sort_keys=False))


def _training(**over):
    return _spec(training=GOOD["training"] | over)


def _config(**over):
    return lambda f: _json_edit(f / "model" / "config.json", lambda d: d.update(over))


def _write(rel: str, data: bytes):
    def change(folder: Path) -> None:
        path = folder / "model" / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    return change


def _torch_zip() -> bytes:
    buf = io.BytesIO()
    torch.save({"w": torch.zeros(2)}, buf)
    return buf.getvalue()


def _link_out(name: str):
    """model/<name> becomes a link to a copy of itself outside the submission folder."""

    def change(folder: Path) -> None:
        path = folder / "model" / name
        outside = folder.parent / f"outside-{name}"
        shutil.copy2(path, outside)
        path.unlink()
        path.symlink_to(outside)

    return change


def _link_in(name: str):
    """model/<name> becomes a link to a copy inside the submission folder."""

    def change(folder: Path) -> None:
        path = folder / "model" / name
        inside = folder / f"copy-{name}"
        shutil.copy2(path, inside)
        path.unlink()
        path.symlink_to(inside)

    return change


def _fifo(name: str):
    def change(folder: Path) -> None:
        path = folder / "model" / name
        if path.exists():
            path.unlink()
        os.mkfifo(path)

    return change


def _big_config(folder: Path) -> None:
    path = folder / "model" / "config.json"
    data = json.loads(path.read_text())
    data["padding"] = "x" * (17 << 20)
    path.write_text(json.dumps(data))


def _nested_auto_map(folder: Path) -> None:
    def change(d):
        d["text_config"] = {"auto_map": {"AutoModelForCausalLM": "mine.Model"}}

    _json_edit(folder / "model" / "config.json", change)


def _config_text(key: str, text: str):
    """config.json with ``key`` set to this raw JSON text (json.dumps cannot write 1e999)."""

    def change(folder: Path) -> None:
        path = folder / "model" / "config.json"
        _json_edit(path, lambda d: d.update({key: "PLACEHOLDER"}))
        path.write_text(path.read_text().replace('"PLACEHOLDER"', text))

    return change


def _tensor(name: str, make):
    """model.safetensors with the tensor ``name`` replaced by ``make(tensor)``."""

    def change(folder: Path) -> None:
        from safetensors.torch import load_file, save_file

        path = folder / "model" / "model.safetensors"
        tensors = load_file(path)
        tensors[name] = make(tensors[name])
        save_file(tensors, path, metadata={"format": "pt"})

    return change


def _index(shard: str):
    """A shard index beside the weights whose weight_map names ``shard`` for lm_head."""

    def change(folder: Path) -> None:
        index = {"metadata": {}, "weight_map": {"lm_head.weight": shard}}
        text = json.dumps(index)
        (folder / "model" / "model.safetensors.index.json").write_text(text)

    return change


def _stray_weights(folder: Path) -> None:
    """model.safetensors with a wrong-shaped tensor, and zz.safetensors, a full correct copy that
    transformers would not load (the check read both, the later file's tensor winning)."""
    from safetensors.torch import load_file, save_file

    path = folder / "model" / "model.safetensors"
    tensors = load_file(path)
    save_file(tensors, folder / "model" / "zz.safetensors", metadata={"format": "pt"})
    tensors["model.norm.weight"] = torch.ones(10)
    save_file(tensors, path, metadata={"format": "pt"})


def _tensor_in_two_shards(folder: Path) -> None:
    """Sharded weights whose two shards both hold lm_head.weight."""
    from safetensors.torch import load_file, save_file

    model = folder / "model"
    tensors = load_file(model / "model.safetensors")
    (model / "model.safetensors").unlink()
    head = {"lm_head.weight": tensors.pop("lm_head.weight")}
    save_file(tensors | head, model / "model-00001.safetensors", metadata={"format": "pt"})
    save_file(head, model / "model-00002.safetensors", metadata={"format": "pt"})
    weight_map = dict.fromkeys(tensors, "model-00001.safetensors")
    weight_map["lm_head.weight"] = "model-00002.safetensors"
    index = {"metadata": {}, "weight_map": weight_map}
    (model / "model.safetensors.index.json").write_text(json.dumps(index))


def _tokenizer_regex(pattern: str):
    """tokenizer.json with a Replace normalizer of this regex (Oniguruma runs it on every text)."""
    replace = {"type": "Replace", "pattern": {"Regex": pattern}, "content": "x"}
    return lambda f: _json_edit(
        f / "model" / "tokenizer.json", lambda d: d.update(normalizer=replace)
    )


YARN = {"rope_type": "yarn", "rope_theta": 10000.0, "original_max_position_embeddings": 256}
REDOS = "([a-z ]|[a-z ])*[A-Z]{3}"


def _yaml_in_place(old: str, new: str):
    def change(folder: Path) -> None:
        path = folder / "submission.yaml"
        text = path.read_text()
        assert old in text
        path.write_text(text.replace(old, new, 1))

    return change


DUMPED = yaml.safe_dump(GOOD, sort_keys=False)
CASES = [
    # bad YAML
    ("yaml-duplicate-key", _yaml(DUMPED + "license: MIT\n"), "submission.yaml", "duplicate"),
    ("yaml-alias", _yaml(DUMPED.replace("authors:\n- A. Researcher", "authors: &a\n- A. R")
                         + "description: *a\n"), "submission.yaml", "alias"),
    ("yaml-deep", _yaml(DUMPED + "description: " + "[" * 200 + "]" * 200 + "\n"),
     "submission.yaml", "nested deeper"),
    ("yaml-huge-int", _training(kd_temperature=10**150), "submission.yaml", "digits"),
    ("yaml-inf-float", _yaml_in_place("kd_temperature: 0.5", "kd_temperature: 1.0e+999"),
     "training.kd_temperature", "inf"),
    ("yaml-nan", _yaml_in_place("kd_temperature: 0.5", "kd_temperature: .nan"),
     "training.kd_temperature", "nan"),
    ("yaml-negative-tau", _training(kd_temperature=-0.5), "training.kd_temperature", "-0.5"),
    ("yaml-nan-in-list", _yaml_in_place("kd_temperature: 0.5", "kd_temperature: 0.5\n"
                                        "  kd_temperatures: [0.5, .nan]"),
     "training.kd_temperatures[1]", "nan"),
    ("yaml-control-char", _spec(license="MIT\x1b[2J"), "license", "MIT"),
    ("yaml-control-in-dataset", _training(dataset="gsm8k\x1b[31m"), "training.dataset", "gsm8k"),
    ("yaml-bidi-author", _spec(authors=["A.\u202eB"]), "authors[0]", "A."),
    ("yaml-not-utf8", _yaml(DUMPED.encode() + b"description: caf\xe9\n"), "submission.yaml",
     "not UTF-8"),
    ("yaml-not-mapping", _yaml("- a\n- b\n"), "submission.yaml", "mapping"),
    ("yaml-over-1mib", _yaml(DUMPED + "description: " + "x" * (1 << 20) + "\n"),
     "submission.yaml", "bytes"),
    ("yaml-long-list", _yaml(DUMPED + "x: [" + "0, " * 30_000 + "0]\n"), "submission.yaml",
     "65536 bytes"),
    # names
    ("name-newline", _spec(name="tiny-draft\n"), "name", "tiny-draft\\n"),
    ("name-slash", _spec(name="tiny/draft"), "name", "tiny/draft"),
    ("name-dotdot", _spec(name=".."), "name", ".."),
    ("name-upper", _spec(name="Tiny-Draft"), "name", "Tiny-Draft"),
    ("name-number", _spec(name=7), "name", "7"),
    # paths
    ("path-absolute", _spec(model={"path": "/etc"}), "model.path", "/etc"),
    ("path-dotdot", _spec(model={"path": "model/../../tiny-draft/model"}), "model.path", ".."),
    ("path-windows", _spec(model={"path": "C:\\model"}), "model.path", "C:"),
    ("path-self", _spec(model={"path": "."}), "model.path", "'.'"),
    ("path-empty", _spec(model={"path": ""}), "model.path", "''"),
    ("path-missing", _spec(model={"path": "nowhere"}), "model.path", "nowhere"),
    ("path-is-a-file", _spec(model={"path": "submission.yaml"}), "model.path", "submission.yaml"),
    ("weights-link-out", _link_out("model.safetensors"), "model.safetensors", "outside"),
    ("config-link-out", _link_out("config.json"), "config.json", "outside"),
    ("tokenizer-link-out", _link_out("tokenizer.json"), "tokenizer.json", "outside"),
    ("weights-link-in", _link_in("model.safetensors"), "model.safetensors", "symbolic link"),
    ("config-link-in", _link_in("config.json"), "config.json", "symbolic link"),
    ("weights-fifo", _fifo("model.safetensors"), "model.safetensors", "not a regular file"),
    ("config-fifo", _fifo("config.json"), "config.json", "not a regular file"),
    ("extra-fifo", _fifo("notes.dat"), "notes.dat", "not a regular file"),
    ("submission-fifo", lambda f: (f / "submission.yaml").unlink() or os.mkfifo(
        f / "submission.yaml"), "submission.yaml", "not a regular file"),
    ("submission-link-out", lambda f: (f / "submission.yaml").unlink() or (
        f / "submission.yaml").symlink_to("/etc/passwd"), "submission.yaml", "symbolic link"),
    # pickles
    *[(f"pickle-protocol-{p}", _write("weights.dat", pickle.dumps({"w": [1, 2]}, protocol=p)),
       "weights.dat", "pickle") for p in range(pickle.HIGHEST_PROTOCOL + 1)],
    ("pickle-bin", _write("pytorch_model.bin", b"not even a pickle"), "pytorch_model.bin",
     "pickle"),
    ("pickle-pt-nested", _write("sub/dir/w.pt", b""), "w.pt", "pickle"),
    ("pickle-torch-zip", _write("weights.data", _torch_zip()), "weights.data", "pickle"),
    ("pickle-named-txt", _write("notes.txt", pickle.dumps([1], protocol=0)), "notes.txt",
     "pickle"),
    # (round 12) a first string longer than the 64 KiB sniffed hid a protocol-0 pickle
    ("pickle-long-first-string", _write("notes.dat", pickle.dumps(["a" * 70_000, 1], protocol=0)),
     "notes.dat", "pickle"),
    ("pickle-megabytes-first-string",
     _write("notes.dat", pickle.dumps("a" * (3 << 20), protocol=1)), "notes.dat", "pickle"),
    ("pickle-named-model", _write("extra.model", pickle.dumps([1], protocol=2)), "extra.model",
     "pickle"),
    # config.json
    ("config-over-16mib", _big_config, "config.json", "16777216 bytes"),
    ("config-5000-layers", _config(num_hidden_layers=5000), "num_hidden_layers", "5000"),
    ("config-layers-string", _config(num_hidden_layers="2"), "config.json", "'2'"),
    ("config-duplicate-key", lambda f: (f / "model" / "config.json").write_text(
        (f / "model" / "config.json").read_text().rstrip()[:-1] + ', "vocab_size": 4096}'),
     "config.json", "duplicate"),
    ("config-nan", _config(rms_norm_eps="NaN-placeholder"), "config.json", "NaN"),
    ("config-not-object", lambda f: (f / "model" / "config.json").write_text("[1]"),
     "config.json", "list"),
    ("config-model-type-mistral", _config(model_type="mistral"), "model_type", "mistral"),
    ("config-model-type-gpt2", _config(model_type="gpt2"), "model_type", "gpt2"),
    ("config-model-type-bert", _config(model_type="bert"), "model_type", "bert"),
    ("config-model-type-missing", lambda f: _json_edit(
        f / "model" / "config.json", lambda d: d.pop("model_type")), "model_type", "None"),
    ("config-shape-mismatch", _config(intermediate_size=72), "weight shape",
     "model.layers.0.mlp.down_proj.weight"),
    ("config-layer-more", _config(num_hidden_layers=3), "missing weight", "model.layers.2"),
    ("config-layer-fewer", _config(num_hidden_layers=1), "unexpected weight", "model.layers.1"),
    ("config-tied", _config(tie_word_embeddings=True), "unexpected weight", "lm_head.weight"),
    ("vocab-size", _config(vocab_size=4000), "vocab_size", "4000"),
    ("vocab-swap", lambda f: _json_edit(f / "model" / "tokenizer.json", lambda d: d["model"][
        "vocab"].update({"!": d["model"]["vocab"]['"'], '"': d["model"]["vocab"]["!"]})),
     "tokenizer.json", "vocabulary"),
    # remote code
    ("remote-yaml-top", _spec(trust_remote_code=True), "trust_remote_code", "True"),
    ("remote-yaml-in-list", _spec(authors=[{"trust_remote_code": True}]),
     "authors[0].trust_remote_code", "True"),
    ("remote-config-auto-map", _config(auto_map={"AutoModelForCausalLM": "m.M"}), "auto_map",
     "m.M"),
    ("remote-config-nested-auto-map", _nested_auto_map, "text_config.auto_map", "mine.Model"),
    ("remote-config-trust", _config(trust_remote_code=True), "trust_remote_code", "True"),
    ("remote-tokenizer-auto-map", lambda f: _json_edit(
        f / "model" / "tokenizer_config.json",
        lambda d: d.update(auto_map={"AutoTokenizer": ["t.T", None]})), "auto_map", "t.T"),
    ("remote-generation-config", lambda f: _json_edit(
        f / "model" / "generation_config.json" if (f / "model" / "generation_config.json")
        .exists() else f / "model" / "config.json", lambda d: d.update(
            custom_generate={"trust_remote_code": True})), "trust_remote_code", "True"),
    # code from outside the folder: Hub kernels, quantizers
    ("attn-kernel", _config(attn_implementation="evil-org/evil-kernel"), "attn_implementation",
     "evil-org/evil-kernel"),
    ("attn-kernel-private", _config(_attn_implementation="kernels-community/flash-attn3"),
     "_attn_implementation", "kernels-community/flash-attn3"),
    ("attn-kernel-nested", _config(text_config={"attn_implementation": "evil-org/k"}),
     "text_config.attn_implementation", "evil-org/k"),
    ("attn-kernel-not-string", _config(attn_implementation=["sdpa"]), "attn_implementation",
     "['sdpa']"),
    ("experts-kernel", _config(experts_implementation="evil-org/moe"), "experts_implementation",
     "evil-org/moe"),
    ("quantization-config", _config(quantization_config={"quant_method": "bitnet"}),
     "quantization_config", "bitnet"),
    ("remote-after-a-long-list", _write("notes.json", json.dumps(
        {"a": [0] * 100_000 + [{"auto_map": "m.M"}]}).encode()), "a[100000].auto_map", "m.M"),
    ("json-over-32mib", lambda f: [_write(f"pad{i}.json", b"[" + b"0," * (6 << 20) + b"0]")(f)
                                   for i in range(3)], "*.json", "bytes in all"),
    # what transformers would refuse (or load wrongly) only at run time
    ("index-outside", _index("../outside.safetensors"), "weight_map.lm_head.weight",
     "../outside.safetensors"),
    ("index-absolute", _index("/tmp/outside.safetensors"), "weight_map.lm_head.weight",
     "/tmp/outside.safetensors"),
    ("index-missing-shard", _index("model-00002.safetensors"), "weight_map.lm_head.weight",
     "model-00002.safetensors"),
    ("index-not-mapping", lambda f: (f / "model" / "model.safetensors.index.json").write_text(
        '{"weight_map": ["model.safetensors"]}'), "weight_map", "['model.safetensors']"),
    ("is-encoder-decoder", _config(is_encoder_decoder=True), "is_encoder_decoder", "True"),
    ("config-overflow-inf", _config_text("rms_norm_eps", "1e999"), "config.json", "1e999"),
    # numbers that give NaN logits, and keys that load other weights
    ("config-eps-negative", _config(rms_norm_eps=-1.0), "rms_norm_eps", "-1.0"),
    ("config-eps-zero", _config(rms_norm_eps=0), "rms_norm_eps", "= 0:"),
    ("config-eps-string", _config(rms_norm_eps="1e-6"), "rms_norm_eps", "'1e-6'"),
    ("config-rope-yarn-huge", _config(rope_parameters=YARN | {"factor": 1e308}),
     "rope_parameters.factor", "1e+308"),
    ("config-rope-factor-below-1", _config(rope_parameters=YARN | {"factor": 0.5}),
     "rope_parameters.factor", "0.5"),
    ("config-rope-theta-negative", _config(rope_parameters={"rope_type": "default",
                                                            "rope_theta": -1.0}),
     "rope_parameters.rope_theta", "-1.0"),
    ("config-rope-llama3-equal-factors", _config(rope_parameters={
        "rope_type": "llama3", "rope_theta": 10000.0, "factor": 8.0, "low_freq_factor": 1.0,
        "high_freq_factor": 1.0, "original_max_position_embeddings": 8}),
     "rope_parameters", "must be greater than low_freq_factor"),
    ("config-rope-mscale-huge", _config(rope_parameters=YARN | {"factor": 4.0, "mscale": 1e30}),
     "rope_parameters.mscale", "1e+30"),
    ("config-dropout-huge", _config(attention_dropout=1e300), "attention_dropout", "1e+300"),
    ("config-float-huge", _config(initializer_range=1e200), "initializer_range", "1e+200"),
    ("config-softcap-zero", _config(final_logit_softcapping=0.0), "final_logit_softcapping",
     "0.0"),
    ("config-weights-file", _config(transformers_weights="zz.safetensors"),
     "transformers_weights", "zz.safetensors"),
    ("config-positions-zero", _config(max_position_embeddings=0), "max_position_embeddings",
     "= 0:"),
    ("config-positions-huge", _config(max_position_embeddings=1 << 40), "max_position_embeddings",
     "1099511627776"),
    ("config-positions-float", _config(max_position_embeddings=1024.0),
     "max_position_embeddings", "1024.0"),
    # weights the check would read and the load would not
    ("weights-stray-file", _stray_weights, "zz.safetensors", "would not load"),
    ("weights-tensor-in-two-shards", _tensor_in_two_shards, "lm_head.weight",
     "model-00001.safetensors"),
    # a tokenizer regex that backtracks without bound (a Rust panic on a prompt)
    ("tokenizer-regex-redos", _tokenizer_regex(REDOS), "normalizer.pattern.Regex", REDOS),
    ("tokenizer-regex-nested", _tokenizer_regex("(a+)+$"), "tokenizer.json", "(a+)+$"),
    ("weights-nan", _tensor("lm_head.weight", lambda t: t.clone().fill_(float("nan"))),
     "lm_head.weight", "nan"),
    ("weights-inf", _tensor("model.norm.weight", lambda t: t.clone().fill_(float("inf"))),
     "model.norm.weight", "inf"),
    ("weights-int64", _tensor("lm_head.weight", lambda t: t.to(torch.int64)), "lm_head.weight",
     "I64"),
    ("weights-bool", _tensor("lm_head.weight", lambda t: t > 0), "lm_head.weight", "BOOL"),
    ("weights-complex", _tensor("lm_head.weight", lambda t: t.to(torch.complex64)),
     "lm_head.weight", "C64"),
    # facts
    ("method-unknown", _training(method="magic"), "training.method", "magic"),
    ("method-case", _training(method="Offline"), "training.method", "Offline"),
    ("method-list", _training(method=["offline"]), "training.method", "['offline']"),
    ("facts-origin", _training(origin="bundle"), "training.origin", "bundle"),
    ("facts-seed-negative", _training(seed=-1), "training.seed", "-1"),
    ("facts-seed-huge", _training(seed=10**90 - 1), "training.seed", "999999"),
    ("facts-seed-2-to-32", _training(seed=2**32), "training.seed", "4294967296"),
    # invisible characters, and a file name that would drive the terminal
    ("yaml-cr-in-license", _spec(license="GPL-3.0\rApache-2.0"), "license", "U+000D"),
    ("yaml-rlm-author", _spec(authors=["A.\u200fB"]), "authors[0]", "\\u200f"),
    ("yaml-zwsp-author", _spec(authors=["A.\u200bB"]), "authors[0]", "\\u200b"),
    ("yaml-bom-author", _spec(authors=["\ufeffA. Researcher"]), "authors[0]", "\\ufeff"),
    ("yaml-word-joiner", _spec(description="a\u2060b"), "description", "U+2060"),
    ("file-name-escapes", _write("evil\x1b]0;pwned\x07\x1b[2J.pt", b""),
     "evil\\x1b]0;pwned\\x07\\x1b[2J.pt", "pickle"),
    ("facts-tau-string", _training(kd_temperature="0.5"), "training.kd_temperature", "'0.5'"),
]  # fmt: skip


def _fix_nan(folder: Path) -> None:
    """``config-nan``: write a bare NaN (json.dumps of a placeholder cannot)."""
    path = folder / "model" / "config.json"
    path.write_text(path.read_text().replace('"NaN-placeholder"', "NaN"))


@pytest.mark.parametrize("command", ["check", "submit"])
@pytest.mark.parametrize(("change", "field", "value"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_a_hostile_submission_is_refused(tiny, tmp_path, capsys, command, change, field, value):  # noqa: F811
    folder = _copy(tiny, tmp_path)
    change(folder)
    if field == "config.json" and value == "NaN":
        _fix_nan(folder)
    out = tmp_path / "out"
    if command == "check":
        argv = ["submissions", "check", str(folder), "--profile", _profile(tiny)]
    else:
        argv = ["submit", str(folder), "--profile", _profile(tiny), "--out", str(out)]
    refused(argv, tmp_path, capsys, field, value)
    assert not out.exists()


def test_the_good_submission_passes_the_check(tiny, capsys):  # noqa: F811
    folder = tiny / "good" / "tiny-draft"
    assert main(["submissions", "check", str(folder), "--profile", _profile(tiny)]) == 0
    assert capsys.readouterr().out.startswith("ok: sub-tiny-draft")


def test_a_large_seed_and_multi_line_text_pass_the_check(tiny, tmp_path, capsys):  # noqa: F811
    """Good-input control for the seed ceiling and the control-character rule."""
    folder = _copy(tiny, tmp_path)
    _spec(description="Line one.\n\tLine two.", training=GOOD["training"] | {"seed": 2**32 - 1})(
        folder
    )
    assert main(["submissions", "check", str(folder), "--profile", _profile(tiny)]) == 0
    assert capsys.readouterr().out.startswith("ok: sub-tiny-draft")


def test_the_made_example_passes_the_check(tmp_path, capsys, monkeypatch):
    from suite.submit import make_example

    folder = tmp_path / "example-base-copy"
    folder.mkdir()
    shutil.copy2(REPO / "submissions" / "example-base-copy" / "submission.yaml", folder)
    make_example(target=folder / "model")
    assert main(["submissions", "check", str(folder), "--profile", "smoke"]) == 0
    assert "ok: sub-example-base-copy" in capsys.readouterr().out


def test_a_zip_that_is_not_torch_is_not_a_pickle(tiny, tmp_path, capsys):  # noqa: F811
    """Good-input control for the sniffer: an extra zip of text passes."""
    folder = _copy(tiny, tmp_path)
    with zipfile.ZipFile(folder / "model" / "notes.zip", "w") as z:
        z.writestr("notes.md", "# notes\n")
    (folder / "model" / "README.md").write_text("# A tiny draft\n\nTrained on gsm8k.\n")
    assert main(["submissions", "check", str(folder), "--profile", _profile(tiny)]) == 0


def test_text_that_starts_like_pickle_opcodes_is_not_a_pickle(tiny, tmp_path, capsys):  # noqa: F811
    """Good-input control for the sniffer reading past 64 KiB: text files whose first bytes are
    valid opcodes ('V' reads a line, 'T' a length) and that run past the first part read."""
    folder = _copy(tiny, tmp_path)
    (folder / "model" / "NOTES.txt").write_text("This draft was trained on gsm8k.\n" * 5000)
    (folder / "model" / "vocab.txt").write_text("V" + "a" * 200_000 + "\nmore text\n")
    assert main(["submissions", "check", str(folder), "--profile", _profile(tiny)]) == 0


def test_a_submission_whose_config_shapes_the_outputs_passes_and_runs(tiny, tmp_path, capsys):  # noqa: F811
    """Good input: keys that change what forward returns are forced by the one loader, in the
    check and in the run alike ("return_dict": false made submit fail with a traceback and leave
    its folder; "output_attentions": true passed the check and failed the load)."""
    folder = _copy(tiny, tmp_path)
    _config(return_dict=False, output_attentions=True, output_hidden_states=True)(folder)
    assert main(["submissions", "check", str(folder), "--profile", _profile(tiny)]) == 0
    out = tmp_path / "out"
    argv = ["submit", str(folder), "--profile", _profile(tiny), "--out", str(out), "--quiet"]
    assert main(argv) == 0, capsys.readouterr().err
    assert "sub-tiny-draft" in (out / "cells.jsonl").read_text()


def test_a_submit_whose_draft_gives_nan_logits_writes_nothing(tiny, tmp_path, capsys):  # noqa: F811
    """Finite weights whose forward overflows: refused naming the submission's model before
    anything is written (it failed mid-run with 'alpha must be a number in [0, 1], got nan')."""
    folder = _copy(tiny, tmp_path)
    _tensor("model.norm.weight", lambda t: t.clone().fill_(3e38))(folder)
    out = tmp_path / "out"
    argv = ["submit", str(folder), "--profile", _profile(tiny), "--out", str(out)]
    refused(argv, tmp_path, capsys, "submission.yaml", "model.path", "NaN logits")
    assert not out.exists()


def _no_datasets(monkeypatch):
    """run_plan fails after submit made its folder and wrote submission.json, before any record."""
    import suite.runner
    from suite.errors import SpecError

    def missing(plan):
        raise SpecError("data/gsm8k/test.jsonl", None, None, "no such dataset split")

    monkeypatch.setattr(suite.runner, "check_datasets", missing)


def test_a_submit_that_fails_before_its_first_record_leaves_nothing(
    tiny,  # noqa: F811
    tmp_path,
    capsys,
    monkeypatch,
):
    _no_datasets(monkeypatch)
    folder = _copy(tiny, tmp_path)
    out = tmp_path / "results" / "out"
    argv = ["submit", str(folder), "--profile", _profile(tiny), "--out", str(out)]
    refused(argv, tmp_path, capsys, "gsm8k", "no such dataset split")
    assert not (tmp_path / "results").exists()


def test_a_failed_submit_keeps_the_folder_it_found(tiny, tmp_path, capsys, monkeypatch):  # noqa: F811
    """Good-input control for the clean-up: a folder that was there before is left as it was."""
    _no_datasets(monkeypatch)
    folder = _copy(tiny, tmp_path)
    out = tmp_path / "out"
    out.mkdir()
    argv = ["submit", str(folder), "--profile", _profile(tiny), "--out", str(out)]
    refused(argv, tmp_path, capsys, "gsm8k", "no such dataset split")  # the folder as it was
    assert out.is_dir() and not list(out.iterdir())  # (round 12: submission.json stayed)
