"""A tokenizer's chat template cannot make a prompt of hundreds of megabytes: the Rust tokenizer
aborted the whole process on one (rc 134, "memory allocation failed"), leaving a results folder.
Three layers refuse it, each naming the file, the field and the value with nothing written:

1. every special or added token a tokenizer folder names is at most 256 characters (checked when
   a profile is read, when a submission ships a tokenizer and at every tokenizer load);
2. the template's output is bounded on its syntax tree (a special token counts 256 characters, a
   constant its length, ``join`` multiplies) and refused past 256 KiB besides the messages;
3. the rendered text is capped before it is tokenized, whatever the bound misses.

Cases that were bombs before run in a subprocess under a 3 GiB address-space cap and a timeout."""

from __future__ import annotations

import subprocess
import sys

import pytest

from suite.errors import SpecError
from suite.profiles import load_profile_file
from suite.sandbox import chat_template_refusal
from tests.hostile import refused, snapshot
from tests.test_hostile_inputs_more import REPO, _cli, _limit
from tests.test_hostile_tokenizer_ids import _case
from tests.test_paper_rehearsal import LLAMA_2_CHAT_TEMPLATE

MAX_SPECIAL_TOKEN_CHARS = 256  # suite.chat_output's caps, as docs/reference.md states them
MAX_RENDERED_CHARS = 1 << 20
CONTENT = "{% for m in messages %}{{ m.content }}{% endfor %}"
CONST_JOIN = "{% set a = '" + "x" * 1000 + "' %}{% set b = a|join('" + "x" * 16 + "') %}"
CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + "
    "message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
LLAMA_3 = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'"
    "+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}"
    "{% endif %}"
)
GEMMA = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}"
    "{{ raise_exception('System role not supported') }}{% endif %}"
    "{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}"
    "{% endif %}{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}"
    "{% set role = message['role'] %}{% endif %}{{ '<start_of_turn>' + role + '\n' + "
    "message['content'] | trim + '<end_of_turn>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}"
)
ZEPHYR = (
    "{% for message in messages %}\n{% if message['role'] == 'user' %}\n"
    "{{ '<|user|>\n' + message['content'] + eos_token }}\n{% elif message['role'] == 'system' %}\n"
    "{{ '<|system|>\n' + message['content'] + eos_token }}\n"
    "{% elif message['role'] == 'assistant' %}\n"
    "{{ '<|assistant|>\n'  + message['content'] + eos_token }}\n{% endif %}\n"
    "{% if loop.last and add_generation_prompt %}\n{{ '<|assistant|>' }}\n{% endif %}\n"
    "{% endfor %}"
)
REAL_TEMPLATES = [LLAMA_2_CHAT_TEMPLATE, CHATML, LLAMA_3, GEMMA, ZEPHYR]


def _token(data, config, field: str, text: str) -> None:
    """``text`` as an added special token of ``tokenizer.json`` in place of the last BPE token
    (its id and its merge), so it is a token of the vocabulary as the vocabulary check wants,
    and as ``field`` of the config."""
    model = data["model"]
    last = max(model["vocab"], key=model["vocab"].get)
    token_id = model["vocab"].pop(last)
    model["merges"] = [m for m in model["merges"] if "".join(m) != last]
    data["added_tokens"].append({"id": token_id, "content": text, "single_word": False,
                                 "lstrip": False, "rstrip": False, "normalized": False,
                                 "special": True})  # fmt: skip
    if field == "additional_special_tokens":
        config[field] = [text]
    elif field == "extra_special_tokens":
        config[field] = {"image_token": text}
    elif field != "added_tokens":
        config[field] = text


def _change(template: str | None = None, field: str | None = None, text: str = ""):
    def change(data, config):
        if field is not None:
            _token(data, config, field, text)
        if template is not None:
            config["chat_template"] = template

    return change


def _argv(tmp_path, change) -> list[str]:
    profile, study = _case(tmp_path, change)
    return ["run", str(study), "--profile", str(profile), "--quiet", "--out", str(tmp_path / "o")]


