"""Training objectives of the stage-1 encoder: pure functions returning named loss dicts.

``mil_nce``: a multi-positive contrastive loss in the MIL-NCE style (Miech et al., 2020). Each
batch member j brings one text embedding t_j of its own class (a random combination of that
class's motion and visual texts, ``mix_texts``). For sample i the positives are every t_j with
y_j = y_i, the denominator is every t_j in the batch:

    L_i = -log( sum_{j: y_j = y_i} exp(s_ij / tau) / sum_j exp(s_ij / tau) ),
    s_ij = cos(z_i, t_j)

``part_nce``: the same form per body part, each part's token stream against that part's
motion text (structured tokens, issue 16); skipped classes and shared texts handled there.

``cross_entropy``: the plain classifier objective the paper's loss replaces.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def mix_texts(
    embeddings: torch.Tensor,
    mask: torch.Tensor,
    labels: torch.Tensor,
    gen: torch.Generator | None = None,
    mode: str = "random",
) -> torch.Tensor:
    """One text embedding per sample, drawn from its class's texts; (B, D), unit norm.

    embeddings (K, P, D) unit-norm texts; mask (K, P) which exist; labels (B,).
    mode "random": convex combination with Dirichlet(1) weights over the class's texts;
    "pick": one text chosen uniformly; "mean": the class prototype (no randomness).
    """
    k, p, _ = embeddings.shape
    assert mask.shape == (k, p), f"mask {tuple(mask.shape)} vs embeddings {embeddings.shape}"
    m = mask[labels].to(embeddings.dtype)  # (B, P)
    if mode == "mean":
        w = m
    elif mode == "random":
        u = torch.rand(m.shape, generator=gen, device="cpu").to(m.device, m.dtype)
        w = -torch.log(u.clamp_min(1e-12)) * m  # exponential draws = Dirichlet(1) once normed
    elif mode == "pick":
        u = torch.rand(m.shape, generator=gen, device="cpu").to(m.device, m.dtype)
        score = torch.where(m > 0, u, torch.full_like(u, -1.0))
        w = F.one_hot(score.argmax(1), p).to(m.dtype)
    else:
        raise ValueError(f"text mix mode {mode!r}; expected random, pick or mean")
    w = w / w.sum(1, keepdim=True).clamp_min(1e-12)
    t = torch.einsum("bp,bpd->bd", w, embeddings[labels])  # (B, D)
    return F.normalize(t, dim=-1)


def class_prototypes(embeddings: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(K, P, D) texts and (K, P) mask -> (K, D) unit-norm mean text of each class."""
    w = mask.to(embeddings.dtype)
    proto = (embeddings * w[..., None]).sum(1) / w.sum(1, keepdim=True).clamp_min(1e-12)
    return F.normalize(proto, dim=-1)


def mil_nce(
    z: torch.Tensor,
    texts: torch.Tensor,
    labels: torch.Tensor,
    logit_scale: torch.Tensor,
    symmetric: bool = False,
) -> dict[str, torch.Tensor]:
    """Multi-positive NCE between skeleton features and per-sample class texts.

    z (B, D) skeleton features in the text space (normalised here); texts (B, D) unit norm;
    labels (B,); logit_scale = log(1 / tau), a scalar. ``symmetric`` adds the text-to-skeleton
    direction (positives: every skeleton of the text's class). Returns {"mil_nce", "tau"}.
    """
    b = z.shape[0]
    assert texts.shape[0] == b and labels.shape == (b,), (
        f"z {tuple(z.shape)}, texts {tuple(texts.shape)}, labels {tuple(labels.shape)}"
    )
    scale = logit_scale.exp()
    sim = scale * F.normalize(z, dim=-1) @ texts.T  # (B, B) rows: skeletons, cols: texts
    pos = labels[:, None] == labels[None, :]  # (B, B)
    neg_inf = torch.finfo(sim.dtype).min

    def one_way(s: torch.Tensor) -> torch.Tensor:
        num = torch.logsumexp(s.masked_fill(~pos, neg_inf), dim=1)
        return (torch.logsumexp(s, dim=1) - num).mean()

    loss = one_way(sim)
    if symmetric:
        loss = 0.5 * (loss + one_way(sim.T))
    return {"mil_nce": loss, "tau": (1.0 / scale).detach()}


def part_nce(
    zp: torch.Tensor,
    texts: torch.Tensor,
    mask: torch.Tensor,
    labels: torch.Tensor,
    logit_scale: torch.Tensor,
    match: str = "mean",
) -> dict[str, torch.Tensor]:
    """Multi-positive NCE of each body part's token stream against that part's motion text.

    zp (B, T_s, P, E) part streams in the text space; texts (K, P, E) unit-norm part texts of
    the run's classes, mask (K, P) which exist; labels (B,) rows into K; logit_scale as in
    ``mil_nce``. For part p, sample i meets the part-p texts of the batch, t_j = texts[y_j, p];
    its positives are the t_j equal to its own (its class, and classes whose part moves the
    same way: "leg remains stationary"). A sample whose class has no part-p text is skipped for
    that part, as a row and as a column. ``match`` mean: s_ij = cos(mean over steps of z_i, t_j);
    best-step: s_ij = max over steps s of cos(z_is, t_j), MIL over time (the best-matching step
    speaks for the stream). The mean runs over the (sample, part) pairs that have a text.
    Returns {"part_nce"}.
    """
    b, _, p, _ = zp.shape
    assert texts.shape[1] == p and mask.shape == texts.shape[:2] and labels.shape == (b,), (
        f"streams {tuple(zp.shape)}, texts {tuple(texts.shape)}, mask {tuple(mask.shape)}, "
        f"labels {tuple(labels.shape)}"
    )
    t, has = texts[labels], mask[labels]  # (B, P, E), (B, P)
    if match == "mean":
        sim = torch.einsum("ipe,jpe->pij", F.normalize(zp.mean(1), dim=-1), t)  # (P, B, B)
    elif match == "best-step":
        sim = torch.einsum("ispe,jpe->pisj", F.normalize(zp, dim=-1), t).amax(2)  # (P, B, B)
    else:
        raise ValueError(f"part match {match!r}; expected mean or best-step")
    sim = logit_scale.exp() * sim
    same = torch.einsum("ipe,jpe->pij", t, t) > 1 - 1e-5  # (P, B, B): the same part text
    same = same | (labels[:, None] == labels[None, :])
    cols = has.T[:, None, :]  # (P, 1, B) columns with a text
    neg_inf = torch.finfo(sim.dtype).min
    den = torch.logsumexp(sim.masked_fill(~cols, neg_inf), dim=-1)  # (P, B)
    num = torch.logsumexp(sim.masked_fill(~(cols & same), neg_inf), dim=-1)
    rows = has.T  # (P, B)
    per = torch.where(rows, den - num, torch.zeros_like(den))
    return {"part_nce": per.sum() / rows.sum().clamp_min(1)}


def cross_entropy(
    logits: torch.Tensor, labels: torch.Tensor, smoothing: float = 0.0
) -> dict[str, torch.Tensor]:
    """Plain classification loss; logits (B, K), labels (B,). Returns {"ce"}."""
    return {"ce": F.cross_entropy(logits, labels, label_smoothing=smoothing)}


def combine(terms: dict[str, torch.Tensor], weights: dict[str, float]) -> torch.Tensor:
    """Weighted sum of the named terms listed in ``weights`` (others are for logging only)."""
    missing = [k for k in weights if k not in terms]
    assert not missing, f"loss terms {missing} not computed; have {sorted(terms)}"
    return sum(w * terms[k] for k, w in weights.items())
