"""A profile whose max_new_tokens reaches its local target's max_position_embeddings is refused
when it is read, naming the field and the value: a prompt and its answer must fit the positions
the target was built for."""

from __future__ import annotations

from suite.profiles import load_profile_file
from tests.hostile import refused
from tests.test_hostile_round5_tokenizers import _argv
from tests.test_hostile_tokenizer_ids import _case


def test_max_new_tokens_at_the_targets_positions_is_refused(tmp_path, capsys):
    profile, study = _case(tmp_path)
    text = profile.read_text()
    old = "empirical: {prompts: 1, seeds: 1, max_new_tokens: 4}"
    profile.write_text(text.replace(old, old.replace(" 4}", " 1024}")))
    expected = ("sizes.empirical.max_new_tokens", "1024", "max_position_embeddings (1,024)")
    refused(_argv(tmp_path, study, profile), tmp_path, capsys, "p.yaml", *expected)
    profile.write_text(text.replace("max_new_tokens: 4}", "max_new_tokens: 1023}"))
    assert load_profile_file(profile).sizes["empirical"].max_new_tokens == 1023