# --- the reproducers: each rendered 200 MB (or 8 GB) and aborted the process -----------------
BOMBS = [
    ("bos-rep2", _change(CONTENT + "{{ bos_token }}" * 4000, "bos_token", "B" * 50_000),
     ("tokenizer_config.json", "'bos_token'", "BBBB", "at most 256 characters")),
    ("bos-rep", _change(CONTENT + "{{ bos_token }}" * 4000, "bos_token", "B" * 2_000_000),
     ("tokenizer_config.json", "'bos_token'", "BBBB", "at most 256 characters")),
    ("const-join-rep", _change(CONST_JOIN + CONTENT + "{{b}}" * 12_000),
     ("tokenizer_config.json", "chat_template", "the output can reach 204,0")),
    ("short-bos-rep", _change(CONTENT + "{{ bos_token }}" * 4000, "bos_token", "B" * 200),
     ("tokenizer_config.json", "chat_template", "the output can reach 1,024,", "over 262,144")),
    ("bos-join-rep", _change(CONTENT + ("{{ bos_token|join('" + "y" * 16 + "') }}") * 1000,
                             "bos_token", "<s>"),
     ("tokenizer_config.json", "chat_template", "the output can reach 4,352,")),
]  # fmt: skip


@pytest.mark.parametrize(("change", "named"), [b[1:] for b in BOMBS], ids=[b[0] for b in BOMBS])
def test_a_chat_template_that_makes_a_huge_prompt_is_refused_when_the_profile_is_read(
    tmp_path, change, named
):
    argv = _argv(tmp_path, change)
    _cli(argv, tmp_path, "p.yaml", "models.llama.tokenizer", *named, timeout=180)


# --- layer 1: special and added tokens ---------------------------------------------------------
LONG = "<|" + "x" * MAX_SPECIAL_TOKEN_CHARS + "|>"
TOKENS = [
    ("eos", "eos_token", "tokenizer_config.json", "'eos_token'"),
    ("additional", "additional_special_tokens", "tokenizer_config.json",
     "'additional_special_tokens[0]'"),
    ("extra", "extra_special_tokens", "tokenizer_config.json",
     "'extra_special_tokens.image_token'"),
    ("added", "added_tokens", "tokenizer.json", "'added_tokens[2].content'"),
]  # fmt: skip


@pytest.mark.parametrize(("field", "file", "named"), [t[1:] for t in TOKENS],
                         ids=[t[0] for t in TOKENS])  # fmt: skip
def test_a_special_token_over_the_cap_is_refused_when_the_profile_is_read(
    tmp_path, capsys, field, file, named
):
    argv = _argv(tmp_path, _change(CHATML, field, LONG))
    refused(argv, tmp_path, capsys, "p.yaml", "models.llama.tokenizer", file, named, "<|xxxx",
            f"at most {MAX_SPECIAL_TOKEN_CHARS} characters")  # fmt: skip


def test_a_loaded_or_shipped_tokenizer_with_a_long_special_token_is_refused(tmp_path):
    """The same cap where a tokenizer is loaded (a Hub tokenizer's) and where a submission ships
    one, before it is loaded."""
    from suite.models import load_tokenizer
    from suite.submissions import _same_vocabulary

    _case(tmp_path, _change(None, "bos_token", LONG))
    folder = tmp_path / "tok"
    with pytest.raises(SpecError, match="at most 256 characters") as err:
        load_tokenizer(folder)  # tokenizer.json's own rules run first: its added token
    assert err.value.path == folder / "tokenizer.json" and err.value.value == LONG
    assert err.value.field.startswith("added_tokens[")
    with pytest.raises(SpecError, match="at most 256 characters") as err:
        _same_vocabulary(folder, {}, None, "llama")
    assert err.value.path == folder / "tokenizer_config.json" and err.value.field == "bos_token"


# --- layer 2: the bound on the syntax tree ----------------------------------------------------
def test_a_constant_join_repeated_is_refused_on_the_tree():
    """340 KB from 1,000 characters joined with 16 between each and printed 20 times: no special
    token, no copy of the messages, only constants."""
    problem = chat_template_refusal(CONST_JOIN + CONTENT + "{{ b }}" * 20)
    assert problem is not None and "the output can reach 340,0" in problem
    assert chat_template_refusal(CONST_JOIN + CONTENT + "{{ b }}" * 10) is None  # 170 KB


def test_a_loops_message_counts_as_a_copy_of_the_messages():
    """The loop's variable holds one message: printed 100 times it is 100 copies (it counted
    none before, whatever the loop printed)."""
    problem = chat_template_refusal("{% for m in messages %}" + "{{ m.content }}" * 100
                                    + "{% endfor %}")  # fmt: skip
    assert problem is not None and "over 64 copies of the messages" in problem
    unpacked = "{% for role, text in messages %}" + "{{ text }}" * 100 + "{% endfor %}"
    assert "over 64 copies" in (chat_template_refusal(unpacked) or "")
    assert chat_template_refusal("{% for m in messages %}{{ m.content }}{% endfor %}") is None


