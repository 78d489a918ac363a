"""Naming and describing the action in raw skeleton files with a trained aligned model.

    files = read_inputs(["a.skeleton", "b.json"])            # parse first: a bad file fails fast
    model = load_predictor("aligned.h5")                      # encoder + bridge + frozen LLM
    rows = predict_samples(model, files)                      # class, top-5, description

Where the weights come from: the aligned file holds the bridge and LoRA and names its LLM; its
``inputs`` record names the tokens file (path and sha256), which holds the skeleton encoder.
``tokens=`` overrides that path when the tokens file has moved. Hashes are compared, and a file
that differs from the one the model was trained with is reported in ``Predictor.warnings``
(the CLI prints them). Every raw file is parsed with the readers' per-file function and its
joints are re-expressed in the encoder's layout (``layouts.convert``) when the two differ.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sugar_core import schema
from sugar_core.errors import ConfigError, InputFormatError, SchemaError
from sugar_core.skeleton import io
from sugar_core.skeleton.dataset import Sample, SkeletonSet
from sugar_core.skeleton.layouts import convert, joint_map
from sugar_core.skeleton.readers.detect import POSE_READERS
from sugar_core.skeleton.readers.poses import layout_for

# the joint layout each one-recording-per-file reader produces (the array and pickle formats
# say theirs inside the file)
DIRECTORY_LAYOUTS = {"ntu": "ntu25", "nw-ucla": "kinect20", "msr": "msr20"}
# file name endings -> format, for files given without --format
SUFFIX_FORMATS = (
    (".skeleton", "ntu"),
    ("_skeleton3D.txt", "msr"),
    (".txt", "msr"),
    (".json", "nw-ucla"),
    (".npz", "numpy"),
    (".pkl", "pyskl"),
    (".pickle", "pyskl"),
)


def guess_format(path: str | os.PathLike) -> str:
    """The format a file's name suggests (a pose estimator's clip: its content); ConfigError
    naming the file when none does."""
    for fmt, reader in POSE_READERS.items():
        if reader.sniff(Path(path)):
            return fmt
    name = Path(path).name.lower()
    for suffix, fmt in SUFFIX_FORMATS:
        if name.endswith(suffix.lower()):
            return fmt
    raise ConfigError(
        f"{path}: cannot tell the format from the file name; pass --format "
        f"({', '.join(io.FORMATS)})"
    )


@dataclass
class RawFile:
    """One input file, parsed: its samples in the file's own joint layout."""

    path: str
    fmt: str
    layout: str
    samples: list[Sample]


def read_raw(path: str | os.PathLike, fmt: str | None = None) -> RawFile:
    """Parse one raw file, or an OpenPose clip folder (format guessed when ``fmt`` is None or
    "auto")."""
    fmt = guess_format(path) if fmt in (None, "auto") else fmt
    if fmt not in io.FORMATS:
        raise ConfigError(f"unknown format {fmt!r}; choose one of {', '.join(io.FORMATS)}")
    path = Path(path)
    if fmt in POSE_READERS:  # a clip: the layout follows its joint count
        (sample,) = io.read_file(path, fmt)
        return RawFile(str(path), fmt, layout_for(*sample.joints.shape[2:], None, path), [sample])
    if not path.is_file():
        raise InputFormatError(path, "is a directory" if path.is_dir() else "no such file")
    if fmt in io.FILE_READERS:
        data = io.read_dataset(path, fmt)
        return RawFile(str(path), fmt, data.layout, data.samples)
    return RawFile(str(path), fmt, DIRECTORY_LAYOUTS[fmt], io.read_file(path, fmt))


def read_inputs(paths, fmt: str | None = None) -> list[RawFile]:
    """Parse every file before any model loads, so a bad file costs no model time."""
    if not paths:
        raise ConfigError("no skeleton files given")
    return [read_raw(p, fmt) for p in paths]


# ---------------------------------------------------------------------------------------------
# the trained parts


@dataclass
class Predictor:
    model: object  # AlignedModel (bridge + frozen LLM + LoRA)
    encoder: object  # SkeletonEncoder
    heads: object  # stage-1 heads (the text head; tokenize wants it)
    prep: object  # PrepConfig the encoder was trained with
    layout: str  # the encoder's joint layout
    tokens_path: str
    warnings: list[str] = field(default_factory=list)


def _sha_or_none(path: Path) -> str | None:
    return schema.sha256(path) if path.is_file() else None


