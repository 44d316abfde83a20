"""A safetensors file read from its header alone: every tensor's name, dtype and shape, with no
tensor read. The header is strict JSON (a name twice is refused: the library keeps the last)
and bounded in size."""

from __future__ import annotations

from pathlib import Path

from suite.errors import SpecError, cut
from suite.strict import loads_json

FLOAT_DTYPES = ("F16", "BF16", "F32", "F64")  # safetensors' names; anything else is refused


def weight_shapes(files: list[Path], field: str = "model") -> dict[str, tuple[int, ...]]:
    """Every tensor's name and shape from the safetensors headers alone: no tensor is read. A
    name in two files is refused (one would silently replace the other)."""
    from safetensors import safe_open

    shapes: dict[str, tuple[int, ...]] = {}
    held: dict[str, Path] = {}
    for path in files:
        _check_header(path, field)
        try:
            with safe_open(str(path), framework="pt") as fh:
                for key in fh.keys():  # noqa: SIM118 (safe_open has no __iter__)
                    part = fh.get_slice(key)
                    dtype = part.get_dtype()
                    if dtype not in FLOAT_DTYPES:
                        message = f"dtype {dtype}; weights must be {', '.join(FLOAT_DTYPES)}"
                        raise SpecError(path, key, dtype, message)
                    if key in held:
                        message = f"this tensor is in {held[key].name} too: ship each tensor once"
                        raise SpecError(path, "tensor", key, message)
                    held[key] = path
                    shapes[key] = tuple(part.get_shape())
        except SpecError:
            raise
        except Exception as err:  # safetensors raises its own error type for a bad header
            message = f"not a readable safetensors file: {err}"
            raise SpecError(path, field, path.name, message) from None
    return shapes


# A header lists each tensor in ~100 bytes (a 70B Llama's 723 tensors: 80 KB in all); the
# library takes 100 MB, which costs a strict parse and every open tens of seconds.
MAX_HEADER_BYTES = 8 << 20


def _check_header(path: Path, field: str) -> None:
    """A safetensors header is strict JSON: a tensor named twice (the library keeps the last)
    or any other duplicate key is refused, naming it."""
    with path.open("rb") as fh:
        head = fh.read(8)
        size = int.from_bytes(head, "little") if len(head) == 8 else -1
        if not 0 < size <= MAX_HEADER_BYTES:
            message = f"not a readable safetensors file: header size {size:,}"
            if size > MAX_HEADER_BYTES:
                message += f" bytes, over {MAX_HEADER_BYTES:,} (tensors need a few KB)"
            raise SpecError(path, field, path.name, message)
        raw = fh.read(size)
    try:
        loads_json(raw)
    except ValueError as err:  # a FieldError names its field; the rest (duplicates) the text
        message = f"not a readable safetensors file: its header: {cut(str(err), 200)}"
        raise SpecError(path, field, path.name, message) from None
