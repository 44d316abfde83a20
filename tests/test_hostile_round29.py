"""Inputs of the twenty-ninth attack, and one left from earlier rounds: a config stating two
dtypes. Each case failed on the commit before its fix."""

from __future__ import annotations

import json

import pytest

from tests.hostile import refused
from tests.test_submissions import tiny  # noqa: F401 (fixture)


@pytest.mark.parametrize(
    ("stated", "ok"),
    [({"dtype": "float32", "torch_dtype": "bfloat16"}, False),
     ({"dtype": "bfloat16", "torch_dtype": "float32"}, False),
     ({"dtype": "float32", "torch_dtype": "float32"}, True),
     ({"dtype": None, "torch_dtype": "float32"}, True)],
    ids=["two-dtypes", "two-dtypes-swapped", "one-dtype-twice", "one-null"],
)  # fmt: skip
def test_a_submitted_config_states_one_dtype(stated, ok, tiny, tmp_path, capsys):  # noqa: F811
    from suite.cli import main
    from tests.test_hostile_round18_submissions import _check
    from tests.test_submissions import _copy

    folder = _copy(tiny, tmp_path / "s")
    path = folder / "model" / "config.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | stated))
    if ok:
        assert main(_check(folder, tiny)) == 0
    else:
        refused(_check(folder, tiny), tmp_path, capsys, "config.json", "'torch_dtype'",
                repr(stated["torch_dtype"]))  # fmt: skip