def find_tokens(aligned: str | os.PathLike, tokens: str | os.PathLike | None = None):
    """(tokens path, warnings) for an aligned file: its recorded input, or ``tokens``.

    Raises SchemaError naming the aligned file when no recorded tokens file is where it was
    and no override is given.
    """
    with schema.open_file(aligned, "aligned") as f:
        recorded = schema.root_info(f)["inputs"]
    warnings = []
    if tokens is not None:
        path = Path(tokens)
        with schema.open_file(path, "tokens"):
            pass
        digest = schema.sha256(path)
        if digest not in {r.get("sha256") for r in recorded}:
            warnings.append(
                f"{path}: not the tokens file {aligned} was trained with (its sha256 matches "
                "no recorded input); the encoder may not fit the bridge"
            )
        return str(path), warnings
    for rec in recorded:
        path = Path(rec.get("path", ""))
        if not path.is_file():
            continue
        try:
            kind = schema.kind_of(path)
        except SchemaError:
            continue
        if kind != "tokens":
            continue
        if _sha_or_none(path) != rec.get("sha256"):
            warnings.append(
                f"{path}: changed since {aligned} was trained (sha256 differs from the "
                "recorded one); the encoder may not fit the bridge"
            )
        return str(path), warnings
    listed = ", ".join(str(r.get("path")) for r in recorded) or "none"
    raise SchemaError(
        f"{aligned}: the tokens file it was trained with is not where it was (inputs: "
        f"{listed}); pass --tokens tokens.h5"
    )


def load_predictor(
    aligned: str | os.PathLike,
    tokens: str | os.PathLike | None = None,
    llm: str | None = None,
) -> Predictor:
    """Everything needed to go from joints to answers (see the module docstring)."""
    from sugar_core.align.store import load_aligned
    from sugar_core.tokenize.store import load_encoder

    tokens_path, warnings = find_tokens(aligned, tokens)
    encoder, heads, prep, layout = load_encoder(tokens_path)
    model = load_aligned(aligned, llm_spec=llm)
    if encoder.cfg.dim != model.token_dim:
        raise ConfigError(
            f"{tokens_path}: its encoder makes {encoder.cfg.dim}-wide tokens, the bridge in "
            f"{aligned} reads {model.token_dim}; pass the tokens file it was trained with"
        )
    if model.readout != "llm":
        warnings.append(
            f"{aligned}: its LLM collapsed, sat near chance or lagged far behind the text-prior "
            "classifier on the validation part when it was aligned; answers on its own action "
            "list come from the text-prior classifier (`readout` in --json), with no "
            "description; align with more steps "
            "(`sugar align --epochs N` or `--set min_steps=N`) to let the LLM answer"
        )
    return Predictor(model, encoder, heads, prep, layout, tokens_path, warnings)


# ---------------------------------------------------------------------------------------------
# predicting


@dataclass
class Answer:
    """The model's answer for one sample of one file."""

    file: str
    sample_id: str
    class_name: str  # the top-ranked class
    top5: list[tuple[str, float]]  # (class, log-likelihood), best first
    description: str  # generated description ("" with describe=False)
    # with classes named at prediction time (``candidates``), else None / empty:
    new_classes: list[str] | None = None  # the candidates given at prediction time
    baseline: list[tuple[str, float]] | None = None  # embedding baseline (class, cosine)
    baseline_calibration: str = "none"  # or reference: minus each class's reference mean
    class_description: str = ""  # the winning class's own description text
    notes: list[str] = field(default_factory=list)
    readout: str = "llm"  # or the text-prior fallback the model chose at align time

    def to_dict(self) -> dict:
        out = {
            "file": self.file,
            "sample_id": self.sample_id,
            "class": self.class_name,
            "top5": [{"class": c, "score": s} for c, s in self.top5],
            "description": self.description,
        }
        if self.readout != "llm":  # the key exists only when the LLM did not answer
            out["readout"] = self.readout
        if self.new_classes is None:
            return out
        new = set(self.new_classes)
        for t in out["top5"]:
            t["new"] = t["class"] in new
        base = None
        if self.baseline:
            top = [{"class": c, "score": s, "new": c in new} for c, s in self.baseline]
            base = {"class": top[0]["class"], "new": top[0]["new"], "top5": top,
                    "calibration": self.baseline_calibration}  # fmt: skip
        out["new"] = self.class_name in new
        out["class_description"] = self.class_description
        out["new_classes"] = list(self.new_classes)
        out["baseline"] = base
        out["notes"] = list(self.notes)
        return out


