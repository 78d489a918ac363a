"""A tiny trained model as files, for `sugar predict` with classes named at prediction time.

The synthetic set (kinect20) with builtin priors embedded by the tiny BERT of
``helpers.encoders`` saved as a folder, so the priors' ``encoder_id`` loads back (new classes'
priors must share its text space); a tiny encoder and alignment trained on it. Seconds on one
CPU thread.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sugar_core.skeleton.synthetic import make_synthetic


def write_model(folder: Path, llm_dir: Path, bert_dir: Path):
    """(the synthetic set, ``folder``) with priors.h5, tokens.h5 and aligned.h5 written."""
    from sugar_core.align.config import AlignConfig, BridgeConfig, LLMConfig
    from sugar_core.align.store import save_aligned
    from sugar_core.align.training import train_alignment
    from sugar_core.predictions import Predictions
    from sugar_core.priors.backends import BackendConfig
    from sugar_core.priors.build import PriorsConfig, build_priors
    from sugar_core.priors.encoders import load_text_encoder
    from sugar_core.priors.store import write_priors
    from sugar_core.schema import input_record
    from sugar_core.skeleton.synthetic import SYNTHETIC_CLASSES
    from sugar_core.tokenize.config import TokenizeConfig
    from sugar_core.tokenize.encoding import encode
    from sugar_core.tokenize.store import write_tokens
    from sugar_core.tokenize.training import train_encoder

    data = make_synthetic(n_per_class=4, subjects=2, seed=0, layout="kinect20")
    cfg = PriorsConfig(BackendConfig(dataset="synthetic"), text_encoder=str(bert_dir))
    priors, _ = build_priors(list(SYNTHETIC_CLASSES), cfg, text_encoder=load_text_encoder(bert_dir))
    write_priors(priors, folder / "priors.h5", config=cfg.as_record())
    tok = TokenizeConfig(frames=12, channels=(8, 8), strides=(2, 2), epochs=1, batch_size=8,
                         probe="none", warmup_epochs=0)  # fmt: skip
    enc, heads, hist = train_encoder(data, priors, tok, "xsub")
    ts = encode(data, enc, heads, prep=tok.prep, history=hist, train_split="xsub")
    write_tokens(ts, folder / "tokens.h5")
    align = AlignConfig(
        bridge=BridgeConfig(queries=2, chunk=2, width=16, heads=2),
        llm=LLMConfig(spec=str(llm_dir), lora_r=2, max_description_tokens=4),
        epochs=1, lr=5e-3, batch_size=8,
    )  # fmt: skip
    model = train_alignment(ts, priors, align, "xsub")
    test = ts.split_indices("xsub", "test")
    labels = ts.labels[test]
    top5 = np.full((len(test), 5), -1, dtype=np.int64)
    top5[:, 0] = labels  # what the file holds beside the model does not matter here
    p = Predictions(labels=labels, pred=labels, top5=top5, class_names=ts.class_names,
                    sample_ids=[ts.sample_ids[i] for i in test])  # fmt: skip
    save_aligned(folder / "aligned.h5", model, p,
                 inputs=input_record([folder / "tokens.h5", folder / "priors.h5"]))  # fmt: skip
    return data, folder
