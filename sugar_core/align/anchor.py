"""The anchor token: where a sample sits among the priors, said in the LLM's own word space.

Stage 1 trains a text head that maps the encoder's pooled feature into the priors' text space
(``TokenSet.projected``). With ``BridgeConfig.anchor`` set, the bridge hands the LLM one more
action token after its own: that text-space feature, remade from the tokens the bridge reads
(the frozen head, copied from the tokens file, applied to their masked mean and L2-normalised
as ``projected`` is), mapped into the LLM's input width by a trainable linear layer::

    x (B, Ls, D), mask -> masked mean (B, D) -> head (B, E) -> unit norm -> linear (B, D_llm)

For the default ``time`` token layout the pooled feature is the tokens' mean, so the anchor
reads what ``projected`` holds, up to the float16 rounding of stored tokens (measured on small
trained encoders, mil-nce or ce's closed-form head, with or without TTA: largest difference
3e-5, cosine > 0.9999999); ``time-joints`` pools the same way; ``time-parts`` averages body
parts, not joints, alike (largest difference 4e-3, cosine 0.99996).

``fitted`` starts the linear layer as a ridge regression from the seen classes' prior
embeddings (every class x text kind the priors hold) to the LLM's mean input embedding of the
same texts' tokens: at step 0 a sample near a class's priors yields a token near the LLM's
own embedding of that class's prior text, the words an unseen class's priors put in the
prompt. ``linear`` keeps the default initialisation. Nothing of a class outside the training
list is read: ``attach`` is handed the training names and selects their priors.

The head's weights are buffers of the bridge, so they travel in the aligned file with the
bridge weights and every caller keeps calling ``bridge(x, mask)``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from sugar_core.align.bridges import masked_mean
from sugar_core.errors import ConfigError, SchemaError

HEAD_WEIGHT = "text.weight"  # the stage-1 text head in TokenSet.head_state (tokenize/network.py)
HEAD_BIAS = "text.bias"
STORED_WEIGHT = "anchor.head_weight"  # the copied head in the bridge's state dict


class TextAnchor(nn.Module):
    """Tokens (B, Ls, D) + mask -> one anchor token (B, 1, D_llm)."""

    def __init__(self, token_dim: int, text_dim: int, out_dim: int):
        super().__init__()
        self.register_buffer("head_weight", torch.zeros(text_dim, token_dim))  # (E, D), frozen
        self.register_buffer("head_bias", torch.zeros(text_dim))  # (E,), frozen
        self.proj = nn.Linear(text_dim, out_dim)  # trainable: text space -> LLM width

    def text_feature(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """The sample's unit-norm text-space feature (B, E), as ``TokenSet.projected``."""
        pooled = masked_mean(x.float(), mask)  # (B, D)
        z = pooled @ self.head_weight.float().T + self.head_bias.float()  # (B, E)
        return z / z.norm(dim=-1, keepdim=True).clamp(min=1e-12)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.proj(self.text_feature(x, mask))[:, None]  # (B, 1, D_llm)

    @torch.no_grad()
    def set_head(self, weight: torch.Tensor, bias: torch.Tensor) -> None:
        """Copy the stage-1 text head, (E, D) and (E,)."""
        self.head_weight.copy_(weight)
        self.head_bias.copy_(bias)


