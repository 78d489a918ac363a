"""Class scores of one file, for late fusion (``ensemble``): every class's score on the test
part of a split, and on its validation part where the file lets that be known honestly.

    src = load_source("tokens-bone.h5", readout="auto", priors=priors)

Sources, by the file's kind:

    tokens    the read-out of its encoder on the test part of the split that trained it:
                ce     the encoder's K-way head (objective ce / both): logits
                text   cosine of the text-space feature to each class's text prototype, times
                       the learned logit scale (needs the priors file that trained it)
                probe  multinomial logistic regression fit on the fit part's pooled features
                       (the training part less its validation part): log-probabilities
                auto   ce when the head exists, else text when priors are given, else probe
                best   of those the encoder has (text only with priors), the one with the
                       highest validation top-1 (ties in the order ce, text, probe)
              The validation part is carved again by the rule and seed the file records
              (``skeleton/validation.carve``: blind to the test part), and scored the same
              way; a rule that holds out subjects needs the skeletons file (``data``) for them.
    aligned   the stored predictions (LLM rank scores) of the test part; these files keep
    zeroshot  the top-5 scores per sample only, so the other classes get the sample's lowest
              stored score (a floor), and they hold no validation scores.

Nothing here reads a test label to choose anything: test labels travel along only to be scored.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sugar_core import guards, schema
from sugar_core.errors import ConfigError, SchemaError

READOUTS = ("auto", "best", "ce", "text", "probe")
LOG_FLOOR = float(np.log(1e-12))  # probe log-probability of a class absent from the fit part


@dataclass
class Source:
    """One file's class scores over the test part (and the validation part when known)."""

    path: str
    kind: str  # tokens | aligned | zeroshot
    readout: str  # the tokens read-out (ce, text, probe) or the predictions' decode
    split: str
    class_names: list[str]  # (K,)
    test_ids: list[str]  # (N,)
    test_labels: np.ndarray  # (N,) int64
    test_scores: np.ndarray  # (N, K) float64, raw (logits, log-probabilities, rank scores)
    val_ids: list[str] | None = None  # (N_val,)
    val_labels: np.ndarray | None = None  # (N_val,)
    val_scores: np.ndarray | None = None  # (N_val, K)
    val_note: str = ""  # why there are no validation scores
    val_rule: str = ""  # the concrete validation rule the file records

    @property
    def name(self) -> str:
        return Path(self.path).name


class _Labelled:
    """What ``carve`` reads of a data set (labels, subjects), rebuilt from a tokens file."""

    def __init__(self, labels: np.ndarray, subjects: np.ndarray | None, path: str):
        self.labels, self._subjects, self._path = labels, subjects, path

    def meta_array(self, key: str) -> np.ndarray:
        if self._subjects is None:
            raise ConfigError(
                f"{self._path}: its validation part holds out whole subjects, and tokens files "
                "keep no subjects; give --data DATA.h5 (the skeletons file it was made from)"
            )
        return self._subjects


def load_source(path: str | os.PathLike, readout: str = "auto", priors=None, data=None) -> Source:
    """The class scores of a tokens, aligned or zeroshot file. ``priors`` (the priors file's
    path) feeds the text read-out; ``data`` (a SkeletonSet with the same sample ids) gives
    subjects."""
    if readout not in READOUTS:
        raise ConfigError(f"read-out {readout!r}; expected one of {', '.join(READOUTS)}")
    kind = schema.kind_of(path)
    if kind == "tokens":
        return tokens_source(path, readout, priors, data)
    if kind in ("aligned", "zeroshot", "ensemble"):
        return predictions_source(path)
    raise SchemaError(f"{path}: a {kind} file holds no class scores; expected tokens, aligned, "
                      "zeroshot or ensemble")  # fmt: skip


