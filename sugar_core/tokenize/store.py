"""The tokens file (kind tokens): per-sample token sequences from the stage-1 encoder.

Written by ``sugar tokenize``, read by ``sugar align`` and ``sugar zeroshot``. Sequences are
concatenated (sum Ls, D) float16 with offsets, so each sample keeps its own Ls. Alongside:
pooled features (N, D) and their projection into the text space (N, D_text), labels, class
names, sample ids, the data file's splits, the encoder's weights and config, the training
history and the priors file's hash; optionally the rows the encoder validated on and never
trained on (``encoder_validation``), where the alignment can validate on unseen ground.

``load_encoder`` rebuilds the trained encoder, its heads and the pre-processing it expects from
a tokens file (reading the weights only, not the token arrays) or from a TokenSet in memory.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from sugar_core import guards, schema
from sugar_core.errors import ConfigError, SchemaError

if TYPE_CHECKING:
    from sugar_core.skeleton.prep import PrepConfig
    from sugar_core.tokenize.encoder import SkeletonEncoder
    from sugar_core.tokenize.network import Heads


@dataclass
class TokenSet:
    tokens: list[np.ndarray]  # N x (Ls, D) float16
    features: np.ndarray  # (N, D) float32 pooled encoder features
    projected: np.ndarray  # (N, D_text) float32, L2-normalised, text-space features
    labels: np.ndarray  # (N,) int64
    class_names: list[str]
    sample_ids: list[str]
    splits: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (N,) int8
    train_split: str = ""  # the split whose train part trained the encoder
    train_classes: list[int] | None = None  # class ids the encoder saw (None = all)
    encoder_config: dict = field(default_factory=dict)
    encoder_state: dict = field(default_factory=dict)  # torch state dict
    head_state: dict = field(default_factory=dict)  # torch state dict of the text head
    history: list[dict] = field(default_factory=list)  # one dict per epoch
    priors_sha256: str = ""
    layout: str = ""
    # (N_v,) int64 sorted rows of this set in the train part of ``train_split`` that the encoder
    # validated on and never trained on (align's validation encoder). Rows, not sample ids:
    # they index these arrays as ``splits`` does, and ids need not be unique. None = not
    # recorded: an older file, an encoder refit on train + validation (it trained on them
    # too), one reused on other data, or trained without a validation part
    encoder_validation: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def dim(self) -> int:
        return int(self.tokens[0].shape[-1])

    def split_indices(self, split: str, part: str) -> np.ndarray:
        if split not in self.splits:
            raise SchemaError(
                f"no split {split!r} in these tokens; available: {', '.join(self.splits)}"
            )
        return np.flatnonzero(self.splits[split] == {"train": 1, "test": 0}[part])


def write_tokens(
    ts: TokenSet, path: str | os.PathLike, config: dict | None = None, seed=None, inputs=()
) -> None:
    """Write ``ts`` as a tokens file (``config``, ``seed``, ``inputs``: the file's record)."""
    n = len(ts.tokens)
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum([t.shape[0] for t in ts.tokens], out=offsets[1:])
    with np.errstate(over="ignore"):  # past float16 range: inf, refused just below
        flat = np.concatenate(ts.tokens).astype(np.float16)  # (sum Ls, D)
    guards.require_finite(flat, f"{path}: tokens (float16, largest {np.finfo(np.float16).max})")
    with schema.create(path, "tokens", config=config, seed=seed, inputs=inputs) as f:
        f.create_dataset(schema.TOKENS, data=flat, chunks=True)
        f.create_dataset(schema.TOKEN_OFFSETS, data=offsets)
        f.create_dataset(schema.FEATURES, data=ts.features.astype(np.float32))
        f.create_dataset(schema.PROJECTED, data=ts.projected.astype(np.float32))
        f.create_dataset(schema.LABELS, data=np.asarray(ts.labels, dtype=np.int64))
        schema.write_strings(f, schema.CLASS_NAMES, ts.class_names)
        schema.write_strings(f, schema.SAMPLE_IDS, ts.sample_ids)
        sp = f.create_group(schema.SPLITS)
        for name, arr in ts.splits.items():
            sp.create_dataset(name, data=np.asarray(arr, dtype=np.int8))
        schema.write_state_dict(f.create_group(schema.ENCODER), ts.encoder_state)
        schema.write_state_dict(f.create_group(schema.HEAD), ts.head_state)
        schema.write_json(f, schema.ENCODER_CONFIG, ts.encoder_config)
        schema.write_json(f, schema.HISTORY, ts.history)
        schema.write_json(f, schema.TRAIN_CLASSES, ts.train_classes)
        if ts.encoder_validation is not None:
            rows = np.asarray(ts.encoder_validation, dtype=np.int64)
            f.create_dataset(schema.ENCODER_VALIDATION, data=rows)
        f.attrs["train_split"] = ts.train_split
        f.attrs["priors_sha256"] = ts.priors_sha256
        f.attrs["layout"] = ts.layout


def read_tokens(path: str | os.PathLike, weights: bool = True) -> TokenSet:
    """A tokens file as a TokenSet; ``weights=False`` skips the encoder and head weights."""
    with schema.open_file(path, "tokens") as f:
        offsets = f[schema.TOKEN_OFFSETS][...]
        n = f[schema.LABELS].shape[0]
        if offsets.shape[0] != n + 1 or offsets[-1] != f[schema.TOKENS].shape[0]:
            raise SchemaError(
                f"{path}: dataset {schema.TOKEN_OFFSETS!r} expected {n + 1} entries ending at "
                f"{f[schema.TOKENS].shape[0]}, found {offsets.shape[0]} ending at {offsets[-1]}"
            )
        arrays = {k: f[k][...] for k in (schema.TOKENS, schema.FEATURES, schema.PROJECTED)}
        for name, arr in arrays.items():
            guards.require_finite(arr, f"{path}: dataset {name!r}")
        flat = arrays[schema.TOKENS]
        splits = {k: v[...].astype(np.int8) for k, v in f[schema.SPLITS].items()}
        return TokenSet(
            tokens=[flat[offsets[i] : offsets[i + 1]] for i in range(n)],
            features=arrays[schema.FEATURES],
            projected=arrays[schema.PROJECTED],
            labels=f[schema.LABELS][...].astype(np.int64),
            class_names=[str(x) for x in schema.read_strings(f, schema.CLASS_NAMES)],
            sample_ids=[str(x) for x in schema.read_strings(f, schema.SAMPLE_IDS)],
            splits=splits,
            encoder_config=schema.read_json(f, schema.ENCODER_CONFIG),
            encoder_state=schema.read_state_dict(f[schema.ENCODER]) if weights else {},
            head_state=schema.read_state_dict(f[schema.HEAD]) if weights else {},
            layout=str(f.attrs.get("layout", "")),
            encoder_validation=_validation_rows(f, path, splits),
            **_provenance(f),
        )


def _validation_rows(f, path, splits: dict[str, np.ndarray]) -> np.ndarray | None:
    """The recorded encoder-validation rows, checked: sorted, distinct, in the train part of
    the file's training split; None where the file records none (older files)."""
    if schema.ENCODER_VALIDATION not in f:
        return None
    ds = f[schema.ENCODER_VALIDATION]
    rows = ds[...]
    where = f"{path}: dataset {schema.ENCODER_VALIDATION!r}"
    if ds.ndim != 1 or rows.dtype.kind not in "iu":
        raise SchemaError(f"{where} expected 1-D integers, found {ds.ndim}-D {rows.dtype}")
    rows = rows.astype(np.int64)
    n = f[schema.LABELS].shape[0]
    if len(rows) and (rows[0] < 0 or rows[-1] >= n or np.any(np.diff(rows) <= 0)):
        raise SchemaError(f"{where} expected sorted distinct rows in [0, {n}), found "
                          f"{len(rows)} rows beginning {rows[:5].tolist()}")  # fmt: skip
    split = str(f.attrs.get("train_split", ""))
    if split in splits and np.any(splits[split][rows] != 1):
        bad = rows[splits[split][rows] != 1][:5].tolist()
        raise SchemaError(f"{where} expected rows of split {split!r}'s train part, found "
                          f"rows {bad} outside it")  # fmt: skip
    return rows


def read_provenance(path: str | os.PathLike) -> dict:
    """How a tokens file's encoder was trained, as TokenSet fields (train_split, train_classes,
    history, priors_sha256), without reading any array: what a reuse of the encoder carries on."""
    with schema.open_file(path, "tokens") as f:
        return _provenance(f)


def _provenance(f) -> dict:
    return {
        "train_split": str(f.attrs.get("train_split", "")),
        schema.TRAIN_CLASSES: schema.read_json(f, schema.TRAIN_CLASSES),
        "history": schema.read_json(f, schema.HISTORY),
        "priors_sha256": str(f.attrs.get("priors_sha256", "")),
    }


class TrainedEncoder(NamedTuple):
    """A trained stage-1 encoder, ready to tokenize new data."""

    encoder: SkeletonEncoder  # eval mode, on the CPU
    heads: Heads  # the text head (tokenize projects pooled features through it) and the rest
    prep: PrepConfig  # the pre-processing it was trained with (its T, M and C included)
    layout: str  # the joint layout it reads


def load_encoder(source: TokenSet | str | os.PathLike) -> TrainedEncoder:
    """The encoder stored in a tokens file (weights and config only) or in a TokenSet.

    Raises SchemaError naming the file when it holds no encoder or its weights do not fit the
    stored config.
    """
    from sugar_core.settings import build
    from sugar_core.skeleton.prep import PrepConfig
    from sugar_core.tokenize.network import encoder_from_state, heads_from_state

    if isinstance(source, TokenSet):
        name = "these tokens"
        config, enc_state, head_state = (
            source.encoder_config,
            source.encoder_state,
            source.head_state,
        )
    else:
        name = str(source)
        config, enc_state, head_state = _read_encoder(source)
    if not (config and enc_state and head_state):
        raise SchemaError(f"{name}: no encoder weights stored; cannot encode other data")
    try:
        encoder = encoder_from_state(config, enc_state)
        heads = heads_from_state(head_state)
        prep = build(PrepConfig, config.get("prep") or {}, "prep", strict=False)
    except (RuntimeError, KeyError, TypeError, ValueError, ConfigError) as exc:
        raise SchemaError(f"{name}: encoder weights do not fit its config ({exc})") from None
    return TrainedEncoder(encoder, heads, prep, encoder.cfg.layout)


def _read_encoder(path: str | os.PathLike) -> tuple[dict, dict, dict]:
    """(encoder config, encoder state, head state) of a tokens file, nothing else read."""
    with schema.open_file(path, "tokens") as f:
        for name in (schema.ENCODER, schema.HEAD, schema.ENCODER_CONFIG):
            if name not in f:
                raise SchemaError(f"{path}: {name!r} missing: this tokens file has no encoder")
        config = schema.read_json(f, schema.ENCODER_CONFIG)
        return (
            config,
            schema.read_state_dict(f[schema.ENCODER]),
            schema.read_state_dict(f[schema.HEAD]),
        )