class Anchored(nn.Module):
    """``inner``'s action tokens followed by the anchor token: (B, Q_out + 1, D_llm).

    The outermost wrapper: the anchor reads the raw tokens (standardising is the inner
    bridge's business), and its token is not rescaled by ``output_scale`` (the fitted map
    already aims at the LLM's own embeddings)."""

    def __init__(self, inner: nn.Module, anchor: TextAnchor):
        super().__init__()
        self.inner = inner
        self.anchor = anchor
        self.num_tokens = inner.num_tokens + 1

    def fit(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """The inner bridge's channel statistics (``standardize``)."""
        self.inner.fit(mean, std)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        y = self.inner(x, mask)  # (B, Q_out, D_llm)
        return torch.cat([y, self.anchor(x, mask).to(y.dtype)], dim=1)


def with_anchor(
    bridge: nn.Module, kind: str, token_dim: int, text_dim: int | None, out_dim: int
) -> nn.Module:
    """``bridge`` as it is (kind none, or auto unresolved) or followed by an anchor token of
    text width E."""
    if kind in ("none", "auto"):
        return bridge
    if text_dim is None or text_dim < 1:
        raise ConfigError(f"bridge anchor {kind} needs the stage-1 text head's width, got "
                          f"{text_dim}")  # fmt: skip
    return Anchored(bridge, TextAnchor(token_dim, text_dim, out_dim))


def head_of(head_state: dict, token_dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The text head's (E, D) weight and (E,) bias from a ``TokenSet.head_state``."""
    if HEAD_WEIGHT not in head_state or HEAD_BIAS not in head_state:
        raise ConfigError("bridge anchor needs the stage-1 text head, and these tokens hold "
                          "none: read the tokens file with its weights (read_tokens(path)), "
                          "or set bridge.anchor none")  # fmt: skip
    w = torch.as_tensor(head_state[HEAD_WEIGHT]).float()
    b = torch.as_tensor(head_state[HEAD_BIAS]).float()
    if w.ndim != 2 or w.shape[1] != token_dim or b.shape != (w.shape[0],):
        raise ConfigError(f"the tokens' text head maps {tuple(w.shape[1:])} -> "
                          f"{tuple(w.shape[:1])} (bias {tuple(b.shape)}), the tokens have "
                          f"width {token_dim}")  # fmt: skip
    return w, b


def usable(head_state: dict, token_dim: int, priors) -> bool:
    """Whether an anchor can be built here: ``head_state`` holds a text head that fits tokens
    of width ``token_dim`` and maps into the text space of ``priors``."""
    try:
        w, _ = head_of(head_state, token_dim)
    except ConfigError:
        return False
    return int(w.shape[0]) == int(priors.dim)


def head_width(cfg, head_state: dict, token_dim: int) -> int | None:
    """E of the text head an anchored bridge (BridgeConfig ``cfg``) will copy; None without an
    anchor. ConfigError when the tokens hold no head that fits them."""
    return int(head_of(head_state, token_dim)[0].shape[0]) if cfg.anchored else None


def text_width(bridge_state: dict, where: str) -> int:
    """E of the anchor stored in a bridge state dict (SchemaError naming ``where`` if none)."""
    if STORED_WEIGHT not in bridge_state:
        raise SchemaError(f"{where}: the config has an anchor token but the bridge weights "
                          f"hold no {STORED_WEIGHT!r}")  # fmt: skip
    return int(bridge_state[STORED_WEIGHT].shape[0])


def prior_pairs(llm, priors, names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(Z (n, E), Y (n, D_llm)): every prior text of the classes ``names`` (each class x text
    kind the mask keeps): its embedding, and the LLM's mean input embedding of its tokens."""
    sel = priors.select(names)  # the named classes only
    rows, cols = np.nonzero(sel.mask)
    z, y = [], []
    for k, p in zip(rows, cols):
        ids = llm.ids(str(sel.texts[k, p]))
        if not ids:
            continue
        with torch.no_grad():
            y.append(llm.embed(torch.tensor(ids)).float().mean(0).cpu().numpy())  # (D_llm,)
        z.append(sel.embeddings[k, p])
    if len(z) < 2:
        raise ConfigError(f"bridge anchor fitted needs two or more prior texts of the trained "
                          f"classes, found {len(z)}")  # fmt: skip
    return np.asarray(z, np.float64), np.asarray(y, np.float64)


def ridge(z: np.ndarray, y: np.ndarray, share: float) -> tuple[np.ndarray, np.ndarray]:
    """(W (E, D_llm), b (D_llm,)) minimising |z W + b - y|^2 + lam |W|^2, bias unpenalised.

    lam = ``share`` x the mean non-zero eigenvalue of the centred Gram matrix (trace / rank
    bound), so the choice does not depend on the embeddings' scale or the number of texts."""
    mz, my = z.mean(0), y.mean(0)
    zc, yc = z - mz, y - my
    gram = zc.T @ zc  # (E, E)
    lam = share * max(np.trace(gram) / min(zc.shape), 1e-12)
    w = np.linalg.solve(gram + lam * np.eye(len(gram)), zc.T @ yc)  # (E, D_llm)
    return w, my - mz @ w


def attach(bridge: nn.Module, cfg, head_state: dict, token_dim: int, priors, names, llm) -> None:
    """Fill an anchored bridge for training: copy the text head from ``head_state``, check
    the priors share its space, and (``fitted``) start the linear map from the ridge fit on
    the priors of the training classes ``names`` only. ``cfg``: the BridgeConfig."""
    if not cfg.anchored:
        return
    w, b = head_of(head_state, token_dim)
    if priors.dim != w.shape[0]:
        raise ConfigError(f"the priors' text space has width {priors.dim}, the tokens' text "
                          f"head maps into {w.shape[0]}: made with another text encoder "
                          f"({priors.encoder_id or 'unnamed'})")  # fmt: skip
    anchor = bridge.anchor
    anchor.set_head(w, b)
    if cfg.anchor == "fitted":
        wt, bias = ridge(*prior_pairs(llm, priors, list(names)), cfg.anchor_ridge)
        with torch.no_grad():
            anchor.proj.weight.copy_(torch.from_numpy(wt.T))
            anchor.proj.bias.copy_(torch.from_numpy(bias))
