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
