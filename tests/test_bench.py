from convlstm.bench import ARTICLE, macs_per_sequence
from convlstm.model import ModelConfig


def test_macs_match_the_convolutions_written_out():
    # article layout, 64x64 positions: encoder_1 (1+64 -> 4*64, 3x3), three 64+64 -> 4*64 cells, Conv3d 64 -> 1
    enc1, cell, head = 4096 * 65 * 256 * 9, 4096 * 128 * 256 * 9, 4096 * 64 * 1 * 9
    assert macs_per_sequence(ARTICLE) == 10 * (enc1 + cell) + 10 * (2 * cell + head) == 42_396_549_120  # "about 42 G"
    # patch 4: 16x16 positions, 16 input channels
    patched = ModelConfig(hidden=64, kernel_size=3, patch_size=4)
    enc1, cell, head = 256 * 80 * 256 * 9, 256 * 128 * 256 * 9, 256 * 64 * 16 * 9
    assert macs_per_sequence(patched) == 10 * (enc1 + cell) + 10 * (2 * cell + head)
