"""Hostile study and profile files (``python -m suite run PATH --profile PATH``), and memory and
time bombs run in a subprocess under a 3 GiB address-space cap and a 60 s timeout."""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from suite.errors import SpecError
from suite.studies import load_study
from tests.hostile import refused
from tests.test_studies import _study

REPO = Path(__file__).resolve().parents[1]


def _grid(**over) -> dict:
    study = _study()
    study["grid"] = study["grid"] | over
    return study


STUDIES = [
    ("k-huge", _grid(num_draft_tokens=129), "grid.num_draft_tokens", "129"),
    ("k-zero", _grid(num_draft_tokens=0), "grid.num_draft_tokens", "0"),
    ("k-string", _grid(num_draft_tokens="4"), "grid.num_draft_tokens", "'4'"),
    ("tau-negative", _grid(decode_temperatures=[-1.0]), "grid.decode_temperatures[0]", "-1.0"),
    ("tau-twice", _grid(decode_temperatures=[1.0, 1.0]), "grid.decode_temperatures[1]", "1.0"),
    ("tau-tiny", _grid(decode_temperatures=[1e-39]), "grid.decode_temperatures[0]", "1e-39"),
    ("tau-subnormal", _grid(decode_temperatures=[0.0, 5e-324]), "grid.decode_temperatures[1]",
     "5e-324"),
    ("claims-huge", _study(claims=[10**9]), "claims", "1000000000"),
    ("claims-twice", _study(claims=[1, 1]), "claims[1]", "1"),
    ("selector-tau-tiny", _grid(drafts=[{"kd_temperature": 1e-320}]),
     "grid.drafts[0].kd_temperature", "1e-320"),
    ("engines-twice", _study(engines=["analytic", "analytic"]), "engines[1]", "analytic"),
    ("k-twice", _grid(num_draft_tokens=[4, 4]), "grid.num_draft_tokens[1]", "4"),
    ("datasets-twice", _grid(datasets=["gsm8k", "gsm8k"]), "grid.datasets[1]", "gsm8k"),
    ("name-ctrl", _study(name="mi\x1bni"), "name", "mini"),
    ("family-list", _study(family=["llama"]), "family", "['llama']"),
    ("unknown-field", _study(run="rm -rf /"), "run", "rm -rf"),
    ("title-cr", _study(title="Mini\rEvil"), "title", "U+000D"),
    ("description-rlm", _study(description="abc\u200fdef"), "description", "U+200F"),
    ("description-zwsp", _study(description="a\u200bb"), "description", "U+200B"),
    ("profiles-key-ctrl", _study(profiles={"smo\x1bke": {}}), "profiles", "smo\\x1bke"),
    ("profiles-key-slash", _study(profiles={"../smoke": {}}), "profiles", "../smoke"),
    ("datasets-key-rtl", _grid(datasets={"gsm8k\u202e": "gsm8k"}), "grid.datasets",
     "gsm8k\\u202e"),
]  # fmt: skip


def test_the_good_study_loads(tmp_path):
    path = tmp_path / "mini.yaml"
    path.write_text(yaml.safe_dump(_study()))
    assert load_study(path).name == "mini"


@pytest.mark.parametrize(("data", "field", "value"), [c[1:] for c in STUDIES],
                         ids=[c[0] for c in STUDIES])  # fmt: skip
def test_a_hostile_study_is_refused(tmp_path, capsys, data, field, value):
    path = tmp_path / "mini.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    argv = ["run", str(path), "--profile", "smoke", "--out", str(tmp_path / "out")]
    refused(argv, tmp_path, capsys, "mini.yaml", field, value)


def test_a_plan_over_100000_cells_is_refused_before_it_is_built(tmp_path, capsys):
    taus = [i / 1000 for i in range(1000)]
    path = tmp_path / "mini.yaml"
    path.write_text(yaml.safe_dump(_grid(decode_temperatures=taus, num_draft_tokens=list(
        range(1, 129)))))  # fmt: skip
    argv = ["run", str(path), "--profile", "smoke", "--out", str(tmp_path / "out")]
    refused(argv, tmp_path, capsys, "mini.yaml", "grid", "100,000 cells")


SMOKE = (REPO / "tasks" / "profiles" / "smoke.yaml").read_text()


def _drafts(name: str, extra: str = "") -> str:
    """The smoke profile with llama's models named one by one: its target and one draft."""
    draft = "{path: reference/llama/draft" + (f", {extra}" if extra else "") + "}"
    family = f"{{target: {{path: reference/llama/target}}, drafts: {{{name}: {draft}}}}}"
    return SMOKE.replace("{bundle: reference/llama}", family)


