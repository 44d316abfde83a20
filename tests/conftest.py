import atexit
import os
import shutil
import tempfile

import pytest
import torch

# Submit's private model copies and their locks go to a folder of this test session, not the
# user's cache (read when suite.submissions is first imported, after this).
_CACHE = tempfile.mkdtemp(prefix="suite-submissions-")
os.environ["SUITE_SUBMISSION_CACHE"] = _CACHE
atexit.register(shutil.rmtree, _CACHE, True)

# Tiny test models run several times faster on one thread than with intra-op parallelism.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _fresh_tokenizer_time():
    """Each test starts with this process's tokenizer time unspent (suite.deadline): a test of a
    slow tokenizer does not use up the budget of the tests after it."""
    from suite.deadline import reset_budget

    reset_budget()
    yield


@pytest.fixture
def hand_made_plan(monkeypatch):
    """For tests of folders built by hand (records of no study's plan, to test what the report
    does with them): the report takes the plan their run.json states, as it did before it
    rebuilt the plan from the study files. The rebuilt plan is tested on folders of real runs
    (tests/test_hostile_round30.py)."""
    plan_of_header(monkeypatch)


def plan_of_header(patch: pytest.MonkeyPatch) -> None:
    """:func:`hand_made_plan`'s patch, for a fixture of a wider scope to apply with its own."""
    from suite.report import folder

    patch.setattr(folder, "rebuilt_plan", lambda *args, **kwargs: None)
    patch.setattr(folder, "check_against_plan", lambda *args, **kwargs: None)
    patch.setattr(folder, "check_prompts_against_plan", lambda *args, **kwargs: None)
