"""What a pretraining recipe asks of its training data, checked with the tokenizer its models
train with: the texts, their encoding, and whether a block or an ``align`` pool fits them. Read
by the recipe check and by ``train``; it imports neither."""

from __future__ import annotations

from suite.data import load_examples
from suite.distill.loop import train_config
from suite.errors import SpecError
from suite.prompts import encode_texts
from suite.specs import format_prompt, format_training_text


def training_pairs(datasets: list[str], split: str) -> list[tuple[str, str]]:
    """(instruction, response) pairs of the given datasets; records without a reference skipped."""
    return [
        (ex.instruction, ex.reference)
        for name in datasets
        for ex in load_examples(name, split)
        if ex.reference
    ]


def encode_pairs(tokenizer, pairs) -> list[list[int]]:
    eos = tokenizer.eos_token_id
    texts = [format_training_text(i, r) for i, r in pairs]
    return [[*ids, eos] for ids in encode_texts(tokenizer, texts)]


CHECK_TEXTS = 256  # texts encoded at a time by check_data, which stops once it knows


def check_data(recipe: dict, tokenizer) -> None:
    """What the recipe asks of its training data, checked with the tokenizer the models train
    with before any model trains: each Llama's ``block_size`` + 1 tokens fit in the packed
    training texts (else there is no block to train on), and each ``align`` pool fills with
    prompts of at most ``max_prompt_tokens`` tokens. Refusals name the recipe and the field."""
    path, datasets = recipe["_path"], recipe["datasets"]
    blocks = {
        role: train_config(spec["train"], path).block_size
        for role, spec in recipe["models"].items()
        if recipe["architecture"] != "t5"
    }
    if blocks:
        pairs, total, need = training_pairs(datasets, "train"), 0, max(blocks.values()) + 1
        for start in range(0, len(pairs), CHECK_TEXTS):
            if total >= need:
                break
            total += sum(map(len, encode_pairs(tokenizer, pairs[start : start + CHECK_TEXTS])))
        for role, block in blocks.items():
            if block + 1 > total:
                raise block_error(recipe, role, block, total)
    for role, spec in recipe["models"].items():
        if "align" in spec:
            _check_pool(recipe, role, spec["align"], tokenizer)
    recipe["_data_checked"] = True


def block_error(recipe: dict, role: str, block: int, total: int) -> SpecError:
    message = (
        f"the training texts ({', '.join(recipe['datasets'])}) come to {total:,} tokens, fewer "
        "than one block of block_size + 1"
    )
    return SpecError(recipe["_path"], f"models.{role}.train.block_size", block, message)


def _check_pool(recipe: dict, role: str, spec: dict, tokenizer) -> None:
    """Each dataset holds ``prompts_per_dataset`` training prompts that fit ``max_prompt_tokens``
    (which ones a round's seed draws; that enough fit does not depend on it)."""
    size, most = spec["prompts_per_dataset"], spec["max_prompt_tokens"]
    for dataset in recipe["datasets"]:
        texts = [format_prompt(ex.instruction) for ex in load_examples(dataset, "train")
                 if ex.reference]  # fmt: skip
        fit = 0
        for start in range(0, len(texts), CHECK_TEXTS):
            if fit >= size:
                break
            ids = encode_texts(tokenizer, texts[start : start + CHECK_TEXTS])
            fit += sum(len(row) <= most for row in ids)
        if fit < size:
            message = (
                f"only {fit:,} of {dataset}'s training prompts fit in it; "
                f"prompts_per_dataset asks for {size:,}"
            )
            raise SpecError(recipe["_path"], f"models.{role}.align.max_prompt_tokens", most,
                            message)  # fmt: skip
