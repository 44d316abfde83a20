"""Hostile task specs (``--tasks-dir``): each is refused with exit status 2, naming the file, the
field and the value, with no traceback and nothing written; the good spec is listed."""

from __future__ import annotations

import pytest
import yaml

from suite.cli import main
from tests.hostile import refused

GOOD = {
    "name": "toy",
    "description": "A toy task.",
    "license": "MIT",
    "source": {"format": "jsonl"},
    "splits": {"test": {"files": ["toy/test.jsonl"]}},
    "instruction": "{{ question }}",
    "reference": "{{ solution }}",
    "answer": {"template": "{{ solution }}", "patterns": [{"regex": r"#### (\d+)"}]},
    "generation": {"max_new_tokens": 32, "stop": ["\n\n"]},
}
TEXT = yaml.safe_dump(GOOD, sort_keys=False)


def _with(dotted: str, value) -> str:
    data = yaml.safe_load(TEXT)
    *parents, last = dotted.split(".")
    node = data
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    node[int(last) if isinstance(node, list) else last] = value
    return yaml.safe_dump(data, sort_keys=False)


def _regex(pattern: str) -> str:
    return _with("answer.patterns", [{"regex": pattern}])


# (id, file text, texts the error must name: field and value)
FIELD_CASES = [
    ("jinja-class", _with("instruction", "{{ ().__class__ }}"), "instruction", "__class__"),
    ("jinja-subclasses", _with("instruction", "{{ ''.__class__.__mro__[1].__subclasses__() }}"),
     "instruction", "__subclasses__"),
    ("jinja-call", _with("instruction", "{{ question.upper() }}"), "instruction", "Call"),
    ("jinja-lipsum", _with("reference", "{{ lipsum(10**8) }}"), "reference", "lipsum"),
    ("jinja-range", _with("id", "{% for i in range(99999) %}{{ i }}{% endfor %}"), "id", "For"),
    ("jinja-mul", _with("instruction", '{{ "x" * 10**10 }}'), "instruction", "Mul"),
    ("jinja-pow", _with("instruction", "{{ 9 ** 9 ** 9 }}"), "instruction", "Pow"),
    ("jinja-mod", _with("instruction", '{{ "%99999999s" % "x" }}'), "instruction", "Mod"),
    ("jinja-center", _with("instruction", '{{ "x"|center(10**10) }}'), "instruction", "center"),
    ("jinja-indent", _with("instruction", "{{ question|indent(10**9) }}"), "instruction",
     "indent"),
    ("jinja-replace", _with("instruction", "{{ question|replace('a', 'aaaa') }}"), "instruction",
     "replace"),
    ("jinja-format", _with("instruction", "{{ '%s'|format(question) }}"), "instruction", "format"),
    ("jinja-attr", _with("instruction", "{{ question|attr('__class__') }}"), "instruction", "attr"),
    ("jinja-set", _with("instruction", "{% set x = 1 %}{{ x }}"), "instruction", "Assign"),
    ("jinja-namespace", _with("instruction", "{% set n = namespace() %}"), "instruction",
     "Assign"),
    ("jinja-macro", _with("instruction", "{% macro m() %}x{% endmacro %}"), "instruction",
     "Macro"),
    ("jinja-include", _with("instruction", "{% include '/etc/passwd' %}"), "instruction",
     "Include"),
    ("jinja-import", _with("instruction", "{% import 'x' as y %}"), "instruction", "Import"),
    ("jinja-extends", _with("instruction", "{% extends 'x' %}"), "instruction", "Extends"),
    ("jinja-filter-block", _with("instruction", "{% filter upper %}x{% endfilter %}"),
     "instruction", "FilterBlock"),
    ("jinja-with", _with("instruction", "{% with a = 1 %}{{ a }}{% endwith %}"), "instruction",
     "With"),
    ("jinja-long", _with("instruction", "{{ question }}" + "x" * 5000), "instruction", "4,096"),
    ("jinja-syntax", _with("instruction", "{{ question "), "instruction", "bad Jinja2"),
    ("jinja-answer", _with("answer.template", "{{ ().__class__ }}"), "answer.template",
     "__class__"),
    ("redos-nested", _regex("(a+)+$"), "answer.patterns[0].regex", "nested quantifier"),
    ("redos-nested-star", _regex("(\\d*)*x"), "answer.patterns[0].regex", "nested"),
    ("redos-nested-braces", _regex("(a{1,9}){1,9}$"), "answer.patterns[0].regex", "nested"),
    ("redos-alternation", _regex("(a|a)*$"), "answer.patterns[0].regex", "alternation"),
    ("redos-alt-words", _regex("(?:ab|a)+c"), "answer.patterns[0].regex", "alternation"),
    ("redos-backref", _regex("(a+)\\1"), "answer.patterns[0].regex", "back-reference"),
    ("redos-poly", _regex("\\d*\\d*\\d*\\d*\\d*x"), "answer.patterns[0].regex", "unbounded"),
    ("redos-lookahead", _regex("(?=(a+)+)b"), "answer.patterns[0].regex", "nested"),
    # the attacker round (issue 16): new inputs of the same classes, accepted before
    ("jinja-join-self", _with("instruction", "{{ question|join(question) }}"), "instruction",
     "join"),
    ("jinja-join-nested", _with("reference", "{{ answer|join(answer|join(answer)) }}"),
     "reference", "join"),
    ("redos-optional-in-repeat", _regex("(?:a?){30}a{30}"), "answer.patterns[0].regex",
     "nested"),
    ("regex-long", _regex("x" * 300), "answer.patterns[0].regex", "at most 256"),
    ("regex-broken", _regex("(unclosed"), "answer.patterns[0].regex", "bad regular"),
    ("regex-two-groups", _regex("(a)(b)"), "answer.patterns[0].regex", "capture group"),
    ("regex-fuzzy", _regex("(?:abcdefghijklmnop){e<=9}"), "answer.patterns[0].regex", "fuzzy"),
    ("regex-fuzzy-nested", _regex("(?:\\d+){e<=5}x"), "answer.patterns[0].regex", "fuzzy"),
    ("regex-fuzzy-class", _regex("[[:alpha:]]{e<=1}"), "answer.patterns[0].regex", "fuzzy"),
    ("regex-version1", _regex("(?V1)a"), "answer.patterns[0].regex", "bad regular"),
    ("regex-named-list", _regex("\\L<words>"), "answer.patterns[0].regex", "bad regular"),
    ("jinja-deep-parens", _with("instruction", "{{ " + "(" * 1500 + "question" + ")" * 1500
     + " }}"), "instruction", "nested too deeply"),
    ("jinja-deep-unary", _with("instruction", "{{ " + "-" * 3000 + "1 }}"), "instruction",
     "nested too deeply"),
    ("jinja-deep-add", _with("instruction", "{{ " + " + ".join(["question"] * 350) + " }}"),
     "instruction", "nested too deeply"),
    ("jinja-deep-list", _with("instruction", "{{ " + "[" * 1500 + "]" * 1500 + " }}"),
     "instruction", "nested too deeply"),
    ("ctrl-escape", _with("description", "a\x1b[31mred"), "description", "control"),
    ("ctrl-nul", _with("license", "MIT\x00"), "license", "control"),
    ("ctrl-bidi", _with("description", "abc\u202edef"), "description", "control"),
    ("ctrl-line-sep", _with("description", "a\u2028b"), "description", "control"),
    ("ctrl-stop", _with("generation.stop", ["\x07"]), "generation.stop[0]", "control"),
    ("ctrl-name", _with("name", "to\x7fy"), "name", "control"),
    ("tokens-huge", _with("generation.max_new_tokens", 10**9), "generation.max_new_tokens",
     "1000000000"),
    ("tokens-zero", _with("generation.max_new_tokens", 0), "generation.max_new_tokens", "0"),
    ("tokens-float", _with("generation.max_new_tokens", 1.5), "generation.max_new_tokens", "1.5"),
    ("tokens-bool", _with("generation.max_new_tokens", True), "generation.max_new_tokens",
     "True"),
    ("tokens-nan", TEXT.replace("max_new_tokens: 32", "max_new_tokens: .nan"),
     "generation.max_new_tokens", "nan"),
    ("range-inf", _with("splits.test.hash_range", [0, 1e400]), "splits.test.hash_range", "inf"),
    ("range-nan", _with("splits.test", {"files": ["a"], "hash_range": [0.5, float("nan")]}),
     "splits.test.hash_range", "nan"),
    ("path-dotdot", _with("splits.test.files", ["../../etc/passwd"]), "splits.test.files[0]",
     "../../etc/passwd"),
    ("path-absolute", _with("splits.test.files", ["/etc/passwd"]), "splits.test.files[0]",
     "/etc/passwd"),
    ("path-drive", _with("splits.test.files", ["C:/x"]), "splits.test.files[0]", "C:/x"),
    ("split-name", _with("splits", {"te st": {"files": ["a"]}}), "splits.te st", "te st"),
    ("unknown-field", TEXT + "exec: rm -rf /\n", "exec", "rm -rf"),
    ("format-unknown", _with("source.format", "pickle"), "source.format", "pickle"),
    ("name-mismatch", _with("name", "other"), "name", "other"),
    ("template-list", _with("instruction", ["a"]), "instruction", "['a']"),
    # invisible characters: every Unicode control, format and separator character
    ("ctrl-cr", _with("license", "GPL-3.0\rApache-2.0"), "license", "U+000D"),
    ("ctrl-lrm", _with("description", "a\u200eb"), "description", "U+200E"),
    ("ctrl-alm", _with("description", "a\u061cb"), "description", "U+061C"),
    ("ctrl-zwsp", _with("description", "a\u200bb"), "description", "U+200B"),
    ("ctrl-zwj", _with("instruction", "{{ question }}\u200d"), "instruction", "U+200D"),
    ("ctrl-bom", _with("description", "a\ufeffb"), "description", "U+FEFF"),
    ("ctrl-invisible-times", _with("description", "a\u2062b"), "description", "U+2062"),
    ("ctrl-c1", _with("description", "a\x85b"), "description", "U+0085"),
    # regexes: every op with a sub-pattern is walked; a huge count is an unbounded repeat
    ("redos-atomic", _regex("(?>(a+)+b)"), "answer.patterns[0].regex", "nested"),
    ("redos-atomic-alternation", _regex("(?>(a|a)*)c"), "answer.patterns[0].regex",
     "alternation"),
    ("regex-huge-counts", _regex("a{0,4294967294}b{0,5000}c{0,5000}d{0,5000}e{0,5000}x"),
     "answer.patterns[0].regex", "unbounded"),
    ("regex-huge-count-nested", _regex("(?:a{2000}){2}"), "answer.patterns[0].regex", "nested"),
    # YAML 1.1 integers other than decimal stay strings, and an integer field refuses them
    ("yaml-sexagesimal", TEXT.replace("max_new_tokens: 32", "max_new_tokens: 1:00"),
     "generation.max_new_tokens", "'1:00'"),
    ("yaml-hex", TEXT.replace("max_new_tokens: 32", "max_new_tokens: 0x7f"),
     "generation.max_new_tokens", "'0x7f'"),
    ("yaml-underscores", TEXT.replace("max_new_tokens: 32", "max_new_tokens: 1_2_8"),
     "generation.max_new_tokens", "'1_2_8'"),
    ("yaml-octal", TEXT.replace("max_new_tokens: 32", "max_new_tokens: 040"),
     "generation.max_new_tokens", "'040'"),
    ("yaml-binary", TEXT.replace("max_new_tokens: 32", "max_new_tokens: 0b100000"),
     "generation.max_new_tokens", "'0b100000'"),
]  # fmt: skip

