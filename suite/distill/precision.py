"""Where distillation runs and in what precision: ``--device`` and ``--dtype`` of ``suite distill``.

The target (teacher) is loaded in the dtype asked for; the draft (student) keeps float32 master
weights, computes under autocast to that dtype, and is saved in float32. float16 scales the loss
(a ``GradScaler``) so small gradients do not flush to zero. The default, CPU float32, is the
plain loop: no autocast, no scaling, the same weights as before these options existed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
_CUDA = re.compile(r"cuda(:[0-9]{1,4})?", re.ASCII)  # ASCII digits: int() reads "٠" too


def check_device(value: str) -> str:
    """``cpu``, or ``cuda`` / ``cuda:N`` naming a GPU torch can see; ValueError otherwise."""
    if value == "cpu":
        return value
    if not isinstance(value, str) or not _CUDA.fullmatch(value):
        raise ValueError(f"expected cpu, cuda or cuda:N, got {value!r}")
    if not torch.cuda.is_available():
        raise ValueError(f"{value!r} needs a CUDA GPU and torch sees none; use cpu")
    index = int(value.partition(":")[2] or 0)
    if index >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise ValueError(
            f"{value!r}: torch sees {count} CUDA device(s), cuda:0 to cuda:{count - 1}"
        )
    return value


@dataclass(frozen=True)
class Precision:
    """The device both models run on and the dtype of the target and of the draft's autocast."""

    device: str = "cpu"
    dtype: str = "float32"

    def __post_init__(self) -> None:
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {list(DTYPES)}, got {self.dtype!r}")

    @property
    def torch_dtype(self) -> torch.dtype:
        return DTYPES[self.dtype]

    @property
    def is_default(self) -> bool:
        """CPU float32: the precision the bundled drafts were built in."""
        return self.device == "cpu" and self.dtype == "float32"

    @property
    def label(self) -> str:
        """``cuda-bfloat16``: keeps checkpoints of other precisions apart from the default's."""
        return f"{self.device.replace(':', '')}-{self.dtype}"

    def autocast(self) -> torch.autocast:
        """The draft's forward passes in ``dtype``; off (a no-op) for float32."""
        device_type = torch.device(self.device).type
        return torch.autocast(device_type, self.torch_dtype, enabled=self.dtype != "float32")

    def scaler(self) -> torch.amp.GradScaler:
        """Loss scaling for float16 only; disabled, every call passes through unchanged."""
        device_type = torch.device(self.device).type
        return torch.amp.GradScaler(device_type, enabled=self.dtype == "float16")


CPU_FLOAT32 = Precision()


def model_device(model) -> torch.device:
    return next(model.parameters()).device


def to_device(batch, device: torch.device):
    """A batch's tensors on ``device`` (a tensor, or a dict of them); anything else as it is."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device)
    if isinstance(batch, dict):
        return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
    return batch