def _target(ref: str) -> str:
    return SMOKE.replace("{bundle: reference/llama}", f"{{target: {ref}}}")


PROFILES = [
    ("seeds-huge", SMOKE.replace("seeds: 1, max", "seeds: 100000, max"), "seeds", "100000"),
    ("prompts-huge", SMOKE.replace("prompts: 4", "prompts: 10000000"), "prompts", "10000000"),
    ("tokens-huge", SMOKE.replace("max_new_tokens: 16}", "max_new_tokens: 99999}", 1),
     "max_new_tokens", "99999"),
    ("duplicate-key", SMOKE + "device: cuda\n", "smoke.yaml", "duplicate"),
    ("alias", SMOKE + "x: &a [1]\ny: *a\n", "smoke.yaml", "alias"),
    ("name-ctrl", SMOKE.replace("name: smoke", 'name: "smo\\x1bke"'), "name", "smo"),
    ("family-escape", SMOKE.replace("  llama: {bundle", '  "lla\\x1b[2Jma": {bundle'), "models",
     "lla\\x1b[2Jma"),
    ("family-rtl", SMOKE.replace("  llama: {bundle", '  "llama\\u202e": {bundle'), "models",
     "llama\\u202e"),
    ("family-slash", SMOKE.replace("  llama: {bundle", '  "lla/ma": {bundle'), "models", "lla/ma"),
    ("draft-escape", _drafts('"b\\x1b[2J"'), "models.llama.drafts", "b\\x1b[2J"),
    ("draft-slash", _drafts('"a/b"'), "models.llama.drafts", "a/b"),
    ("draft-dotdot", _drafts('".."'), "models.llama.drafts", "'..'"),
    ("draft-zwsp", _drafts('"ba\\u200bse"'), "models.llama.drafts", "ba\\u200bse"),
    ("facts-seed-huge", _drafts("base", "facts: {method: base, seed: " + "9" * 90 + "}"),
     "models.llama.drafts.base.facts.seed", "99999"),
    ("facts-seed-2-to-32", _drafts("base", "facts: {method: base, seed: 4294967296}"),
     "models.llama.drafts.base.facts.seed", "4294967296"),
    ("model-path-climbs", SMOKE.replace("{bundle: reference/llama}",
                                        "{bundle: reference/../../../../etc}"),
     "models.llama.bundle", "reference/../../../../etc"),
    ("hub-id-dotdot", _target("{hub: a/..}"), "models.llama.target.hub", "a/.."),
    ("hub-id-dot", _target("{hub: ./model}"), "models.llama.target.hub", "./model"),
    ("hub-id-dots-inside", _target("{hub: owner/a..b}"), "models.llama.target.hub", "owner/a..b"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "field", "value"), [c[1:] for c in PROFILES],
                         ids=[c[0] for c in PROFILES])  # fmt: skip
def test_a_hostile_profile_is_refused(tmp_path, capsys, text, field, value):
    path = tmp_path / "smoke.yaml"
    path.write_text(text)
    argv = ["run", "difficulty", "--profile", str(path), "--out", str(tmp_path / "out")]
    refused(argv, tmp_path, capsys, "smoke.yaml", field, value)


def test_good_names_seeds_and_hub_ids_load(tmp_path):
    """Good-input control for the name, seed and Hub id rules."""
    from suite.profiles import load_profile_file

    text = _drafts("kd-offline.gsm8k_t0.4-s1", "facts: {method: offline, seed: 4294967295}")
    text = text.replace("{bundle: reference/t5}", "{target: {hub: Org-1/model_v2.5-instruct}}")
    path = tmp_path / "smoke.yaml"
    path.write_text(text)
    profile = load_profile_file(path)
    draft = profile.models["llama"].drafts["kd-offline.gsm8k_t0.4-s1"]
    assert draft.facts.seed == 2**32 - 1
    assert profile.models["t5"].target.hub == "Org-1/model_v2.5-instruct"


def test_a_profile_draft_whose_training_json_states_a_huge_seed_is_refused(tmp_path, capsys):
    draft = tmp_path / "draft"
    draft.mkdir()
    (draft / "config.json").write_text((REPO / "reference/llama/draft/config.json").read_text())
    (draft / "training.json").write_text('{"method": "offline", "seed": ' + "9" * 99 + "}")
    path = tmp_path / "smoke.yaml"
    path.write_text(_drafts("base").replace("reference/llama/draft", str(draft)))
    argv = ["run", "difficulty", "--profile", str(path), "--out", str(tmp_path / "out")]
    refused(argv, tmp_path, capsys, "training.json", "seed", "99999")


