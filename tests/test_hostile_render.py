"""Inputs that fail only when a library reads or renders them: a YAML byte the reader refuses,
a tokenizer the tokenizers library refuses, a chat template that raises while rendering, and
command-line numbers of `generate` and `manifest`. Each is a SpecError naming file and field."""

from __future__ import annotations

import json
import shutil

import pytest
import yaml

from suite.cli import main
from suite.errors import SpecError
from tests.hostile import refused
from tests.test_hostile_inputs_more import REPO, TEXT, _parser_refused, _spec_folder

# folders built by hand: their plan is the one their run.json states (tests/conftest.py)
pytestmark = pytest.mark.usefixtures("hand_made_plan")

TOKENIZER = REPO / "reference" / "llama" / "tokenizer"


@pytest.mark.parametrize("raw", ["\x00", "\x07", "\ufffe"])
def test_a_character_the_yaml_reader_refuses_names_the_file(tmp_path, capsys, raw):
    """The reader refused these as it was made, outside the error handling: a traceback."""
    text = TEXT.replace("license: MIT", f"license: MIT  # a comment {raw}")
    folder = _spec_folder(tmp_path, text)
    refused(["tasks", "--tasks-dir", str(folder)], tmp_path, capsys, "toy.yaml", "invalid YAML")


def _tokenizer(tmp_path, *, added_id=None, chat_template=None):
    folder = tmp_path / "tok"
    shutil.copytree(TOKENIZER, folder)
    if added_id is not None:
        data = json.loads((folder / "tokenizer.json").read_text())
        data["added_tokens"][0]["id"] = added_id
        (folder / "tokenizer.json").write_text(json.dumps(data))
    if chat_template is not None:
        config = json.loads((folder / "tokenizer_config.json").read_text())
        config["chat_template"] = chat_template
        (folder / "tokenizer_config.json").write_text(json.dumps(config))
    return folder


def test_a_tokenizer_the_library_refuses_names_its_folder(tmp_path):
    from suite.models import load_tokenizer

    folder = _tokenizer(tmp_path, added_id=2**40)
    with pytest.raises(SpecError, match="the tokenizer does not load") as err:
        load_tokenizer(folder)
    assert err.value.path == folder and err.value.field == "tokenizer"
    assert load_tokenizer(_tokenizer(tmp_path / "good")) is not None  # control


@pytest.mark.parametrize(
    "template",
    [
        "{{ raise_exception('boom') }}",
        "{% for m in messages %}{{ loop.index0 % 0 }}{% endfor %}",
        "{{ messages[5].content }}",
    ],
)
def test_a_chat_template_that_fails_to_render_names_the_tokenizer(tmp_path, template):
    from suite.models import load_tokenizer
    from suite.prompts import _chat_ids

    tokenizer = load_tokenizer(_tokenizer(tmp_path, chat_template=template))
    with pytest.raises(SpecError, match="the chat template fails to render") as err:
        _chat_ids(tokenizer, "hi")
    assert err.value.field == "chat_template" and err.value.value == template


def test_a_chat_template_that_renders_gives_ids(tmp_path):
    from suite.models import load_tokenizer
    from suite.prompts import _chat_ids

    template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    tokenizer = load_tokenizer(_tokenizer(tmp_path, chat_template=template))
    assert _chat_ids(tokenizer, "hi") == tokenizer("hi", add_special_tokens=False)["input_ids"]


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["generate", "--target", "t", "--max-new-tokens", "1000000000", "hi"], "--max-new-tokens"),
        (["generate", "--target", "t", "--max-new-tokens", "0", "hi"], "--max-new-tokens"),
        (["generate", "--target", "t", "--seed", str(2**70), "hi"], "--seed"),
        (["generate", "--target", "t", "--seed", "-1", "hi"], "--seed"),
        (["manifest", "--prompts", "-5"], "--prompts"),
        (["manifest", "--prompts", "0"], "--prompts"),
    ],
)
def test_generate_and_manifest_numbers_are_bounded(capsys, argv, named):
    _parser_refused(argv, capsys, f"argument {named}: ", argv[argv.index(named) + 1])


def test_generate_and_manifest_take_numbers_in_range():
    from suite.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["generate", "--target", "t", "--max-new-tokens", "8192", "hi"])
    assert args.max_new_tokens == 8192
    args = parser.parse_args(["generate", "--target", "t", "--seed", str(2**32 - 1), "hi"])
    assert args.seed == 2**32 - 1
    assert parser.parse_args(["manifest", "--prompts", "48"]).prompts == 48


def _results(tmp_path, name):
    """A results folder of one record."""
    from tests.test_hostile_results import LINE
    from tests.test_records import header_planning

    folder = tmp_path / name
    folder.mkdir()
    (folder / "run.json").write_text(json.dumps(header_planning(LINE)))
    (folder / "cells.jsonl").write_text(LINE + "\n")
    return folder


def test_a_report_into_another_runs_folder_is_refused(tmp_path, capsys):
    """It overwrote the other run's report.html with this run's results."""
    ours, theirs = _results(tmp_path, "ours"), _results(tmp_path, "theirs")
    refused(["report", str(ours), "--out", str(theirs)], tmp_path, capsys, "--out",
            str(theirs), "another run's results")  # fmt: skip
    assert main(["report", str(ours), "--out", str(tmp_path / "new")]) == 0  # control
    assert (tmp_path / "new" / "report.html").is_file()


def test_a_run_into_a_submission_folder_is_refused(tmp_path, capsys):
    folder = tmp_path / "sub"
    shutil.copytree(REPO / "submissions" / "example-base-copy", folder, dirs_exist_ok=True)
    refused(["run", "leaderboard", "--profile", "smoke", "--out", str(folder)], tmp_path,
            capsys, "'out'", "a submission or model folder")  # fmt: skip


def test_an_id_file_that_is_not_text_names_the_spec_field(tmp_path, capsys):
    """A gzip file as a split's id list ended in a bare codec error naming no file."""
    spec = yaml.safe_load(TEXT)
    spec["splits"]["test"] = {
        "files": ["gsm8k/test.jsonl"],
        "id_field": "question",
        "id_files": ["humaneval/HumanEval.jsonl.gz"],
    }
    spec["reference"] = spec["answer"]["template"] = "{{ answer }}"
    folder = _spec_folder(tmp_path, yaml.safe_dump(spec))
    refused(["tasks", "toy", "--show", "1", "--tasks-dir", str(folder)], tmp_path, capsys,
            "toy.yaml", "'splits.test.id_files[0]'", "not UTF-8")  # fmt: skip


def test_a_chat_template_file_that_is_not_utf8_is_refused_when_the_profile_is_read(tmp_path):
    """It passed the check (read with replacement characters), then failed in transformers."""
    from suite.profiles import _chat_templates
    from suite.specs import Reader

    folder = _tokenizer(tmp_path)
    (folder / "chat_template.jinja").write_bytes(b"{{ messages[0]['content'] }}\xff\xfe")
    with pytest.raises(SpecError, match="not UTF-8 text") as err:
        _chat_templates(Reader(tmp_path / "p.yaml"), folder, "models.llama.tokenizer.path", "x")
    assert err.value.field == "models.llama.tokenizer.path"
    (folder / "chat_template.jinja").write_text("{{ messages[0]['content'] }}")  # control
    _chat_templates(Reader(tmp_path / "p.yaml"), folder, "models.llama.tokenizer.path", "x")