# (id, file text or bytes, texts the error must name)
FILE_CASES = [
    ("duplicate-key", TEXT.replace("license: MIT", "license: MIT\nlicense: GPL"), "duplicate"),
    ("duplicate-nested", TEXT.replace("format: jsonl", "format: jsonl\n  format: xml"),
     "duplicate"),
    ("alias", TEXT + "a: &x [1]\nb: *x\n", "alias"),
    ("alias-recursive", TEXT + "a: &x [*x]\n", "alias"),
    ("deep-list", TEXT + "x: " + "[" * 200 + "]" * 200 + "\n", "nested deeper"),
    ("deep-map", TEXT + "x: " + "{a: " * 100 + "1" + "}" * 100 + "\n", "nested deeper"),
    ("python-tag", TEXT + "x: !!python/object/apply:os.system ['true']\n", "constructor"),
    ("big-int", TEXT.replace("max_new_tokens: 32", "max_new_tokens: " + "9" * 5000), "digits"),
    ("list-key", TEXT + "? [1]\n: 2\n", "invalid YAML"),
    ("not-utf8", TEXT.encode() + b"x: \xff\xfe\n", "not UTF-8"),
    ("oversized", TEXT + "#" * (1 << 20) + "\n", "over 1048576 bytes"),
    ("top-list", "- 1\n- 2\n", "mapping"),
    ("top-scalar", "hello\n", "mapping"),
    ("empty", "", "mapping"),
    ("tabs", "name:\ttoy\n\tx: 1\n", "invalid YAML"),
    ("flow-list-over-100k", TEXT + "x: [" + "0," * 100_000 + "0]\n", "100,000 values"),
    ("block-list-over-100k", TEXT + "x:\n" + "- 0\n" * 100_001, "100,000 values"),
]  # fmt: skip


