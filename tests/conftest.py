import pytest
import torch

# Tiny test models run several times faster on one thread than with intra-op parallelism.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _fresh_tokenizer_time():
    """Each test starts with this process's tokenizer time unspent (suite.deadline): a test of a
    slow tokenizer does not use up the budget of the tests after it."""
    from suite.deadline import reset_budget

    reset_budget()
    yield