def test_a_drafts_folder_with_an_unsafe_folder_name_is_refused(tmp_path, capsys):
    drafts = tmp_path / "drafts"
    (drafts / "evil\x1b[2J").mkdir(parents=True)
    (drafts / "evil\x1b[2J" / "config.json").write_text("{}")
    path = tmp_path / "smoke.yaml"
    family = f"{{bundle: reference/llama, drafts_dir: {drafts}}}"
    path.write_text(SMOKE.replace("{bundle: reference/llama}", family))
    argv = ["run", "difficulty", "--profile", str(path), "--out", str(tmp_path / "out")]
    refused(argv, tmp_path, capsys, "smoke.yaml", "models.llama.drafts_dir", "evil\\x1b[2J")


LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
    for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)
BOMBS = [
    ("billion-laughs", "study", LAUGHS, "alias"),
    ("recursive-alias", "study", "a: &a [*a]\n", "alias"),
    ("deep-nesting", "study", "x: " + "[" * 100_000 + "]" * 100_000 + "\n", "nested deeper"),
    ("template-mul", "task", '{{ "x" * 10**11 }}', "Mul"),
    ("template-center", "task", '{{ "x"|center(10**11) }}', "center"),
    ("template-loops", "task", "{% for a in range(99999) %}{% for b in range(99999) %}"
                               "{% endfor %}{% endfor %}", "For"),
    ("template-pow", "task", "{{ 10 ** 10 ** 10 }}", "Pow"),
    ("redos", "task", "{{ question }}", "nested quantifier"),
    ("huge-int", "study", "a: " + "9" * 200_000 + "\n", "digits"),
]  # fmt: skip


def _limit():
    cap = 3 << 30
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))


def _bomb_files(tmp_path: Path, kind: str, text: str, case: str) -> list[str]:
    if kind == "study":
        (tmp_path / "bomb.yaml").write_text(text)
        return ["run", str(tmp_path / "bomb.yaml"), "--out", str(tmp_path / "out")]
    from tests.test_hostile_specs import _regex, _with

    spec = _regex("(a+)+$") if case == "redos" else _with("instruction", text)
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "toy.yaml").write_text(spec)
    return ["tasks", "--tasks-dir", str(tmp_path / "tasks")]


@pytest.mark.parametrize(("kind", "text", "why"), [c[1:] for c in BOMBS],
                         ids=[c[0] for c in BOMBS])  # fmt: skip
