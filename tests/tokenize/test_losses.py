import math

import torch
import torch.nn.functional as F

from sugar_core.tokenize import losses


def test_mil_nce_matches_a_hand_computed_value():
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    t = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    y = torch.tensor([0, 1, 0])
    scale = torch.tensor(math.log(2.0))  # 1 / tau = 2
    out = losses.mil_nce(z, t, y, scale)
    # cosine sims: row0 (1, 0, 1), row1 (0, 1, 0), row2 (s, s, s) with s = 1/sqrt(2)
    s = 1 / math.sqrt(2)
    e = math.exp
    l0 = -math.log((e(2) + e(2)) / (e(2) + e(0) + e(2)))
    l1 = -math.log(e(2) / (e(0) + e(2) + e(0)))
    l2 = -math.log((e(2 * s) + e(2 * s)) / (3 * e(2 * s)))
    assert math.isclose(out["mil_nce"].item(), (l0 + l1 + l2) / 3, rel_tol=1e-6)
    assert math.isclose(out["tau"].item(), 0.5, rel_tol=1e-6)


def test_mil_nce_prefers_the_right_class():
    t = F.normalize(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]), dim=-1)
    y = torch.tensor([0, 1, 2])
    scale = torch.tensor(math.log(1 / 0.07))
    right = losses.mil_nce(t.clone(), t, y, scale)["mil_nce"]
    wrong = losses.mil_nce(t.roll(1, 0), t, y, scale)["mil_nce"]
    assert right < 0.01 < wrong
    sym = losses.mil_nce(t.clone(), t, y, scale, symmetric=True)["mil_nce"]
    assert sym < 0.01


def test_mil_nce_gradient_moves_towards_the_class_text():
    t = torch.eye(3)
    y = torch.tensor([0, 1, 2])
    z = torch.tensor([[0.5, 0.5, 0.0], [0.0, 1.0, 0.2], [0.1, 0.0, 1.0]], requires_grad=True)
    losses.mil_nce(z, t, y, torch.tensor(2.0))["mil_nce"].backward()
    step = z - 0.1 * z.grad
    before = F.cosine_similarity(z, t)[0]
    after = F.cosine_similarity(step, t)[0]
    assert after > before


def test_mix_texts_stays_in_the_class_and_respects_the_mask():
    g = torch.Generator().manual_seed(0)
    emb = F.normalize(torch.randn(2, 3, 4), dim=-1)
    mask = torch.tensor([[True, True, False], [True, False, False]])
    y = torch.tensor([0, 1, 0, 1])
    for mode in ("random", "pick", "mean"):
        t = losses.mix_texts(emb, mask, y, g, mode)
        assert t.shape == (4, 4)
        torch.testing.assert_close(t.norm(dim=-1), torch.ones(4))
        torch.testing.assert_close(t[1], emb[1, 0])  # only one text available
        # class 0 mixes lie in the span of its two texts, never the masked third
        basis = emb[0, :2].T
        coef = torch.linalg.lstsq(basis, t[0:1].T).solution
        torch.testing.assert_close(basis @ coef, t[0:1].T, atol=1e-5, rtol=1e-5)
    pick = losses.mix_texts(emb, mask, y, g, "pick")
    assert any(torch.allclose(pick[0], emb[0, j]) for j in range(2))


def test_class_prototypes_average_masked_texts():
    emb = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]]])
    mask = torch.tensor([[True, True, False]])
    p = losses.class_prototypes(emb, mask)
    torch.testing.assert_close(p, F.normalize(torch.tensor([[0.5, 0.5]]), dim=-1))


def test_cross_entropy_and_combine():
    logits = torch.tensor([[2.0, 0.0], [0.0, 2.0]])
    y = torch.tensor([0, 1])
    ce = losses.cross_entropy(logits, y)["ce"]
    assert math.isclose(ce.item(), -math.log(math.exp(2) / (math.exp(2) + 1)), rel_tol=1e-6)
    total = losses.combine({"ce": ce, "mil_nce": torch.tensor(1.0)}, {"ce": 2.0, "mil_nce": 1.0})
    assert math.isclose(total.item(), 2 * ce.item() + 1.0, rel_tol=1e-6)