def predictions_source(path: str | os.PathLike) -> Source:
    """The test scores of an aligned, zeroshot or ensemble file (top-5 per sample, the other
    classes at the sample's lowest stored score)."""
    from sugar_core.predictions import read_predictions

    p, kind = read_predictions(path)
    if p.scores is None or p.scores.shape != p.top5.shape:
        raise SchemaError(f"{path}: dataset {schema.SCORES!r} missing or not shaped like "
                          f"{schema.TOP5!r}: these predictions carry no class scores")  # fmt: skip
    n, k = len(p.labels), len(p.class_names)
    scores = np.asarray(p.scores, np.float64)
    ranked = p.top5 >= 0  # (N, 5)
    guards.require_finite(scores[ranked], f"{path}: dataset {schema.SCORES!r}")
    if n and not ranked.any(1).all():
        raise SchemaError(f"{path}: sample {p.sample_ids[int(np.argmin(ranked.any(1)))]!r} has "
                          "no ranked class in dataset 'top5'")  # fmt: skip
    floor = np.where(ranked, scores, np.inf).min(1) if n else np.zeros(0)  # (N,)
    full = np.repeat(floor[:, None], k, axis=1)  # (N, K)
    rows = np.nonzero(ranked)
    full[rows[0], p.top5[rows]] = scores[rows]
    return Source(
        path=str(path),
        kind=kind,
        readout=str(p.metrics.get("decode", kind)),
        # zero-shot files: the unseen split (files of one data split differ by it)
        split=str(p.metrics.get("unseen_split") or p.metrics.get("split") or ""),
        class_names=list(p.class_names),
        test_ids=list(p.sample_ids),
        test_labels=np.asarray(p.labels, np.int64),
        test_scores=full,
        val_note=f"{kind} files keep test scores only",
    )


def tokens_source(path: str | os.PathLike, readout: str = "auto", priors=None, data=None) -> Source:
    """The scores of one read-out of a tokens file's encoder on its test and validation parts
    (``priors``: the priors file's path, for the text read-out)."""
    from sugar_core.tokenize.store import read_tokens

    ts = read_tokens(path)
    with schema.open_file(path, "tokens") as f:
        root = schema.root_info(f)
    split = ts.train_split
    if not split or split not in ts.splits:
        raise SchemaError(f"{path}: records no training split among {sorted(ts.splits)}")
    if ts.train_classes is not None and sorted(ts.train_classes) != list(
        range(len(ts.class_names))
    ):
        raise ConfigError(f"{path}: its encoder saw {len(ts.train_classes)} of "
                          f"{len(ts.class_names)} classes; fusion needs every class")  # fmt: skip
    subjects = _subjects(ts, data, path)
    fit, val, rule, note = _validation_part(ts, root, split, subjects, str(path))
    test = ts.split_indices(split, "test")
    if readout == "best":
        readout, scores = _best_readout(ts, root["config"], priors, fit, val, note, path)
    else:
        readout = _resolve_readout(ts, readout, priors)
        scores = _scores(ts, root["config"], readout, priors, fit, path)  # (N, K)
    src = Source(
        path=str(path),
        kind="tokens",
        readout=readout,
        split=split,
        class_names=list(ts.class_names),
        test_ids=[ts.sample_ids[i] for i in test],
        test_labels=ts.labels[test],
        test_scores=scores[test],
        val_note=note,
        val_rule=rule,
    )
    if val is not None and len(val):
        src.val_ids = [ts.sample_ids[i] for i in val]
        src.val_labels, src.val_scores = ts.labels[val], scores[val]
    return src


def _subjects(ts, data, path) -> np.ndarray | None:
    if data is None:
        return None
    if list(data.sample_ids) != list(ts.sample_ids):
        raise ConfigError(f"--data: its sample ids differ from those of {path}")
    return data.meta_array("subject")


