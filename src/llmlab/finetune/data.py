"""Domain data for fine-tuning: a corpus split by document, tokenised by the base model's tokenizer,
packed into fixed-length blocks.

    data = domain_data("python-docs", tokenizer, block_size=256)
    data.train_ids                 # (N,) int array: every train document + EOS, concatenated
    data.dataset("train")          # datasets.Dataset {input_ids, labels} of block_size tokens (HF Trainer)
    data.windows("train", 8, 0)    # llmlab.training.TokenWindows over the same tokens (llmlab's loop)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from llmlab.errors import LabError


def encode_documents(texts: list[str], tokenizer: Any) -> np.ndarray:
    """Each document's ids followed by the end-of-text id, all concatenated: (N,) int64."""
    eos = tokenizer.eos_token_id
    ids: list[int] = []
    # verbose=False: documents are longer than the model's context by design; blocks cut them later
    for row in tokenizer(texts, add_special_tokens=False, verbose=False)["input_ids"]:
        ids.extend(row)
        if eos is not None:
            ids.append(eos)
    return np.asarray(ids, dtype=np.int64)


@dataclass
class DomainData:
    corpus: str
    train_ids: np.ndarray
    val_ids: np.ndarray
    block_size: int
    val_blocks: int

    def blocks(self, split: str) -> np.ndarray:
        """Non-overlapping blocks (n, block_size); the val split keeps its first `val_blocks`."""
        ids = self.train_ids if split == "train" else self.val_ids
        n = len(ids) // self.block_size
        out = ids[:n * self.block_size].reshape(n, self.block_size)
        return out if split == "train" else out[:self.val_blocks]

    def dataset(self, split: str) -> Any:
        """A `datasets.Dataset` for the HF Trainer: labels = input_ids (the model shifts them), but with
        labels[0] = -100. The first label is never a target after the shift; the Trainer counts the tokens
        of a batch on the unshifted labels, so without this its losses come out (T-1)/T too small."""
        from datasets import Dataset

        blocks = self.blocks(split)
        labels = blocks.copy()
        labels[:, 0] = -100
        return Dataset.from_dict({"input_ids": blocks.tolist(), "labels": labels.tolist()})

    def windows(self, split: str, batch_size: int, seed: int) -> Any:
        """The same tokens as llmlab.training batches: random windows of block_size + 1."""
        from llmlab.training import TokenWindows

        return TokenWindows(self.train_ids if split == "train" else self.val_ids, self.block_size, batch_size,
                            seed=seed)

    def info(self) -> dict[str, int]:
        return {"train_tokens": len(self.train_ids), "val_tokens": len(self.val_ids),
                "block_size": self.block_size, "train_blocks": len(self.blocks("train")),
                "val_blocks": len(self.blocks("val"))}


def domain_data(corpus: str, tokenizer: Any, block_size: int, val_blocks: int = 64,
                max_documents: int | None = None, context: int | None = None) -> DomainData:
    """Load, split (llmlab.data's rule: 10% of documents by name hash) and tokenise a corpus."""
    from llmlab.data import load_corpus

    if context is not None and block_size > context:
        block_size = context                 # a block never exceeds the model's positions
    train, val = load_corpus(corpus, max_documents=max_documents).split()
    data = DomainData(corpus, encode_documents([d.text for d in train.documents], tokenizer),
                      encode_documents([d.text for d in val.documents], tokenizer), block_size, val_blocks)
    for split in ("train", "val"):
        if len(data.blocks(split)) < 1 or len(getattr(data, f"{split}_ids")) <= block_size:
            raise LabError(f"the {split} part of {corpus} is shorter than one block of {block_size} tokens",
                           hint="use a larger corpus or --set block_size=<smaller>")
    return data