# --- layer 3: the rendered text is capped before it is tokenized ------------------------------
BYPASS = """import sys
import suite.profiles, suite.prompts
suite.profiles.chat_template_refusal = suite.prompts.chat_template_refusal = lambda value: None
from suite.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_the_rendered_prompt_is_capped_when_the_tree_check_is_bypassed(tmp_path):
    """The tree check returns None (as if it missed the template): the render, not the Rust
    tokenizer, refuses the 1.19 MB prompt; the run leaves nothing behind."""
    argv = _argv(tmp_path, _change(CONST_JOIN + CONTENT + "{{ b }}" * 70))
    before = snapshot(tmp_path)
    proc = subprocess.run([sys.executable, "-c", BYPASS, *argv], cwd=REPO, capture_output=True,
                          text=True, timeout=180, preexec_fn=_limit)  # fmt: skip
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    for text in (str(tmp_path / "tok"), "'chat_template'", "{% set a = 'xxx", "renders 1,18"):
        assert text in proc.stderr, (text, proc.stderr[-2000:])
    assert f"over {MAX_RENDERED_CHARS:,}"[:9] in proc.stderr
    assert snapshot(tmp_path) == before


def test_the_render_cap_in_process(tmp_path, monkeypatch):
    """The cap on a rendered prompt, lowered to 100,000 characters: a 169 KB prompt the tree
    check lets through is refused before it is tokenized."""
    from suite import chat_output
    from suite.models import load_tokenizer
    from suite.prompts import _chat_ids

    template = CONST_JOIN + CONTENT + "{{ b }}" * 10
    _case(tmp_path, _change(template))
    tokenizer = load_tokenizer(tmp_path / "tok")
    monkeypatch.setattr(chat_output, "MAX_RENDERED_CHARS", 100_000)
    with pytest.raises(SpecError, match="renders 169,8") as err:
        _chat_ids(tokenizer, "hi")
    assert err.value.field == "chat_template" and err.value.value == template
    assert str(tmp_path / "tok") in str(err.value) and "refused before tokenizing" in str(err.value)


def test_a_render_error_is_cut():
    """A template that raises with the message's text (here 100,000 characters) is named with its
    error cut, not printed whole."""
    from suite.models import load_tokenizer
    from suite.prompts import _chat_ids

    tokenizer = load_tokenizer(REPO / "reference" / "llama" / "tokenizer")
    tokenizer.chat_template = "{% for m in messages %}{{ raise_exception(m.content) }}{% endfor %}"
    with pytest.raises(SpecError, match="fails to render: TemplateError: zzz") as err:
        _chat_ids(tokenizer, "z" * 100_000)
    assert len(str(err.value)) < 1_000


# --- controls -----------------------------------------------------------------------------------
def test_real_chat_templates_and_a_token_at_the_cap_pass(tmp_path):
    for template in REAL_TEMPLATES:
        assert chat_template_refusal(template) is None, template
    edge = "<|" + "x" * (MAX_SPECIAL_TOKEN_CHARS - 4) + "|>"
    profile, _ = _case(tmp_path, _change(LLAMA_2_CHAT_TEMPLATE, "bos_token", edge))
    assert load_profile_file(profile).models["llama"].tokenizer.path == tmp_path / "tok"


@pytest.mark.parametrize("family", ["llama", "t5"])
@pytest.mark.parametrize("template", [LLAMA_2_CHAT_TEMPLATE, CHATML, ZEPHYR],
                         ids=["llama-2", "chatml", "zephyr"])  # fmt: skip
def test_chat_ids_are_what_apply_chat_template_gives(family, template):
    """Rendered, capped, then tokenized: the same ids as ``apply_chat_template(tokenize=True)``
    on the bundled tokenizers (the paper rehearsal's is the Llama one with Llama-2's template)."""
    from suite.models import load_tokenizer
    from suite.prompts import _chat_ids

    tokenizer = load_tokenizer(REPO / "reference" / family / "tokenizer")
    tokenizer.chat_template = template
    for text in ("hi", "  What is 2+2?\n", "a </s> <s> [INST] <|endoftext|>", "ünïcödé 日本語", ""):
        messages = [{"role": "user", "content": text}]
        want = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        want = want["input_ids"] if hasattr(want, "keys") else want
        assert _chat_ids(tokenizer, text) == [int(t) for t in want], text