def _validation_part(ts, root: dict, split: str, subjects, path: str):
    """(fit, validation, rule, note) indices as training carved them (the rows a tokens file
    records, else carved again from its rule and seed); validation None (and a note saying
    why) where the file cannot honestly give one."""
    from sugar_core.skeleton.validation import carve

    train = ts.split_indices(split, "train")
    rule = str((ts.history[-1] if ts.history else {}).get("validation") or "")
    seed = root.get("seed")
    why = ""
    if not rule or seed is None or int(seed) < 0:
        why = "records no validation rule and seed (an encoder reused, or never validated)"
    elif "refit" in rule:
        why = "its encoder was refit on train + validation, so validation scores flatter it"
    elif rule == "none":
        why = "was trained without a validation part"
    if why:
        return train, None, rule, why
    recorded = getattr(ts, "encoder_validation", None)
    if recorded is not None and split == ts.train_split:  # the rows themselves: no re-carving
        return np.setdiff1d(train, recorded), np.asarray(recorded), rule, ""
    fit, val, _ = carve(_Labelled(ts.labels, subjects, path), split, train, rule, int(seed))
    return fit, val, rule, ""


def _best_readout(ts, config: dict, priors, fit, val, note: str, path):
    """(read-out, (N, K) scores) of the available read-out with the best validation top-1."""
    if val is None or not len(val):
        raise ConfigError(f"{path}: read-out best is chosen on the validation part, but it {note}")
    names = ["ce"] * ("cls.weight" in ts.head_state) + ["text"] * (priors is not None) + ["probe"]
    best, best_top1, best_scores = "", -1.0, None
    for name in names:
        scores = _scores(ts, config, name, priors, fit, path)  # (N, K)
        acc = float((scores[val].argmax(1) == ts.labels[val]).mean())
        if acc > best_top1:
            best, best_top1, best_scores = name, acc, scores
    return best, best_scores


def _resolve_readout(ts, readout: str, priors) -> str:
    has_ce = "cls.weight" in ts.head_state
    if readout == "auto":
        return "ce" if has_ce else "text" if priors is not None else "probe"
    if readout == "ce" and not has_ce:
        raise ConfigError("read-out ce: this encoder has no ce head (objective mil-nce); "
                          "use text (with --priors) or probe")  # fmt: skip
    if readout == "text" and priors is None:
        raise ConfigError("read-out text needs --priors (the priors file that trained it)")
    return readout


def _scores(ts, config: dict, readout: str, priors, fit: np.ndarray, path) -> np.ndarray:
    """(N, K) float64 raw scores of every sample by ``readout``."""
    feats = np.asarray(ts.features, np.float64)  # (N, D)
    if readout == "ce":
        w = ts.head_state["cls.weight"].double().numpy()  # (K, D)
        return feats @ w.T + ts.head_state["cls.bias"].double().numpy()
    if readout == "text":
        protos = _prototypes(ts, config, priors, path)  # (K, E)
        scale = float(min(ts.head_state["logit_scale"].item(), np.log(100.0)))
        return np.exp(scale) * (np.asarray(ts.projected, np.float64) @ protos.T)
    return _probe(feats, ts.labels, fit, len(ts.class_names))


def _prototypes(ts, config: dict, priors, path) -> np.ndarray:
    """(K, E) unit-norm class text prototypes, as training built them."""
    import torch

    from sugar_core.priors.store import read_priors
    from sugar_core.tokenize.bank import text_table
    from sugar_core.tokenize.losses import class_prototypes

    if ts.priors_sha256 and schema.sha256(priors) != ts.priors_sha256:
        raise ConfigError(f"{priors}: not the priors file that trained {path} (sha256 differs)")
    kinds = config.get("text_kinds") or ["motion", "visual"]
    pri = read_priors(priors).select(list(ts.class_names))
    texts, mask = text_table(pri, kinds)  # (K, P', E), (K, P')
    with torch.no_grad():
        return class_prototypes(texts, mask).double().numpy()


def _probe(feats: np.ndarray, labels: np.ndarray, fit: np.ndarray, k: int) -> np.ndarray:
    """(N, K) log-probabilities of the training's logistic probe fit on the ``fit`` rows only."""
    from sugar_core.tokenize.probe import logistic_log_proba

    classes, logp = logistic_log_proba(feats[fit], labels[fit], feats)
    out = np.full((len(feats), k), LOG_FLOOR)
    out[:, classes] = np.maximum(logp, LOG_FLOOR)
    return out
