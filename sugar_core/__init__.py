"""sugar: skeleton-based action recognition with text priors and a frozen LLM.

The public API, one import for a notebook (names load on first use, so ``import sugar_core``
stays fast)::

    import sugar_core as sg

    data = sg.read_skeletons("ucla.h5")                     # after `sugar data import`
    priors = sg.read_priors("priors.h5")                    # after `sugar priors`
    enc, heads, history = sg.train_encoder(data, priors, sg.TokenizeConfig(), split="xview")
    tokens = sg.encode(data, enc, heads)                    # stage 1 -> TokenSet
    model = sg.train_alignment(tokens, priors, sg.AlignConfig(), split="xview")
    pred = sg.predict_split(model, tokens, tokens.split_indices("xview", "test"))
    print(sg.compute_metrics(pred.labels, pred.pred, pred.top5, tokens.class_names)["top1"])

Packages, in the order data flows: ``skeleton`` (layouts, readers, transforms, synthetic set),
``priors``, ``tokenize`` (stage 1), ``align`` (stage 2), ``zeroshot``, ``evaluate``,
``pipeline`` (demo, prediction on raw files); shared bottoms ``errors``, ``schema``,
``settings``, ``events``, ``predictions``, ``models``. See docs/architecture.md.

Dimension glossary used in docstrings, asserts and shape comments across the package:

    N  samples          M  persons (bodies)     T  frames          V  joints
    C  coordinates      K  classes              P  texts per class D  embedding width
    Ls token-sequence length                    Q  queries (TQP)   H  hidden width
    S  chunk length                             B  batch
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sugar_core.lazy import exports
from sugar_core.version import __version__

# public name -> module that defines it
_API = {
    # errors
    "SugarError": "sugar_core.errors",
    "ConfigError": "sugar_core.errors",
    "InputFormatError": "sugar_core.errors",
    "SchemaError": "sugar_core.errors",
    # data
    "SkeletonSet": "sugar_core.skeleton.dataset",
    "Sample": "sugar_core.skeleton.dataset",
    "read_skeletons": "sugar_core.skeleton.dataset",
    "write_skeletons": "sugar_core.skeleton.dataset",
    "read_dataset": "sugar_core.skeleton.io",
    "import_to_file": "sugar_core.skeleton.streaming",
    "open_skeletons": "sugar_core.skeleton.lazy_set",
    "make_synthetic": "sugar_core.skeleton.synthetic",
    # priors
    "Priors": "sugar_core.priors.store",
    "read_priors": "sugar_core.priors.store",
    "write_priors": "sugar_core.priors.store",
    "PriorsConfig": "sugar_core.priors.build",
    "build_priors": "sugar_core.priors.build",
    # stage 1
    "TokenizeConfig": "sugar_core.tokenize.config",
    "train_encoder": "sugar_core.tokenize.training",
    "encode": "sugar_core.tokenize.encoding",
    "TokenSet": "sugar_core.tokenize.store",
    "read_tokens": "sugar_core.tokenize.store",
    "write_tokens": "sugar_core.tokenize.store",
    "load_encoder": "sugar_core.tokenize.store",
    # stage 2
    "AlignConfig": "sugar_core.align.config",
    "train_alignment": "sugar_core.align.training",
    "predict": "sugar_core.align.inference",
    "predict_split": "sugar_core.align.inference",
    "save_aligned": "sugar_core.align.store",
    "load_aligned": "sugar_core.align.store",
    # zero-shot
    "ZeroShotConfig": "sugar_core.zeroshot.config",
    "run_zeroshot": "sugar_core.zeroshot.protocol",
    "resolve_split": "sugar_core.zeroshot.splits",
    # evaluation and predictions files
    "Predictions": "sugar_core.predictions",
    "read_predictions": "sugar_core.predictions",
    "compute_metrics": "sugar_core.evaluate.metrics",
    "evaluate_file": "sugar_core.evaluate.report",
    "load_source": "sugar_core.evaluate.sources",
    "fuse": "sugar_core.evaluate.ensemble",
    "write_ensemble": "sugar_core.evaluate.ensemble",
    # whole runs
    "DemoConfig": "sugar_core.pipeline.config",
    "run_demo": "sugar_core.pipeline.demo",
    "load_predictor": "sugar_core.pipeline.predict",
    "predict_samples": "sugar_core.pipeline.predict",
    "recipes": "sugar_core.settings",
}

__all__ = [
    "__version__",
    "SugarError",
    "ConfigError",
    "InputFormatError",
    "SchemaError",
    "SkeletonSet",
    "Sample",
    "read_skeletons",
    "write_skeletons",
    "read_dataset",
    "import_to_file",
    "open_skeletons",
    "make_synthetic",
    "Priors",
    "read_priors",
    "write_priors",
    "PriorsConfig",
    "build_priors",
    "TokenizeConfig",
    "train_encoder",
    "encode",
    "TokenSet",
    "read_tokens",
    "write_tokens",
    "load_encoder",
    "AlignConfig",
    "train_alignment",
    "predict",
    "predict_split",
    "save_aligned",
    "load_aligned",
    "ZeroShotConfig",
    "run_zeroshot",
    "resolve_split",
    "Predictions",
    "read_predictions",
    "compute_metrics",
    "evaluate_file",
    "load_source",
    "fuse",
    "write_ensemble",
    "DemoConfig",
    "run_demo",
    "load_predictor",
    "predict_samples",
    "recipes",
]


__getattr__, __dir__ = exports(__name__, _API, __all__)


if TYPE_CHECKING:  # static analysers see the real names
    from sugar_core.align.config import AlignConfig
    from sugar_core.align.inference import predict, predict_split
    from sugar_core.align.store import load_aligned, save_aligned
    from sugar_core.align.training import train_alignment
    from sugar_core.errors import ConfigError, InputFormatError, SchemaError, SugarError
    from sugar_core.evaluate.ensemble import fuse, write_ensemble
    from sugar_core.evaluate.metrics import compute_metrics
    from sugar_core.evaluate.report import evaluate_file
    from sugar_core.evaluate.sources import load_source
    from sugar_core.pipeline.config import DemoConfig
    from sugar_core.pipeline.demo import run_demo
    from sugar_core.pipeline.predict import load_predictor, predict_samples
    from sugar_core.predictions import Predictions, read_predictions
    from sugar_core.priors.build import PriorsConfig, build_priors
    from sugar_core.priors.store import Priors, read_priors, write_priors
    from sugar_core.settings import recipes
    from sugar_core.skeleton.dataset import Sample, SkeletonSet, read_skeletons, write_skeletons
    from sugar_core.skeleton.io import read_dataset
    from sugar_core.skeleton.lazy_set import open_skeletons
    from sugar_core.skeleton.streaming import import_to_file
    from sugar_core.skeleton.synthetic import make_synthetic
    from sugar_core.tokenize.config import TokenizeConfig
    from sugar_core.tokenize.encoding import encode
    from sugar_core.tokenize.store import TokenSet, load_encoder, read_tokens, write_tokens
    from sugar_core.tokenize.training import train_encoder
    from sugar_core.zeroshot.config import ZeroShotConfig
    from sugar_core.zeroshot.protocol import run_zeroshot
    from sugar_core.zeroshot.splits import resolve_split
