"""Caption tokens without the padding columns no caption of the batch uses.

open_clip's Hugging Face tokenizer pads every caption to the context length (32 for the demo
mini-CLIP, whose captions hold ~8-12 tokens), and the transformer then runs on every padded
position. A Hugging Face text tower masks padding out of attention and pooling
(``attention_mask = tokens != pad_token_id``), so cutting the columns after the batch's longest
caption gives the same features for a fraction of the FLOPs. Other text towers (open_clip's own,
with a causal mask and positional embeddings of fixed length) get their tokens unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm


def pad_token_id(model: nn.Module) -> int | None:
    """The pad token id of ``model``'s Hugging Face text tower, or None for any other tower."""
    text = getattr(model, "text", None)
    config = getattr(text, "config", None)
    if type(text).__name__ != "HFTextEncoder" or config is None:
        return None
    pad = getattr(config, "pad_token_id", None)
    return int(pad) if pad is not None else None


def trim_padding(model: nn.Module, tokens: torch.Tensor) -> torch.Tensor:
    """``tokens`` (B, T) cut after the last column any caption uses, when padding is masked."""
    pad = pad_token_id(model)
    if pad is None or tokens.ndim != 2 or tokens.shape[1] == 0:
        return tokens
    used = (tokens != pad).any(dim=0).nonzero()
    length = int(used.max()) + 1 if len(used) else 1
    return tokens[:, :length]


def encode_text(model: nn.Module, tokens: torch.Tensor, normalize: bool = True) -> torch.Tensor:
    """``model.encode_text`` on ``tokens`` with the unused padding columns cut."""
    return model.encode_text(trim_padding(model, tokens), normalize=normalize)


@torch.no_grad()
def encode_texts(model: nn.Module, tokenizer: Callable[[list[str]], torch.Tensor],
                 texts: Sequence[str], batch_size: int,
                 device: torch.device | str | None = None, desc: str = "text features",
                 ) -> torch.Tensor:
    """L2-normalised float32 features (N, D) on the CPU of ``texts``, in their order, encoded in
    eval mode (no dropout; the model's mode is restored after).

    With a padding-masked (Hugging Face) tower the captions are encoded shortest first, so each
    batch is cut to its own longest caption (the demo's: 21 tokens a batch on average instead of
    29 in text order, of 32 padded); other towers get the texts in order, as they are.
    """
    tokens = tokenizer(list(texts))  # (N, T)
    pad = pad_token_id(model)
    order = (torch.argsort((tokens != pad).sum(dim=1), stable=True) if pad is not None
             else torch.arange(len(texts)))
    chunks = []
    was_training = model.training
    model.eval()
    try:
        for start in tqdm(range(0, len(texts), batch_size), desc=desc, unit="batch",
                          disable=len(texts) <= batch_size):
            batch = trim_padding(model, tokens[order[start:start + batch_size]])
            if device is not None:
                batch = batch.to(device)
            chunks.append(F.normalize(model.encode_text(batch).float(), dim=-1).cpu())
    finally:
        model.train(was_training)
    features = torch.cat(chunks) if chunks else torch.empty(0)
    out = torch.empty_like(features)
    out[order] = features
    return out
