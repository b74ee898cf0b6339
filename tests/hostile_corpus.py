"""The hostile corpus, written by the tests themselves: name -> (files, what the answer must say).

An expectation "ok: TEXT" means a correct clip whose note contains TEXT; any other expectation is text the
ClipError must contain. Shared by tests/test_hostile.py and the fuzz target tests/fuzz_clips.py (seeds).
"""
import io
import os
import struct
import zipfile
from fractions import Fraction

import av
import imageio.v3 as iio
import numpy as np

from convlstm.upload import clips
from convlstm.upload.limits import MAX_FILES, MAX_REQUEST_BYTES


def gif_bytes(frames: np.ndarray) -> bytes:
    buf = io.BytesIO()
    iio.imwrite(buf, frames, extension=".gif", duration=100, loop=0)
    return buf.getvalue()


def gif_screen(w: int, h: int) -> bytes:
    """A GIF89a header with a 2-colour global table."""
    return b"GIF89a" + struct.pack("<HHBBB", w, h, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"


def gif_image(x: int, y: int, w: int = 1, h: int = 1) -> bytes:
    """One w x h image block at (x, y) (LZW data for a 1-pixel image; Pillow fills the rest)."""
    return b"," + struct.pack("<HHHHB", x, y, w, h, 0) + b"\x02\x02\x44\x01\x00"


def huge_canvas_gif() -> bytes:
    """A 1-pixel image on a logical screen that claims 65535x65535."""
    return b"GIF89a" + struct.pack("<HHBBB", 65535, 65535, 0, 0, 0) + gif_image(0, 0) + b";"


def many_frames_gif(n: int, side: int) -> bytes:
    """n one-pixel frames on a side x side canvas: a few KB that would decode to gigabytes."""
    out = [gif_screen(side, side), b"!\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00"]
    for i in range(n):
        out.append(b"!\xf9\x04\x00\x01\x00\x00\x00" + gif_image(i % side, (i // side) % side))
    return b"".join(out) + b";"


def far_frame_gif() -> bytes:
    """A 1x1 screen whose second frame sits at (12999, 12999): Pillow would grow its canvas to 13000x13000."""
    return gif_screen(1, 1) + gif_image(0, 0) + gif_image(12999, 12999) + b";"


def comment_blocks_gif(megabytes: float) -> bytes:
    """A valid 1-frame GIF after megabytes of one-byte comment sub-blocks: quadratic in Pillow's open step."""
    n = int(megabytes * 2**20) // 2
    return gif_screen(1, 1) + b"!\xfe" + b"\x01C" * n + b"\x00" + gif_image(0, 0) + b";"


def empty_chunks_png(png: bytes, megabytes: float) -> bytes:
    """A valid PNG with megabytes of empty private chunks between IHDR and the pixels."""
    empty = struct.pack(">I4s", 0, b"prVt") + struct.pack(">I", 0x3F1D5A0E)  # CRC is not checked for private chunks
    return png[:33] + empty * (int(megabytes * 2**20) // 12) + png[33:]


def app_markers_jpeg(jpeg: bytes, megabytes: float) -> bytes:
    """A valid JPEG with megabytes of tiny APP15 segments after SOI."""
    return jpeg[:2] + b"\xff\xef\x00\x02" * (int(megabytes * 2**20) // 4) + jpeg[2:]


def resizing_webm(big: tuple[int, int]) -> bytes:
    """A WebM whose track header and first keyframes say 64x64, followed by keyframes of big = (w, h)."""
    buf = io.BytesIO()
    with av.open(buf, "w", format="webm") as out:
        stream = out.add_stream("libvpx", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        later = av.CodecContext.create("libvpx", "w")
        later.width, later.height, later.pix_fmt, later.time_base = *big, "yuv420p", Fraction(1, 10)
        for t in range(6):
            codec, (w, h) = (stream, (64, 64)) if t < 3 else (later, big)
            frame = av.VideoFrame.from_ndarray(np.full((h, w, 3), 40 * t, np.uint8), format="rgb24")
            frame.pts = t
            for packet in codec.encode(frame):
                packet.stream, packet.pts, packet.dts, packet.time_base = stream, t, t, Fraction(1, 10)
                out.mux(packet)
            if t == 2:
                for packet in stream.encode():
                    out.mux(packet)
        for packet in later.encode():
            packet.stream = stream
            out.mux(packet)
    return buf.getvalue()


def npy_bytes(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=allow_pickle)
    return buf.getvalue()


def huge_header_npy() -> bytes:
    header = "{'descr': '|u1', 'fortran_order': False, 'shape': (1, 8, 8), " + " " * 200_000 + "}\n"
    return b"\x93NUMPY\x02\x00" + struct.pack("<I", len(header)) + header.encode() + bytes(64)


def zip_bomb() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("arr_0.npy", b"\x00" * (200 * 2**20))  # 200 MB of zeros in ~200 KB
    return buf.getvalue()


def corpus(seq: np.ndarray) -> dict[str, tuple[list[tuple[str, bytes]], str]]:
    """name -> (files to write, expectation)."""
    u8 = (seq * 255).astype(np.uint8)
    good_gif, png = gif_bytes(u8), iio.imwrite("<bytes>", u8[0], extension=".png")
    jpeg = iio.imwrite("<bytes>", u8[0], extension=".jpg")
    mp4 = iio.imwrite("<bytes>", np.repeat(u8[..., None], 3, -1), extension=".mp4", plugin="pyav", codec="libx264", fps=10)
    thin = np.zeros((300, 1, 4096), np.uint8)
    thin[:, :, ::2] = 255
    return {
        "zero_bytes": ([("clip.gif", b"")], "empty"),
        "truncated_gif": ([("clip.gif", good_gif[: len(good_gif) // 3])], "clip"),
        "truncated_png": ([("frame.png", png[: len(png) // 2])], "clip"),
        "truncated_mp4": ([("clip.mp4", mp4[: len(mp4) // 3])], "clip"),
        "png_named_gif": ([("clip.gif", png)], "rename it to .png"),
        "random_named_mp4": ([("clip.mp4", bytes(range(256)) * 4)], "not a GIF"),
        "gif_65535_canvas": ([("big.gif", huge_canvas_gif())], f"{clips.MAX_SIDE}x{clips.MAX_SIDE}"),
        "gif_thousands_of_frames": ([("many.gif", many_frames_gif(5000, 64))], "300 frames"),
        "gif_huge_canvas_many_frames": ([("bomb.gif", many_frames_gif(400, 4000))], "decoding budget"),
        "gif_huge_canvas_18_frames": ([("bomb.gif", many_frames_gif(18, 4000))], "decoding budget"),
        "gif_frame_far_off_a_1x1_screen": ([("far.gif", far_frame_gif())], "placed at (12999, 12999)"),
        "gif_1_5_mb_of_comment_blocks": ([("talk.gif", comment_blocks_gif(1.5))], "blocks"),
        "gif_6_mb_of_comment_blocks": ([("talk.gif", comment_blocks_gif(6))], "blocks"),
        "png_19_mb_of_empty_chunks": ([("chunks.png", empty_chunks_png(png, 19))], "blocks"),
        "jpeg_19_mb_of_app_markers": ([("app.jpg", app_markers_jpeg(jpeg, 19))], "blocks"),
        "webm_grows_past_the_side_limit": ([("grow.webm", resizing_webm((4200, 16)))], "frame 4 is 4200x16"),
        "webm_changes_size_mid_stream": ([("change.webm", resizing_webm((128, 128)))], "differ in size"),
        "npy_300_thin_frames": ([("thin.npy", npy_bytes(thin))], "ok: 300 frames 4096x1 grey"),
        "npy_object_dtype": ([("obj.npy", npy_bytes(np.array([{"a": 1}] * 3, dtype=object), allow_pickle=True))], "dtype"),
        "npy_huge_header": ([("hdr.npy", huge_header_npy())], "clip"),
        "npy_5d": ([("five.npy", npy_bytes(np.zeros((2, 2, 2, 2, 2), np.uint8)))], "shape"),
        "npy_canonical_n_0": ([("none.npy", npy_bytes(np.zeros((20, 0, 64, 64), np.uint8)))], "N = 0"),
        "npy_nan_inf": ([("nan.npy", npy_bytes(np.full((3, 8, 8), np.nan, np.float32)))], "finite"),
        "npy_inf": ([("inf.npy", npy_bytes(np.full((3, 8, 8), np.inf, np.float64)))], "finite"),
        "npy_negative": ([("neg.npy", npy_bytes(np.full((3, 8, 8), -5, np.int16)))], "0-255"),
        "npy_over_255": ([("big.npy", npy_bytes(np.full((3, 8, 8), 300, np.int32)))], "0-255"),
        "npy_truncated": ([("cut.npy", npy_bytes(u8)[:-1000])], "truncated"),
        "npz_zip_bomb": ([("bomb.npz", zip_bomb())], "unsupported"),
        "frames_of_different_sizes": ([("a.png", png), ("b.png", iio.imwrite("<bytes>", np.zeros((32, 48), np.uint8), extension=".png"))], "differ"),
        "too_many_files": ([(f"f{i:03d}.png", png) for i in range(MAX_FILES + 1)], f"at most {MAX_FILES}"),
        "too_many_bytes": ([(f"f{i}.png", png + os.urandom(MAX_REQUEST_BYTES // 3)) for i in range(4)], "MB in one request"),
        "unrelated_text": ([("notes.txt", b"just some text\n")], "unsupported"),
        "text_named_npy": ([("fake.npy", b"just some text\n")], "not a GIF"),
    }


def write(folder, seq: np.ndarray) -> dict[str, tuple[list[str], str]]:
    """The corpus written under folder/NAME/: name -> (paths, expectation)."""
    out = {}
    for name, (files, expect) in corpus(seq).items():
        (folder / name).mkdir(parents=True, exist_ok=True)
        paths = []
        for fname, data in files:
            paths.append(folder / name / fname)
            paths[-1].write_bytes(data)
        out[name] = ([str(p) for p in paths], expect)
    return out
