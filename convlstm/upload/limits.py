"""Every limit on untrusted uploads, in one place, and the error that reports breaking one.

Imports nothing on purpose: the sandboxed decoding worker (sandbox.py) loads this module, and every
megabyte it maps counts against the worker's address-space cap.
"""
ACCEPTED = "an animated GIF, an MP4/WebM clip, a .npy array (T, H, W) or (T, H, W, C), or PNG/JPG frames"
MAX_BYTES = 20 * 2**20  # per file: a 20-frame clip needs a few hundred KB
MAX_FILES = 64  # per request: 10 context frames + 30 truth as PNG/JPEG files, with room to spare
MAX_REQUEST_BYTES = 2 * MAX_BYTES  # per request, all files together
MAX_FRAMES = 300  # frames decoded per clip; the model needs 10
MAX_SIDE = 4096  # pixels, either side of every decoded frame
MAX_PIXELS = 100_000_000  # full-size pixels decoded per clip: 300 frames of 640x480 or 48 of 1080p; ~1 s here (README, Limits)
MAX_SECONDS = 4.0  # wall (and CPU) time to check and decode one clip, killed past it: ~4x the slowest honest clip (README, Limits)
MAX_DECODERS = 2  # decoding workers alive at once, the started spare included: the 2 vCPUs of a free Space
MAX_MEMORY = 640 * 2**20  # bytes of address space the decoding worker may add to what its imports took
MAX_NPY_HEADER = 10_000  # bytes; numpy's own safety default
MAX_BLOCKS = 200_000  # GIF sub-blocks, PNG chunks or JPEG segments per file: an honest 20 MB GIF has ~82,000
MAX_METADATA = 2**20  # bytes of comments, text and application blocks per file; Pillow's parsing of them is slow


class ClipError(ValueError):
    """A clip the package cannot use; the message says what was wrong and what is accepted."""