def _folder(tmp_path, content):
    folder = tmp_path / "tasks"
    folder.mkdir()
    path = folder / "toy.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return folder


def test_the_good_spec_is_listed(tmp_path, capsys):
    folder = _folder(tmp_path, TEXT)
    assert main(["tasks", "--tasks-dir", str(folder)]) == 0
    assert "toy" in capsys.readouterr().out


@pytest.mark.parametrize(("text", "field", "value"), [c[1:] for c in FIELD_CASES],
                         ids=[c[0] for c in FIELD_CASES])  # fmt: skip
def test_a_hostile_field_is_refused_naming_file_field_and_value(
    tmp_path, capsys, text, field, value
):
    folder = _folder(tmp_path, text)
    refused(["tasks", "--tasks-dir", str(folder)], tmp_path, capsys, "toy.yaml", field, value)


@pytest.mark.parametrize(("content", "why"), [c[1:] for c in FILE_CASES],
                         ids=[c[0] for c in FILE_CASES])  # fmt: skip
def test_a_hostile_file_is_refused_naming_it(tmp_path, capsys, content, why):
    folder = _folder(tmp_path, content)
    refused(["tasks", "--tasks-dir", str(folder)], tmp_path, capsys, "toy.yaml", why)


def test_a_fifo_or_folder_named_like_a_spec_is_refused_without_blocking(tmp_path, capsys):
    folder = _folder(tmp_path, TEXT)
    (folder / "toy.yaml").unlink()
    import os

    os.mkfifo(folder / "toy.yaml")
    refused(["tasks", "--tasks-dir", str(folder)], tmp_path, capsys, "toy.yaml", "regular file")


