"""Templates whose output grows exponentially with their length: chained ``join``, ``string`` and
``tojson`` filters, and chat-template ``set`` chains that double a value. Each is refused on the
syntax tree before it is compiled (jinja folds constants while compiling), naming the file, the
field and the value; bombs run in a subprocess under a 3 GiB address-space cap and a timeout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from suite.cli import main
from suite.sandbox import JINJA, chat_template_problem, chat_template_refusal, template_problem
from tests.test_hostile_inputs_more import _cli
from tests.test_hostile_specs import _folder, _with

REPO = Path(__file__).resolve().parents[1]
SEP = '"' + "x" * 16 + '"'

TASK_BOMBS = [
    ("join-chain-const", '{{ "ab"' + f"|join({SEP})" * 8 + " }}", "join"),
    ("string-chain-const", "{{ " + "[" * 32 + "'\\\\'" + "]|string" * 32 + " }}", "string"),
    ("join-chain-field", "{{ question" + f"|join({SEP})" * 6 + " }}", "join"),
    ("string-chain-field", "{{ " + "[" * 30 + "question" + "]|string" * 30 + " }}", "string"),
    ("join-of-default-join", "{{ question|default(question|join('xx'))|join('xx') }}", "join"),
]  # fmt: skip


@pytest.mark.parametrize(("template", "why"), [c[1:] for c in TASK_BOMBS],
                         ids=[c[0] for c in TASK_BOMBS])  # fmt: skip
def test_a_task_template_growth_chain_is_refused_when_read(tmp_path, template, why):
    assert "grows exponentially" in (template_problem(template) or "")
    folder = _folder(tmp_path, _with("instruction", template))
    (tmp_path / "data" / "toy").mkdir(parents=True)
    (tmp_path / "data" / "toy" / "test.jsonl").write_text('{"question": "2?", "solution": "4"}\n')
    env = {"SUITE_DATA_DIR": str(tmp_path / "data")}
    for argv in (["tasks", "--tasks-dir", str(folder)],
                 ["tasks", "toy", "--show", "1", "--tasks-dir", str(folder)]):  # fmt: skip
        _cli(argv, tmp_path, "toy.yaml", "'instruction'", why, "grows exponentially",
             timeout=30, env=env)  # fmt: skip


def test_the_task_environment_caps_join_and_string_output():
    """A chain the check missed still stops at MAX_FILTER_OUTPUT, while folding or rendering."""
    from jinja2.exceptions import FilterArgumentError

    template = JINJA.from_string("{{ x|join('" + "y" * 16 + "')|join('" + "y" * 16 + "') }}")
    with pytest.raises(FilterArgumentError, match="join"):
        template.render(x="a" * 20_000)
    with pytest.raises(FilterArgumentError, match="string"):
        JINJA.from_string("{{ x|string }}").render(x=["\\" * (1 << 20)])
    assert JINJA.from_string("{{ x|join(', ') }}").render(x=["a", "b"]) == "a, b"


CONTENT = "{% for m in messages %}{{ m.content }}{% endfor %}"
CHAT_BOMBS = [
    ("set-doubling-const", "{% set a = '" + "x" * 51 + "' %}{% set a1 = a ~ a %}"
     + "".join(f"{{% set a{i + 1} = a{i} ~ a{i} %}}" for i in range(1, 28))
     + "{{ a28|length }}" + CONTENT, "mentions the template's variables more than once"),
    ("set-two-variables", "{% set a = 'xx' %}{% set b = a %}{% set c = a ~ b %}" + CONTENT,
     "more than once"),
    ("tojson-chain", "{% for m in messages %}{{ m.content" + "|tojson" * 40 + " }}{% endfor %}",
     "grows exponentially"),
    ("tojson-chain-const", "{{ 'x'" + "|tojson" * 40 + " }}" + CONTENT, "grows exponentially"),
    ("join-chain", "{% for m in messages %}{{ m.content" + f"|join({SEP})" * 8 + " }}{% endfor %}",
     "grows exponentially"),
    ("string-chain", "{% for m in messages %}{{ " + "[" * 30 + "m.content" + "]|string" * 30
     + " }}{% endfor %}", "grows exponentially"),
    ("tojson-through-set", "{% for m in messages %}{% set a = m.content|tojson %}"
     "{% set b = a ~ 'x' %}{{ b|tojson }}{% endfor %}", "variable 'b'"),
]  # fmt: skip


@pytest.mark.parametrize(("template", "why"), [c[1:] for c in CHAT_BOMBS],
                         ids=[c[0] for c in CHAT_BOMBS])  # fmt: skip
def test_a_chat_template_growth_is_refused(template, why):
    assert why in (chat_template_problem(template) or "")
    assert chat_template_refusal(template).startswith("chat_template: ")


def test_a_profile_tokenizer_with_a_doubling_set_is_refused_before_any_render(tmp_path):
    from tests.test_hostile_studies import _model_profile

    tok = tmp_path / "tok"
    tok.mkdir()
    (tok / "tokenizer_config.json").write_text(json.dumps({"chat_template": CHAT_BOMBS[0][1]}))
    path = _model_profile(tmp_path, "{}")
    spec = yaml.safe_load(path.read_text())
    spec["models"]["llama"]["tokenizer"] = {"path": str(tok)}
    path.write_text(yaml.safe_dump(spec))
    argv = ["run", "difficulty", "--profile", str(path), "--out", str(tmp_path / "out")]
    _cli(argv, tmp_path, "smoke.yaml", "models.llama.tokenizer.path", "tokenizer_config.json",
         "chat_template", "set 'a1'", timeout=60)  # fmt: skip


def test_linear_templates_pass(tmp_path, capsys):
    for template in ("{{ question|join(', ') }}", "{{ [question, answer]|string }}",
                     "{{ question|join('-')|upper }} {{ question|string|length|string }}",
                     "{{ question|join('-') ~ answer|join('-') }}"):  # fmt: skip
        assert template_problem(template) is None, template
    for template in (
        "{{ messages|tojson }}",
        "{% for m in messages %}{{ m.content|tojson }}{% endfor %}",
        "{% set a = 'x' %}{% set b = a ~ 'y' %}{% set c = b ~ 'z' %}{{ c }}" + CONTENT,
        "{% set s = messages[0].content %}{% set t = s if s else 'none' %}{{ t|tojson }}",
        "{% set n = messages|tojson|length %}{{ n|string }}{{ messages|join(', ') }}",
    ):
        assert chat_template_problem(template) is None, template
    folder = _folder(tmp_path, _with("instruction", "{{ question|join(' ') }}"))
    assert main(["tasks", "--tasks-dir", str(folder)]) == 0


def test_bundled_task_specs_and_tokenizer_chat_templates_pass(capsys):
    assert main(["tasks"]) == 0
    for config in REPO.glob("reference/*/tokenizer/tokenizer_config.json"):
        value = json.loads(config.read_text()).get("chat_template")
        if value is not None:
            assert chat_template_refusal(value) is None, config
    for jinja in REPO.glob("reference/*/tokenizer/*.jinja"):
        assert chat_template_refusal(jinja.read_text()) is None, jinja
