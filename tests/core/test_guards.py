"""Finite-value guards: where data enters (stored arrays, settings) and where training could
diverge (the loss of every step of both training loops)."""

import numpy as np
import pytest
import torch

from sugar_core import guards
from sugar_core.align.config import AlignConfig
from sugar_core.errors import ConfigError, DivergedError, SchemaError
from sugar_core.settings import build
from sugar_core.tokenize.config import TokenizeConfig

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_non_finite_counts_and_finds_the_first(dtype):
    a = np.zeros((2, 3, 4), dtype=dtype)
    assert guards.non_finite(a) is None
    a[1, 2, 0], a[1, 2, 3] = np.inf, np.nan
    assert guards.non_finite(a) == (2, (1, 2, 0))
    big = np.full(4, np.finfo(np.float64).max)  # overflows the fast sum, yet finite
    assert guards.non_finite(big) is None
    assert guards.non_finite(np.arange(5)) is None


def test_require_finite_names_the_place_and_the_value():
    with pytest.raises(
        SchemaError, match=r"p.h5: dataset 'x': 1 value is not finite .* nan at \[2\]"
    ):
        guards.require_finite(np.array([0.0, 1.0, np.nan], dtype=np.float32), "p.h5: dataset 'x'")


@pytest.mark.parametrize("loss", [float("nan"), float("inf"), torch.tensor(float("-inf"))])
def test_check_loss_names_stage_epoch_and_step(loss):
    guards.check_loss(torch.tensor(0.5), "align", 0, 0)
    with pytest.raises(DivergedError, match="align: training diverged at epoch 3, step 8"):
        guards.check_loss(loss, "align", 2, 7)


@pytest.mark.parametrize(
    "settings",
    [{"lr": float("nan")}, {"lr": float("inf")}, {"lr": -1.0}, {"weight_decay": float("nan")},
     {"temperature": 0.0}, {"prep": {"crop_min": float("nan")}}],
)  # fmt: skip
def test_tokenize_settings_refuse_nan_inf_and_negative_rates(settings):
    with pytest.raises(ConfigError):
        TokenizeConfig.from_settings(settings, "here")


@pytest.mark.parametrize(
    "settings",
    [{"lr": float("nan")}, {"lr": -1e-3}, {"weight_decay": -1.0}, {"grad_clip": float("nan")},
     {"token_noise": float("inf")}, {"warmup": float("nan")}],
)  # fmt: skip
def test_align_settings_refuse_nan_inf_and_negative_rates(settings):
    with pytest.raises(ConfigError):
        AlignConfig.from_settings(settings, "here")


def test_a_whole_number_past_float_range_is_a_config_error_not_a_crash():
    with pytest.raises(ConfigError, match="lr = .*expected a number"):
        build(TokenizeConfig, {"lr": 10**400}, "here")


def _nan_from_call(real, at: int):
    """``real`` until its ``at``-th call (1-based), NaN from then on (same type as real's)."""
    calls = []

    def wrapped(*args, **kwargs):
        calls.append(1)
        out = real(*args, **kwargs)
        return out * float("nan") if len(calls) >= at else out

    return wrapped


def test_tokenize_stops_at_the_diverged_step_and_keeps_the_last_checkpoint(tmp_path, monkeypatch):
    from sugar_core.tokenize import training
    from sugar_core.tokenize.checkpoint import load_checkpoint
    from tests.helpers.tokenize import tiny_priors, tiny_set

    data = tiny_set(n=24, k=3)
    cfg = TokenizeConfig(frames=8, channels=(16, 16), strides=(2, 1), epochs=3, batch_size=4,
                         probe="none", validation="none")  # fmt: skip
    steps = 3  # 12 training samples in batches of 4
    monkeypatch.setattr(
        training.losses, "combine", _nan_from_call(training.losses.combine, steps + 2)
    )
    with pytest.raises(DivergedError, match="tokenize: training diverged at epoch 2, step 2"):
        training.train_encoder(data, tiny_priors(data.class_names), cfg, "xsub", run_dir=tmp_path)
    ckpt = load_checkpoint(tmp_path)
    assert ckpt["epoch"] == 1
    assert all(torch.isfinite(v).all() for v in ckpt["net"].values() if v.is_floating_point())


def test_tokenize_with_nan_priors_never_reports_success():
    from sugar_core.tokenize.training import train_encoder
    from tests.helpers.tokenize import tiny_priors, tiny_set

    data = tiny_set(n=24, k=3)
    priors = tiny_priors(data.class_names)
    priors.embeddings[0, 0, 0] = np.nan
    cfg = TokenizeConfig(frames=8, channels=(16, 16), strides=(2, 1), epochs=1, batch_size=4,
                         probe="none", validation="none", text_mix="mean")  # fmt: skip
    with pytest.raises(DivergedError, match="epoch 1, step 1"):
        train_encoder(data, priors, cfg, "xsub")


def test_align_stops_at_the_diverged_step_and_keeps_the_last_checkpoint(
    tiny_llm_dir, tmp_path, monkeypatch
):
    from sugar_core.align import training
    from sugar_core.align.config import BridgeConfig, LLMConfig
    from tests.helpers.align import synthetic_priors, synthetic_tokens

    cfg = AlignConfig(
        bridge=BridgeConfig(queries=3, chunk=4, width=16, heads=2),
        llm=LLMConfig(spec=str(tiny_llm_dir), lora_r=4, max_description_tokens=6),
        epochs=2, lr=5e-3, batch_size=8, checkpoint_every=1,
    )  # fmt: skip
    monkeypatch.setattr(training, "_loss", _nan_from_call(training._loss, 3))
    with pytest.raises(DivergedError, match="align: training diverged at epoch 1, step 3"):
        training.train_alignment(synthetic_tokens(), synthetic_priors(), cfg, "xview",
                                 run_dir=tmp_path)  # fmt: skip
    ck = torch.load(tmp_path / training.CHECKPOINT, weights_only=True)
    assert ck["step"] == 2 and all(torch.isfinite(v).all() for v in ck["trainable"].values())


def test_a_whole_number_past_float_range_is_taken_not_a_crash():
    assert build(TokenizeConfig, {"epochs": 10**400}, "here").epochs == 10**400


def test_tokens_past_float16_range_are_refused_before_writing(tmp_path):
    from sugar_core.tokenize.store import write_tokens
    from tests.helpers.align import synthetic_tokens

    ts = synthetic_tokens(n_per_class=2)
    ts.tokens[0] = ts.tokens[0].astype(np.float32) * 1e6
    with pytest.raises(SchemaError, match="float16"):
        write_tokens(ts, tmp_path / "t.h5")
    assert not (tmp_path / "t.h5").exists()


def test_stored_weights_that_hold_nan_are_refused_on_read(tmp_path):
    from sugar_core.tokenize.store import read_tokens, write_tokens
    from tests.helpers.align import synthetic_tokens

    ts = synthetic_tokens(n_per_class=2)
    ts.encoder_state = {"block.weight": torch.tensor([1.0, float("nan")])}
    write_tokens(ts, tmp_path / "t.h5")
    with pytest.raises(SchemaError, match="weight /encoder/block.weight: 1 value is not finite"):
        read_tokens(tmp_path / "t.h5")