def test_good_text_counts_and_integers_are_read(tmp_path, capsys):
    """Good-input controls: tabs, newlines and other scripts, a repeat count of 1,000, a signed
    decimal integer, and a list of 50,000 values pass."""
    from suite.specs import load_spec
    from suite.strict import read_yaml

    data = yaml.safe_load(TEXT)
    data["description"] = "Line one.\n\tLine two, in ünïcödé, ☃ and العربية."
    data["answer"]["patterns"] = [{"regex": r"#### (\d{1,1000})"}]
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    text = text.replace("max_new_tokens: 32", "max_new_tokens: +32")
    folder = _folder(tmp_path, text)
    spec = load_spec(folder / "toy.yaml")
    assert spec.max_new_tokens == 32 and spec.answer.patterns[0].regex == r"#### (\d{1,1000})"
    assert "\tLine two" in spec.description
    assert main(["tasks", "--tasks-dir", str(folder)]) == 0
    (tmp_path / "long.yaml").write_text("x: [" + "0," * 50_000 + "0]\n")
    assert len(read_yaml(tmp_path / "long.yaml", "a list")["x"]) == 50_001


def test_a_spec_file_name_with_escape_sequences_is_printed_escaped(tmp_path, capsys):
    folder = _folder(tmp_path, TEXT)
    (folder / "toy.yaml").rename(folder / "t\x1b]0;pwned\x07\x1b[2Jy.yaml")
    refused(["tasks", "--tasks-dir", str(folder)], tmp_path, capsys, "name", "'toy'",
            "t\\x1b]0;pwned\\x07\\x1b[2Jy.yaml")  # fmt: skip


