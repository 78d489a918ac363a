"""Stage 1: a skeleton encoder trained against the class texts, and every sample's tokens.

    from sugar_core.tokenize import TokenizeConfig, encode, train_encoder, write_tokens

    enc, heads, history = train_encoder(data, priors, TokenizeConfig(), split="xview")
    write_tokens(encode(data, enc, heads, history=history), "tokens.h5")
    enc, heads, prep, layout = load_encoder("tokens.h5")       # reuse it on other data

Modules, bottom first (each imports only those above it):

    config      EncoderConfig, TokenizeConfig, OBJECTIVES, prep_for (torch-free)
    encoder     SkeletonEncoder (CTR-GCN-style, keeps the time axis)
    losses      multi-positive contrastive loss, cross-entropy, text mixing, the part loss
    parts       each body part's motion-text embeddings from the priors (the part loss)
    probe       linear probes and nearest-text classification on features
    network     Heads, Stage1Net, rebuilding both from stored weights
    store       the tokens file: TokenSet, write_tokens, read_tokens, load_encoder
    bank        prepared samples, epoch plans, sharded encoding across processes
    optim       learning-rate schedule, optimizer, moving average of the weights
    validation  validation metrics, best-epoch tracking, the closed-form text head
    checkpoint  a run's checkpoint and the resumption check
    training    train_encoder
    encoding    encode: every sample through a trained encoder -> TokenSet

Names load on first use, so importing one module (the tokens file reader, say) does not import
the training code.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sugar_core.lazy import exports

# public name -> module that defines it
_API = {
    "TokenizeConfig": "sugar_core.tokenize.config",
    "EncoderConfig": "sugar_core.tokenize.config",
    "SkeletonEncoder": "sugar_core.tokenize.encoder",
    "TokenSet": "sugar_core.tokenize.store",
    "read_tokens": "sugar_core.tokenize.store",
    "write_tokens": "sugar_core.tokenize.store",
    "load_encoder": "sugar_core.tokenize.store",
    "TrainedEncoder": "sugar_core.tokenize.store",
    "train_encoder": "sugar_core.tokenize.training",
    "encode": "sugar_core.tokenize.encoding",
}

# spelled out (not list(_API)) so linters see the TYPE_CHECKING imports below as re-exports
__all__ = [
    "EncoderConfig",
    "SkeletonEncoder",
    "TokenSet",
    "TokenizeConfig",
    "TrainedEncoder",
    "load_encoder",
    "read_tokens",
    "encode",
    "train_encoder",
    "write_tokens",
]


__getattr__, __dir__ = exports(__name__, _API, __all__)


if TYPE_CHECKING:  # static analysers see the real names
    from sugar_core.tokenize.config import EncoderConfig, TokenizeConfig
    from sugar_core.tokenize.encoder import SkeletonEncoder
    from sugar_core.tokenize.encoding import encode
    from sugar_core.tokenize.store import (
        TokenSet,
        TrainedEncoder,
        load_encoder,
        read_tokens,
        write_tokens,
    )
    from sugar_core.tokenize.training import train_encoder