def test_a_bomb_is_refused_quickly_and_in_bounded_memory(tmp_path, kind, text, why, request):
    argv = _bomb_files(tmp_path, kind, text, request.node.callspec.id)
    proc = subprocess.run(
        [sys.executable, "-m", "suite", *argv], cwd=REPO, capture_output=True, text=True,
        timeout=60, preexec_fn=_limit,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and why in proc.stderr
    assert not (tmp_path / "out").exists()


def _model_profile(tmp_path: Path, config: str | bytes | None) -> Path:
    """A profile whose target is a folder with this config.json (None: none at all)."""
    model = tmp_path / "mymodel"
    model.mkdir()
    if config is not None:
        data = config if isinstance(config, bytes) else config.encode()
        (model / "config.json").write_bytes(data)
    spec = yaml.safe_load(SMOKE)
    spec["models"] = {"llama": {"target": {"path": str(model)}}}
    path = tmp_path / "smoke.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


MODEL_FOLDERS = [
    ("no-config", None, "no config.json"),
    ("config-over-16mib", '{"a": "' + "x" * (17 << 20) + '"}', "16777216 bytes"),
    ("config-nan", '{"model_type": NaN}', "NaN"),
    ("config-list", "[]", "JSON object"),
    ("config-not-utf8", b'{"a": "\xff"}', "UTF-8"),
]  # fmt: skip


@pytest.mark.parametrize(("config", "why"), [c[1:] for c in MODEL_FOLDERS],
                         ids=[c[0] for c in MODEL_FOLDERS])  # fmt: skip
def test_a_profile_model_folder_without_a_sound_config_is_refused(tmp_path, capsys, config, why):
    path = _model_profile(tmp_path, config)
    argv = ["run", "difficulty", "--profile", str(path), "--out", str(tmp_path / "out")]
    refused(argv, tmp_path, capsys, "smoke.yaml", "models.llama.target.path", "mymodel", why)


CHAT_BOMBS = [
    ("range-loops", "{% for i in range(100000) %}{% for j in range(100000) %}"
                    "{{ messages[0]['content'] }}{% endfor %}{% endfor %}", "range"),
    ("nested-message-loops", "{% for m in messages %}{% for n in messages %}{{ n }}{% endfor %}"
                             "{% endfor %}", "nested loop"),
    ("doubling-set", "{% set a = messages[0]['content'] %}" + "{% set a = a + a %}" * 40
     + "{{ a }}", "grows a variable"),
    ("mul", "{{ messages[0]['content'] * 100000 }}", "Mul"),
    ("macro", "{% macro f(x) %}{{ f(x) }}{% endmacro %}{{ f(1) }}", "Macro"),
    ("format-mod", "{{ '%999999999s' % 1 }}", "'%'"),
    ("namespace", "{% set ns = namespace(a='') %}", "call"),
    ("deep-parens", "{{ " + "(" * 1500 + "1" + ")" * 1500 + " }}", "nested too deeply"),
]  # fmt: skip


@pytest.mark.parametrize(("template", "why"), [c[1:] for c in CHAT_BOMBS],
                         ids=[c[0] for c in CHAT_BOMBS])  # fmt: skip
@pytest.mark.parametrize("where", ["tokenizer_config.json", "chat_template.jinja"])
def test_a_profile_tokenizer_chat_template_that_could_blow_up_is_refused(
    tmp_path, capsys, template, why, where
):
    tok = tmp_path / "tok"
    tok.mkdir()
    if where == "chat_template.jinja":
        (tok / where).write_text(template)
    else:
        (tok / where).write_text(json.dumps({"chat_template": template}))
    path = _model_profile(tmp_path, "{}")
    spec = yaml.safe_load(path.read_text())
    spec["models"]["llama"]["tokenizer"] = {"path": str(tok)}
    path.write_text(yaml.safe_dump(spec))
    argv = ["run", "difficulty", "--profile", str(path), "--out", str(tmp_path / "out")]
    refused(argv, tmp_path, capsys, "smoke.yaml", "models.llama.tokenizer.path", where, why)


def test_common_chat_templates_pass_and_a_hub_tokenizer_bomb_is_refused_before_rendering():
    from suite.prompts import check_chat_template
    from suite.sandbox import chat_template_refusal
    from tests.test_paper_rehearsal import LLAMA_2_CHAT_TEMPLATE

    chatml = (
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + "
        "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
    )
    llama2_system = (
        "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}"
        "{% set system_message = messages[0]['content'] %}{% else %}"
        "{% set loop_messages = messages %}{% set system_message = false %}{% endif %}"
        "{% for message in loop_messages %}"
        "{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
        "{{ raise_exception('Conversation roles must alternate') }}{% endif %}"
        "{% if loop.index0 == 0 and system_message != false %}"
        "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + "
        "message['content'] %}{% else %}{% set content = message['content'] %}{% endif %}"
        "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + "
        "' [/INST]' }}{% endif %}{% endfor %}"
    )
    for template in (LLAMA_2_CHAT_TEMPLATE, chatml, llama2_system):
        assert chat_template_refusal(template) is None, template

    class HubTokenizer:
        name_or_path = "someone/chat-model"
        chat_template = CHAT_BOMBS[0][1]

        def apply_chat_template(self, *args, **kwargs):
            raise AssertionError("rendered before the check")

    with pytest.raises(SpecError) as err:
        check_chat_template(HubTokenizer())
    assert err.value.field == "chat_template" and "someone/chat-model" in str(err.value)


def test_a_tiny_temperature_is_refused_and_a_nan_row_is_never_sampled():
    import torch

    from suite.decoding.sampling import (
        NonFiniteLogits,
        check_temperature,
        probs_from_logits,
        sample,
    )

    for tau in (1e-39, 5e-324, 1e-4):
        with pytest.raises(ValueError, match=r"at least 0\.001"):
            check_temperature(tau)
    assert check_temperature(0.0) == 0.0 and check_temperature(1e-3) == 1e-3
    with pytest.raises(NonFiniteLogits, match="NaN or infinite logits"):
        probs_from_logits(torch.tensor([[1.0, 2.0, 3.0]]), 1e-39)  # 3 / 1e-39 overflows float32
    nan_row = torch.tensor([[0.2, float("nan"), 0.8]])
    with pytest.raises(ValueError, match="NaN or infinite"):
        sample(nan_row, torch.Generator().manual_seed(0))