def test_a_folder_of_over_1000_specs_is_refused_before_any_is_parsed(tmp_path, capsys):
    folder = _folder(tmp_path, TEXT)
    for i in range(1_000):
        (folder / f"x{i}.yml").write_text("not: [a, valid, spec\n")
    refused(["tasks", "--tasks-dir", str(folder)], tmp_path, capsys, "tasks", "tasks_dir",
            "1,000 task specs")  # fmt: skip


@pytest.mark.parametrize("caller", ["lm-eval", "quality", "align", "extract"])
def test_scoring_generations_shares_one_regex_budget_per_run(tmp_path, monkeypatch, caller):
    """Searches outside split loading (lm-eval's scores, quality's per-prompt answers, alignment
    rewards) were bounded only per search: they share one budget per spec and process now."""
    import suite.data as data
    from suite.errors import SpecError
    from suite.specs import load_spec

    folder = _folder(tmp_path, _regex(r"(\d+)"))
    spec = load_spec(folder / "toy.yaml")
    monkeypatch.setattr(data, "RUN_REGEX_SECONDS", 0.01)
    monkeypatch.setattr(data, "_RUN_BUDGETS", {})
    text = "1 2 3 " * 20_000  # each search is far under the 2 s clock

    def search():
        if caller == "lm-eval":
            from suite.lm_eval_hooks import score

            score(spec, {"answer": "1"}, text)
        elif caller == "align":
            from suite.distill.align import reward

            monkeypatch.setattr("suite.distill.align.load_task", lambda name: spec)
            reward(data.Example("0", "q", "q", "r", "1"), text, True, "toy")
        elif caller == "quality":
            from types import SimpleNamespace

            from suite.quality import _per_prompt

            record = SimpleNamespace(doc_id=0, seed=0, tokens=1, finish_reason="length")
            sample = {"doc_id": 0, "filtered_resps": [text], "doc": {"id": "0"}, "exact_match": 0}
            _per_prompt([sample], [record], spec)
        else:
            data.extract_answer(spec, text)

    with pytest.raises(SpecError) as err:
        for _ in range(1_000):
            search()
    assert err.value.field == "answer.patterns[0].regex" and err.value.value == r"(\d+)"
    assert "in all in this run" in str(err.value) and "toy.yaml" in str(err.value)
    (tmp_path / "other").mkdir()
    other = load_spec(_folder(tmp_path / "other", _regex(r"(\d+)")) / "toy.yaml")
    assert data.extract_answer(other, "#### 7") == "7"  # another spec: its own budget


# (id, instruction template that passes the reader but raises on a record, the error's name)
RENDER_CASES = [
    ("divisibleby-zero", "{{ question }}{{ 1 is divisibleby 0 }}", "ZeroDivisionError"),
    ("neg-string", "{{ -question }}", "TypeError"),
    ("sub-string", "{{ question - 1 }}", "TypeError"),
    ("round-string", "{{ question|round }}", "TypeError"),
    ("slice-step-zero", "{{ question[1:2:0] }}", "ValueError"),
    ("compare-types", "{% if question > 1 %}x{% endif %}", "TypeError"),
    ("first-on-int", "{{ 5|first }}", "TypeError"),
    ("float-nan", "{{ 'nan'|float is divisibleby 0 }}", "a number's text"),
]


@pytest.mark.parametrize(("template", "why"), [c[1:] for c in RENDER_CASES],
                         ids=[c[0] for c in RENDER_CASES])  # fmt: skip
def test_a_template_that_raises_on_a_record_is_refused_naming_file_field_and_value(
    tmp_path, capsys, monkeypatch, template, why
):
    folder = _folder(tmp_path, _with("instruction", template))
    data = tmp_path / "data" / "toy"
    data.mkdir(parents=True)
    (data / "test.jsonl").write_text('{"question": "2 + 2?", "solution": "#### 4"}\n')
    monkeypatch.setenv("SUITE_DATA_DIR", str(tmp_path / "data"))
    argv = ["tasks", "toy", "--tasks-dir", str(folder), "--split", "test", "--show", "1"]
    refused(argv, tmp_path, capsys, "toy.yaml", "'instruction'", template, why, "record 0")
