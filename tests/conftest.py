import torch

# Tiny test models run several times faster on one thread than with intra-op parallelism.
torch.set_num_threads(1)
