import numpy as np
import pytest
from skimage.metrics import structural_similarity

from convlstm import metrics


def test_mse_and_mae_are_summed_over_the_frame():
    true = np.zeros((2, 3, 64, 64))
    pred = np.zeros((2, 3, 64, 64))
    pred[:, :, :2, :5] = 0.5  # 10 pixels off by 0.5 in every frame
    assert metrics.mse_per_step(pred, true) == pytest.approx([2.5] * 3)  # 10 * 0.25
    assert metrics.mae_per_step(pred, true) == pytest.approx([5.0] * 3)  # 10 * 0.5
    # per-pixel MSE 2.5 / 4096 -> PSNR = -10 log10 of it
    assert metrics.psnr_per_step(pred, true) == pytest.approx([-10 * np.log10(2.5 / 4096)] * 3)


def test_per_step_averages_over_sequences_only():
    true = np.zeros((2, 2, 1, 4, 4))
    pred = np.zeros((2, 2, 1, 4, 4))
    pred[0, 1] = 1.0  # sequence 0, step 1: 16 pixels wrong by 1
    assert metrics.mse_per_step(pred, true) == pytest.approx([0.0, 8.0])


def test_ssim_is_scikit_image_with_both_ranges():
    rng = np.random.default_rng(0)
    true = rng.random((2, 2, 64, 64))
    pred = np.clip(true + 0.1 * rng.standard_normal(true.shape), 0, 1)
    expect = np.mean([structural_similarity(pred[i, 1], true[i, 1], data_range=1.0) for i in range(2)])
    assert metrics.ssim_per_step(pred, true)[1] == pytest.approx(expect)
    assert metrics.ssim_per_step(true, true) == pytest.approx([1.0, 1.0])
    # OpenSTL's range-2 convention inflates SSIM of an imperfect prediction
    assert (metrics.ssim_per_step(pred, true, metrics.OPENSTL_SSIM_RANGE) > metrics.ssim_per_step(pred, true)).all()
    assert set(metrics.all_per_step(pred, true)) == {"mse", "mae", "psnr", "ssim", "ssim_openstl"}
