"""The file contract: kinds, dataset names, root attributes, validation on read, atomic writes.

Every stage reads and writes its HDF5 files through this module, so dataset names live here and
nowhere else. A file is validated when it is opened: the kind, the schema version and the
datasets its kind requires, with errors that name the file, the dataset, what was expected and
what was found.

Root attributes of every file (design.md, "Files"):
    sugar_kind, schema_version, sugar_version, created_utc, config (JSON), seed,
    inputs (JSON list of {path, sha256}).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from sugar_core import outputs
from sugar_core.attributes import check_root_attrs
from sugar_core.errors import OutputError, SchemaError
from sugar_core.outputs import atomic_path  # noqa: F401 - writers import it from here too
from sugar_core.version import __version__

SCHEMA_VERSION = 1

# ---------------------------------------------------------------------------------------------
# kinds and their datasets


@dataclass(frozen=True)
class Spec:
    """A required dataset: its name, number of dimensions (None = any) and dtype family."""

    name: str
    ndim: int | None = None
    dtype: str | None = None  # "f" float, "i" integer, "S" string, None = any


# skeletons: variable-length sequences stored without loss, frames of all samples concatenated.
JOINTS = "joints"  # (sum T, M, V, C) float32, zero past a sample's own body count
OFFSETS = "offsets"  # (N + 1,) int64, frames of sample i are joints[offsets[i]:offsets[i+1]]
LENGTHS = "lengths"  # (N,) int64, T of each sample
BODIES = "bodies"  # (N,) int64, number of bodies the sample really has (<= M)
LABELS = "labels"  # (N,) int64, 0-based
CLASS_NAMES = "class_names"  # (K,) utf-8 strings
SAMPLE_IDS = "sample_ids"  # (N,) utf-8 strings
META = "meta"  # group: one (N,) int64 dataset per field, -1 = unknown
SPLITS = "splits"  # group: one (N,) int8 dataset per split, 1 train, 0 test, -1 not in split
META_FIELDS = ("subject", "view", "camera", "setup", "repetition")

# priors
TEXTS = "texts"  # (K, P) utf-8 strings, "" where masked
TEXT_KINDS = "text_kinds"  # (P,) utf-8: "motion" | "motion:<part>" | "visual"
EMBEDDINGS = "embeddings"  # (K, P, D) float32
MASK = "mask"  # (K, P) bool
DESCRIPTIONS = "descriptions"  # (K,) utf-8: one-sentence description per class
SOURCES = "sources"  # JSON: per class and task, where each text came from

# tokens
TOKENS = "tokens"  # (sum Ls, D) float16, concatenated per sample
TOKEN_OFFSETS = "token_offsets"  # (N + 1,) int64
FEATURES = "features"  # (N, D) float32 pooled encoder feature (for probes and t-SNE)
ENCODER = "encoder"  # group: encoder weights (one dataset per state-dict entry)
HISTORY = "history"  # JSON string attribute holder (dataset of utf-8)
PROJECTED = "projected"  # (N, D_text) float32: features through the training head
HEAD = "head"  # group: weights of the linear head to the text space
ENCODER_CONFIG = "encoder_config"  # JSON: the encoder's config with its prep
TRAIN_CLASSES = "train_classes"  # JSON: class ids the encoder was trained on (null = all)
ENCODER_VALIDATION = "encoder_validation"  # (N_v,) int64: rows the encoder validated on, not fit

# aligned / zeroshot
PRED = "pred"  # (N,) int64 predicted class (-1 = off list)
TOP5 = "top5"  # (N, 5) int64
SCORES = "scores"  # (N, 5) float32 scores of the top-5
RAW_TEXT = "raw_text"  # (N,) utf-8 generated answer
DESCRIPTION = "description"  # (N,) utf-8 generated description
METRICS = "metrics"  # JSON string dataset
WEIGHTS = "weights"  # group: trained weights (TQP, LoRA)
CANDIDATES = "candidates"  # (K_c,) int64: class ids the predictor could answer
BRIDGE = "bridge"  # group: the bridge's weights (aligned)
LORA = "lora"  # group: the LoRA adapter's weights (aligned)
ALIGN_CONFIG = "align_config"  # JSON: AlignConfig the model was trained with
PROMPT_CLASSES = "prompt_classes"  # (K',) utf-8: the action list of the training prompt
ALIGN_HISTORY = "align_history"  # JSON: one entry per alignment epoch
NULL_TOKEN = "null_token"  # (D,) float32 under weights/: the calibration's null input
# under weights/: the reference inputs of calibration "reference", (sum Ls_i, D) float32
# sequences end to end, and (R,) int64 their lengths
REFERENCE_TOKENS, REFERENCE_LENGTHS = "reference_tokens", "reference_lengths"
REFERENCE_PROJECTED = "reference_projected"
TEXT_PROTOTYPES = "text_prototypes"  # (K, E) float32 under weights/: the fallback read-out
ZS_ARRAYS = "zeroshot_arrays"  # group: one subgroup per zero-shot predictor (pred, top5, scores)
ZS_PLAN = "zeroshot_plan"  # JSON: seen / unseen ids and names

KINDS: dict[str, tuple[Spec, ...]] = {
    "skeletons": (
        Spec(JOINTS, 4, "f"),
        Spec(OFFSETS, 1, "i"),
        Spec(LENGTHS, 1, "i"),
        Spec(BODIES, 1, "i"),
        Spec(LABELS, 1, "i"),
        Spec(CLASS_NAMES, 1, "S"),
        Spec(SAMPLE_IDS, 1, "S"),
    ),
    "priors": (
        Spec(CLASS_NAMES, 1, "S"),
        Spec(TEXTS, 2, "S"),
        Spec(TEXT_KINDS, 1, "S"),
        Spec(EMBEDDINGS, 3, "f"),
        Spec(MASK, 2, None),
        Spec(DESCRIPTIONS, 1, "S"),
    ),
    "tokens": (
        Spec(TOKENS, 2, "f"),
        Spec(TOKEN_OFFSETS, 1, "i"),
        Spec(FEATURES, 2, "f"),
        Spec(LABELS, 1, "i"),
        Spec(CLASS_NAMES, 1, "S"),
        Spec(SAMPLE_IDS, 1, "S"),
    ),
    "aligned": (
        Spec(LABELS, 1, "i"),
        Spec(CLASS_NAMES, 1, "S"),
        Spec(PRED, 1, "i"),
        Spec(TOP5, 2, "i"),
        Spec(METRICS, 0, "S"),
    ),
    "zeroshot": (
        Spec(LABELS, 1, "i"),
        Spec(CLASS_NAMES, 1, "S"),
        Spec(PRED, 1, "i"),
        Spec(TOP5, 2, "i"),
        Spec(METRICS, 0, "S"),
    ),
    "ensemble": (  # late fusion of several files' scores (evaluate/ensemble.py)
        Spec(LABELS, 1, "i"),
        Spec(CLASS_NAMES, 1, "S"),
        Spec(PRED, 1, "i"),
        Spec(TOP5, 2, "i"),
        Spec(METRICS, 0, "S"),
    ),
}

ROOT_ATTRS = (
    "sugar_kind",
    "schema_version",
    "sugar_version",
    "created_utc",
    "config",
    "seed",
    "inputs",
)

STR = h5py.string_dtype("utf-8")

# ---------------------------------------------------------------------------------------------
# small helpers


def sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def input_record(paths: Sequence[str | os.PathLike]) -> list[dict]:
    """[{path, sha256}] for files; directories are recorded with a hash of their sorted listing."""
    out = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            h = hashlib.sha256()
            for child in sorted(p.rglob("*")):
                if child.is_file():
                    st = child.stat()
                    # fsencode: a name that is not UTF-8 hashes as its bytes (same bytes if it is)
                    h.update(os.fsencode(child.relative_to(p)) + f"\0{st.st_size}\n".encode())
            out.append({"path": str(p.resolve()), "sha256": "listing:" + h.hexdigest()})
        elif p.is_file():
            out.append({"path": str(p.resolve()), "sha256": sha256(p)})
        else:
            out.append({"path": str(p), "sha256": None})
    return out


def write_strings(group: h5py.Group, name: str, values, **kw) -> h5py.Dataset:
    """Store a sequence (any shape) of Python strings as utf-8."""
    arr = np.asarray(values, dtype=object)
    return group.create_dataset(name, data=arr, dtype=STR, **kw)


def read_strings(group: h5py.Group, name: str) -> np.ndarray:
    """Read a utf-8 string dataset back as a numpy array of ``str`` (same shape)."""
    ds = group[name]
    if ds.shape == ():
        return np.asarray(ds.asstr()[()], dtype=object)
    return np.asarray(ds.asstr()[...], dtype=object)


def write_json(group: h5py.Group, name: str, obj) -> None:
    """Store a JSON document as a scalar utf-8 dataset."""
    group.create_dataset(name, data=json.dumps(obj, sort_keys=True), dtype=STR)


def read_json(group: h5py.Group, name: str):
    try:
        return json.loads(group[name].asstr()[()])
    except (KeyError, OSError, TypeError, ValueError, RecursionError) as exc:  # garbled
        raise SchemaError(f"{group.file.filename}: {name!r} is not JSON ({exc!r:.60})") from None


def write_state_dict(group: h5py.Group, state: dict) -> None:
    """Store a torch state dict (tensors) as one dataset per entry, names kept verbatim."""
    for key, tensor in state.items():
        arr = tensor.detach().cpu()
        if str(arr.dtype) == "torch.bfloat16":
            arr = arr.float()
        group.create_dataset(key.replace("/", "|"), data=arr.numpy())


def read_state_dict(group: h5py.Group) -> dict:
    import torch

    from sugar_core.guards import require_finite

    arrays = {k.replace("|", "/"): np.asarray(v[...]) for k, v in group.items()}
    for key, arr in arrays.items():  # NaN weights only ever predict one class
        require_finite(arr, f"{group.file.filename}: weight {group.name}/{key}")
    return {k: torch.from_numpy(a) for k, a in arrays.items()}


# ---------------------------------------------------------------------------------------------
# writing


def _set_root_attrs(f: h5py.File, kind: str, config: dict, seed: int | None, inputs) -> None:
    if kind not in KINDS:
        raise SchemaError(f"unknown sugar_kind {kind!r}; known: {sorted(KINDS)}")
    f.attrs["sugar_kind"] = kind
    f.attrs["schema_version"] = SCHEMA_VERSION
    f.attrs["sugar_version"] = __version__
    f.attrs["created_utc"] = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    f.attrs["config"] = json.dumps(config, sort_keys=True, default=str)
    f.attrs["seed"] = -1 if seed is None else int(seed)
    f.attrs["inputs"] = json.dumps(list(inputs))


@contextlib.contextmanager
def create(
    path: str | os.PathLike,
    kind: str,
    config: dict | None = None,
    seed: int | None = None,
    inputs: Sequence[dict] = (),
) -> Iterator[h5py.File]:
    """Open a new sugar file for writing, atomically.

    The file appears at ``path`` only once the ``with`` block ends without error, after it has
    been validated against its kind. An output that is one of ``inputs`` is refused, and HDF5
    writes through an ``outputs.GuardedFile`` (a full disk is an OutputError, not a crash).

    >>> with create("data.h5", "skeletons", config={...}, seed=0) as f:  # doctest: +SKIP
    ...     f.create_dataset(JOINTS, data=...)
    """
    for record in inputs:
        if record.get("path") and outputs.same_file(path, record["path"]):
            raise OutputError(f"{path}: is also an input; refusing to overwrite it")
    with atomic_path(path) as tmp:
        with outputs.GuardedFile(tmp) as raw, h5py.File(raw, "w") as f:
            _set_root_attrs(f, kind, config or {}, seed, inputs)
            yield f
        with h5py.File(tmp, "r") as f:
            validate(f, str(path), kind)


# ---------------------------------------------------------------------------------------------
# reading


def _family(dtype: np.dtype) -> str:
    if h5py.check_string_dtype(dtype) is not None or dtype.kind in "SUO":
        return "S"
    if dtype.kind == "f":
        return "f"
    if dtype.kind in "iu":
        return "i"
    if dtype.kind == "b":
        return "b"
    return dtype.kind


_FAMILY_WORDS = {"f": "float", "i": "integer", "S": "string", "b": "bool"}


def validate(f: h5py.File, name: str, kind: str | Sequence[str] | None = None) -> str:
    """Check root attributes and required datasets; return the file's kind."""
    for attr in ROOT_ATTRS:
        if attr not in f.attrs:
            raise SchemaError(
                f"{name}: not a sugar file (root attribute {attr!r} missing); "
                "expected a file written by sugar"
            )
    check_root_attrs(f, name)
    actual = f.attrs["sugar_kind"]
    actual = actual.decode() if isinstance(actual, bytes) else str(actual)
    wanted = (kind,) if isinstance(kind, str) else tuple(kind) if kind else None
    if wanted and actual not in wanted:
        raise SchemaError(
            f"{name}: sugar_kind is {actual!r}, expected {' or '.join(map(repr, wanted))}"
        )
    if actual not in KINDS:
        raise SchemaError(f"{name}: unknown sugar_kind {actual!r}; known: {sorted(KINDS)}")
    version = int(f.attrs["schema_version"])
    if version > SCHEMA_VERSION:
        raise SchemaError(
            f"{name}: schema_version {version} is newer than this sugar ({SCHEMA_VERSION}); "
            "upgrade sugar to read it"
        )
    for spec in KINDS[actual]:
        if spec.name not in f:
            raise SchemaError(f"{name}: dataset {spec.name!r} missing (required for {actual})")
        ds = f[spec.name]
        if not isinstance(ds, h5py.Dataset):
            raise SchemaError(f"{name}: {spec.name!r} should be a dataset, found a group")
        if spec.ndim is not None and ds.ndim != spec.ndim:
            raise SchemaError(
                f"{name}: dataset {spec.name!r} expected {spec.ndim} dimensions, "
                f"found shape {ds.shape}"
            )
        fam = _family(ds.dtype)
        if spec.dtype is not None and fam != spec.dtype:
            raise SchemaError(
                f"{name}: dataset {spec.name!r} expected {_FAMILY_WORDS[spec.dtype]} values, "
                f"found {ds.dtype}"
            )
    return actual