def to_layout(raw: RawFile, layout: str) -> list[Sample]:
    """The file's samples re-expressed in ``layout`` (ConfigError naming the file if no map)."""
    if raw.layout == layout:
        return raw.samples
    try:
        joint_map(raw.layout, layout)
    except ConfigError as exc:
        msg = f"{raw.path}: {raw.layout} joints, the encoder reads {layout}: {exc}"
        raise ConfigError(msg) from None
    return [
        Sample(np.ascontiguousarray(convert(s.joints, raw.layout, layout)), s.label,
               s.sample_id, dict(s.meta))
        for s in raw.samples
    ]  # fmt: skip


def predict_samples(
    predictor: Predictor,
    files: list[RawFile],
    describe: bool = True,
    max_new_tokens: int = 48,
    batch_size: int = 16,
    callback=None,
    candidates=None,
    calibration: str | None = None,
) -> list[Answer]:
    """Rank every candidate class for each sample; describe the winner (``describe``).
    ``calibration``: how rank scores are corrected (default: the model's own).

    ``candidates`` (``new_classes.Candidates``): the action list to rank instead of the
    model's own, with classes named at prediction time; the embedding baseline (cosine of the
    encoder's text-space feature to each candidate's prior prototype) is then reported too.
    """
    from sugar_core.align import readout
    from sugar_core.align.inference import predict
    from sugar_core.tokenize.encoding import encode

    owners, samples = [], []
    for raw in files:
        for s in to_layout(raw, predictor.layout):
            owners.append(raw.path)
            samples.append(s)
    names = list(predictor.model.class_names if candidates is None else candidates.names)
    data = SkeletonSet(samples, names, predictor.layout, {}, "predict")
    ts = encode(data, predictor.encoder, predictor.heads, prep=predictor.prep)
    priors = candidates.priors if candidates is not None else None  # notes, answer texts
    # the model's own list, and align chose the text-prior read-out: it answers and the LLM
    # is not run (its answers would be discarded, its descriptions are of its own answers)
    fallback = readout.applies(predictor.model, names) if candidates is None else False
    if fallback:
        pred, top5, scores = readout.rank(ts.projected, predictor.model.prototypes)
        texts = [""] * len(samples)
    else:
        dec = predict(
            predictor.model, ts.tokens, names, decode="rank", batch_size=batch_size,
            describe=describe, max_new_tokens=max_new_tokens, callback=callback, priors=priors,
            calibration=calibration,
        )  # fmt: skip
        pred, top5, scores = dec.pred, dec.top5, dec.scores
        texts = dec.description if describe else [""] * len(samples)
    base, base_cal = None, "none"
    if candidates is not None:
        base, base_cal = _baseline(ts.projected, candidates, predictor.model, calibration)
    out = []
    for i, s in enumerate(samples):
        top = [(names[int(k)], float(v)) for k, v in zip(top5[i], scores[i]) if k >= 0]
        a = Answer(owners[i], s.sample_id, names[int(pred[i])], top, texts[i],
                   readout=predictor.model.readout if fallback else "llm")  # fmt: skip
        if candidates is not None:
            a.new_classes = candidates.new_names
            a.class_description = candidates.descriptions[int(pred[i])]
            a.notes = list(candidates.notes)
            if base is not None:
                a.baseline = [(names[int(k)], float(v)) for k, v in zip(*base[i]) if k >= 0]
                a.baseline_calibration = base_cal
        out.append(a)
    return out


def _baseline(projected: np.ndarray, candidates, model, calibration: str | None):
    """(per sample (top-5 positions, scores), its calibration) of the embedding baseline, or
    (None, "none") when the candidates have no prototypes or they live in another text space
    than the encoder's (a note says so). The baseline is corrected like the LLM's rank
    scores where that correction is ``reference`` (``calibration``, else the model's own):
    each class's mean cosine over the model's reference samples is subtracted, when the
    model kept their features (a note says when it did not)."""
    from sugar_core.priors.prototypes import cosine_rank

    protos = candidates.prototypes  # (K, E)
    if protos is None:
        return None, "none"
    if protos.shape[1] != projected.shape[1]:
        candidates.notes.append(
            f"no embedding baseline: the priors are {protos.shape[1]}-d, the encoder projects "
            f"into {projected.shape[1]}-d text space"
        )
        return None, "none"
    ref = None
    if "reference" in (calibration or model.calibration):
        ref = model.reference_projected  # (R, E) | None
        if ref is None:
            candidates.notes.append(
                "the embedding baseline is not calibrated: the model keeps no reference "
                "features (aligned before they were kept)"
            )
    cand = np.arange(len(protos))
    _, top, cos = cosine_rank(projected, protos, cand, reference=ref)  # (N, 5), (N, 5)
    return list(zip(top, cos)), "none" if ref is None else "reference"
