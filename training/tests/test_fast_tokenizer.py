"""FAST tokenizer: round trip within its reported (and theoretical) error, persistence, bad input."""
import numpy as np
import pytest

from psi0_training.train.fast_tokenizer import FastTokenizer


def chunks(n, horizon=10, dim=6, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(horizon)[None, :, None] / 30.0
    x = 0.6 * np.sin(rng.uniform(0.5, 4, (n, 1, dim)) * t * 6 + rng.uniform(0, 6, (n, 1, dim)))
    return np.clip(x + 0.01 * rng.standard_normal(x.shape), -1, 1)


@pytest.fixture(scope="module")
def fitted():
    return FastTokenizer.fit(chunks(400), scale=20.0, vocab_size=512)


def test_round_trip_within_reported_error(fitted):
    held_out = chunks(100, seed=1)
    rep = fitted.report(held_out)
    rec = fitted.decode(fitted.encode(held_out))
    err = np.abs(rec - held_out)
    assert err.mean() == pytest.approx(rep.l1_error, rel=1e-9)
    # Rounding moves each DCT coefficient by <= 0.5/scale; the orthonormal inverse DCT turns that into at most
    # 0.5 * sqrt(H) / scale per value (no clipping happened on these chunks).
    assert rep.clipped_fraction == 0.0
    assert err.max() <= 0.5 * np.sqrt(10) / 20.0 + 1e-12
    assert rep.l1_error < 0.02
    # BPE compresses: fewer tokens than the H * D integers it encodes
    assert rep.mean_tokens < 10 * 6 and rep.compression > 1.0
    assert max(max(ids) for ids in fitted.encode(held_out)) < fitted.num_tokens <= 512


def test_finer_scale_gives_smaller_error_and_more_tokens():
    x, held = chunks(300), chunks(80, seed=2)
    coarse = FastTokenizer.fit(x, 5.0, 512).report(held)
    fine = FastTokenizer.fit(x, 50.0, 512).report(held)
    assert fine.l1_error < coarse.l1_error
    assert fine.mean_tokens > coarse.mean_tokens


def test_save_load_identical(fitted, tmp_path):
    fitted.save(tmp_path / "fast.json")
    again = FastTokenizer.load(tmp_path / "fast.json")
    x = chunks(20, seed=3)
    assert again.encode(x) == fitted.encode(x)
    np.testing.assert_array_equal(again.decode(fitted.encode(x)), fitted.decode(fitted.encode(x)))


def test_wrong_length_token_strings_decode_to_a_chunk(fitted):
    ids = fitted.encode(chunks(1, seed=4))[0]
    for bad in (ids[: len(ids) // 2], ids + ids, []):
        out = fitted.decode([bad])
        assert out.shape == (1, 10, 6) and np.isfinite(out).all()


def test_clear_errors():
    with pytest.raises(ValueError, match="lower fast_scale or raise fast_vocab_size"):
        FastTokenizer.fit(chunks(50) * 100, scale=100.0, vocab_size=64)
    tok = FastTokenizer.fit(chunks(50), 10.0, 256)
    with pytest.raises(ValueError, match=r"expects chunks \(N, 10, 6\)"):
        tok.encode(np.zeros((2, 10, 5)))
