"""Hostile uploads: a corpus of bad files (written here), decoded under an address-space limit; a property
test over the decoder; and a burst of simultaneous requests against the live app's queue."""
import io
import json
import struct
import subprocess
import sys
import zipfile
from concurrent.futures import wait
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from convlstm import clips

ROOT = Path(__file__).resolve().parents[1]


def gif_bytes(frames: np.ndarray) -> bytes:
    buf = io.BytesIO()
    iio.imwrite(buf, frames, extension=".gif", duration=100, loop=0)
    return buf.getvalue()


def huge_canvas_gif() -> bytes:
    """A 1-pixel image on a logical screen that claims 65535x65535."""
    screen = b"GIF89a" + struct.pack("<HHBBB", 65535, 65535, 0, 0, 0)
    image = b"," + struct.pack("<HHHHB", 0, 0, 1, 1, 0) + b"\x02\x02\x44\x01\x00"
    return screen + image + b";"


def many_frames_gif(n: int, side: int) -> bytes:
    """n one-pixel frames on a side x side canvas: a few KB that would decode to gigabytes."""
    out = [b"GIF89a" + struct.pack("<HHBBB", side, side, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"]  # 2-colour table
    out.append(b"!\xff\x0bNETSCAPE2.0\x03\x01\x00\x00\x00")
    for i in range(n):
        out.append(b"!\xf9\x04\x00\x01\x00\x00\x00")  # graphic control: delay 1
        out.append(b"," + struct.pack("<HHHHB", i % side, (i // side) % side, 1, 1, 0) + b"\x02\x02\x44\x01\x00")
    return b"".join(out) + b";"


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
    """name -> (files to write, what the error must mention)."""
    u8 = (seq * 255).astype(np.uint8)
    good_gif, png = gif_bytes(u8), iio.imwrite("<bytes>", u8[0], extension=".png")
    mp4 = iio.imwrite("<bytes>", np.repeat(u8[..., None], 3, -1), extension=".mp4", plugin="pyav", codec="libx264", fps=10)
    return {
        "zero_bytes": ([("clip.gif", b"")], "empty"),
        "truncated_gif": ([("clip.gif", good_gif[: len(good_gif) // 3])], "clip"),
        "truncated_png": ([("frame.png", png[: len(png) // 2])], "clip"),
        "truncated_mp4": ([("clip.mp4", mp4[: len(mp4) // 3])], "clip"),
        "png_named_gif": ([("clip.gif", png)], "rename it to .png"),
        "random_named_mp4": ([("clip.mp4", bytes(range(256)) * 4)], "not a GIF"),
        "gif_65535_canvas": ([("big.gif", huge_canvas_gif())], f"{clips.MAX_SIDE}x{clips.MAX_SIDE}"),
        "gif_thousands_of_frames": ([("many.gif", many_frames_gif(5000, 64))], "300 frames"),
        "gif_huge_canvas_many_frames": ([("bomb.gif", many_frames_gif(400, 4000))], "budget"),
        "npy_object_dtype": ([("obj.npy", npy_bytes(np.array([{"a": 1}] * 3, dtype=object), allow_pickle=True))], "dtype"),
        "npy_huge_header": ([("hdr.npy", huge_header_npy())], "clip"),
        "npy_5d": ([("five.npy", npy_bytes(np.zeros((2, 2, 2, 2, 2), np.uint8)))], "shape"),
        "npy_nan_inf": ([("nan.npy", npy_bytes(np.full((3, 8, 8), np.nan, np.float32)))], "finite"),
        "npy_inf": ([("inf.npy", npy_bytes(np.full((3, 8, 8), np.inf, np.float64)))], "finite"),
        "npy_negative": ([("neg.npy", npy_bytes(np.full((3, 8, 8), -5, np.int16)))], "0-255"),
        "npy_over_255": ([("big.npy", npy_bytes(np.full((3, 8, 8), 300, np.int32)))], "0-255"),
        "npy_truncated": ([("cut.npy", npy_bytes(u8)[:-1000])], "truncated"),
        "npz_zip_bomb": ([("bomb.npz", zip_bomb())], "unsupported"),
        "frames_of_different_sizes": ([("a.png", png), ("b.png", iio.imwrite("<bytes>", np.zeros((32, 48), np.uint8), extension=".png"))], "differ"),
        "unrelated_text": ([("notes.txt", b"just some text\n")], "unsupported"),
        "text_named_npy": ([("fake.npy", b"just some text\n")], "not a GIF"),
    }


# Run inside a child under RLIMIT_AS, so a decoding bomb fails fast instead of taking the machine.
CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from convlstm import clips
with open("/proc/self/status") as f:
    vm = next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmSize"))
limit = vm + int(sys.argv[2])
resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
out = {}
for name, files in json.loads(sys.argv[1]).items():
    tic = time.monotonic()
    try:
        clip = clips.read_clip([Path(p) for p in files] if len(files) > 1 else Path(files[0]))
        out[name] = ["ok", clip.note, time.monotonic() - tic]
    except clips.ClipError as e:
        out[name] = ["ClipError", str(e), time.monotonic() - tic]
    except BaseException as e:
        out[name] = [type(e).__name__, str(e)[:300], time.monotonic() - tic]
print(json.dumps(out))
"""
HEADROOM = 1536 * 2**20  # bytes of address space the child may add to what its imports took


@pytest.fixture(scope="module")
def written(tmp_path_factory, sequence) -> dict[str, tuple[list[str], str]]:
    folder = tmp_path_factory.mktemp("corpus")
    out = {}
    for name, (files, expect) in corpus(sequence).items():
        paths = []
        for fname, data in files:
            (folder / name).mkdir(exist_ok=True)
            paths.append(folder / name / fname)
            paths[-1].write_bytes(data)
        out[name] = ([str(p) for p in paths], expect)
    return out


def test_corpus_fails_cleanly_fast_and_in_bounded_memory(written):
    r = subprocess.run([sys.executable, "-c", CHILD, json.dumps({k: v[0] for k, v in written.items()}), str(HEADROOM)],
                       cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    results = json.loads(r.stdout)
    for name, (kind, message, seconds) in results.items():
        assert kind == "ClipError", (name, kind, message)
        assert written[name][1] in message, (name, message)
        assert seconds < 10, (name, seconds)


def test_corpus_through_the_live_app(server, written):
    """Each hostile upload comes back as AppError carrying our message, and the server keeps serving."""
    import app
    from gradio_client import Client, handle_file
    from gradio_client.exceptions import AppError

    client = Client(server, verbose=False)
    for name, (paths, expect) in written.items():
        with pytest.raises(AppError) as err:
            client.predict([handle_file(p) for p in paths], 10, 0, api_name="/predict_file")
        message = str(err.value)
        # Gradio's own file_types check answers first for names we do not accept; its message is clear too
        assert expect in message or (expect == "unsupported" and "Invalid file type" in message), (name, message)
        assert "Traceback" not in message
    assert len(client.predict(2, 2, 0.1, 5, api_name="/sample")) == len(app.OUTPUTS)  # the next normal request is served


def test_single_frame_clip_is_a_short_context_not_an_error(tmp_path, sequence):
    path = tmp_path / "one.png"
    iio.imwrite(path, (sequence[0] * 255).astype(np.uint8))
    clip = clips.read_clip(path)
    assert clip.frames.shape == (1, 64, 64)


def test_oversize_file_is_refused_before_decoding(tmp_path, sequence):
    path = tmp_path / "clip.gif"
    path.write_bytes(gif_bytes((sequence * 255).astype(np.uint8)))
    with pytest.raises(clips.ClipError, match="at most 0 MB"):
        clips.read_clip(path, max_bytes=100)


MAGICS = [b"", b"GIF89a", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"\x00\x00\x00\x18ftypmp42", b"\x1a\x45\xdf\xa3",
          b"\x93NUMPY\x01\x00", b"\x93NUMPY\x02\x00"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(suffix=st.sampled_from(clips.SUFFIXES), magic=st.sampled_from(MAGICS), body=st.binary(max_size=3000))
def test_any_bytes_give_a_clip_or_our_error(tmp_path, suffix, magic, body):
    path = tmp_path / f"x{suffix}"
    path.write_bytes(magic + body)
    try:
        clip = clips.read_clip(path)
    except clips.ClipError:
        return
    assert clip.frames.dtype == np.float32 and clip.frames.shape[1:] == (64, 64)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(0, 10_000), flip=st.integers(0, 10_000))
def test_damaged_real_files_give_a_clip_or_our_error(tmp_path, sequence, cut, flip):
    data = bytearray(gif_bytes((sequence[:5] * 255).astype(np.uint8)))
    data[flip % len(data)] ^= 0xFF
    path = tmp_path / "d.gif"
    path.write_bytes(bytes(data[: max(1, len(data) - cut % len(data))]))
    try:
        clips.read_clip(path)
    except clips.ClipError:
        pass


def test_burst_of_requests_is_served_or_cleanly_refused(server):
    import app
    from gradio_client import Client

    client = Client(server, verbose=False)
    n = 3 * (app.CONCURRENCY + app.QUEUE_SIZE)
    jobs = [client.submit(i, 2, 0.1, 10, api_name="/sample") for i in range(n)]
    wait(jobs, timeout=300)
    served, refused = 0, 0
    for job in jobs:
        try:
            job.result(timeout=1)
            served += 1
        except Exception as e:  # the client's queue-full error; anything else is a failure
            assert "queue is full" in str(e).lower(), repr(e)
            refused += 1
    assert served >= app.CONCURRENCY + app.QUEUE_SIZE - 2 and served + refused == n
    assert len(client.predict(1, 1, 0.1, 3, api_name="/sample")) == len(app.OUTPUTS)  # still answering
