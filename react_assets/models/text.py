"""Caption tokens without the padding columns no caption of the batch uses.

open_clip's Hugging Face tokenizer pads every caption to the context length (32 for the demo
mini-CLIP, whose captions hold ~8-12 tokens), and the transformer then runs on every padded
position. A Hugging Face text tower masks padding out of attention and pooling
(``attention_mask = tokens != pad_token_id``), so cutting the columns after the batch's longest
caption gives the same features for a fraction of the FLOPs. Other text towers (open_clip's own,
with a causal mask and positional embeddings of fixed length) get their tokens unchanged.
"""

from __future__ import annotations

import torch
from torch import nn


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