def open_file(path: str | os.PathLike, kind: str | Sequence[str] | None = None) -> h5py.File:
    """Open a sugar file read-only and validate it (``kind`` restricts which kinds are accepted).

    Raises SchemaError naming the file for a missing file, a non-HDF5 file, a wrong kind or a
    missing / malformed dataset.
    """
    path = Path(path)
    if not path.exists():
        raise SchemaError(f"{path}: no such file")
    if path.is_dir():
        raise SchemaError(f"{path}: is a directory, expected a sugar .h5 file")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise SchemaError(f"{path}: not an HDF5 file ({exc.__class__.__name__})") from None
    try:
        validate(f, str(path), kind)
    except BaseException:
        f.close()
        raise
    return f


def kind_of(path: str | os.PathLike) -> str:
    with open_file(path) as f:
        return str(f.attrs["sugar_kind"])


def root_info(f: h5py.File) -> dict:
    """Root attributes as plain Python values (config and inputs decoded from JSON)."""
    out = {}
    for attr in ROOT_ATTRS:
        v = f.attrs[attr]
        if isinstance(v, bytes):
            v = v.decode()
        if isinstance(v, np.generic):
            v = v.item()
        if attr in ("config", "inputs"):
            v = json.loads(v)
        out[attr] = v
    return out
