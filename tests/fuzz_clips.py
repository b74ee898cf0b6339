"""Coverage-guided fuzzing of the decoding door with atheris (libFuzzer for Python), seeded with the hostile corpus.

    python -m tests.fuzz_clips --seconds 3600     # the long run; tests/test_hostile.py runs 60 s in CI

Each input is one upload: its first byte picks the file suffix, the rest is the file. The door runs in the
fuzzing process itself, so coverage sees the parsers: the in-process checks (sniff, structure.check), then
the readers the sandboxed worker runs (decode.decode). A failure is an exception raised in our own code
(convlstm/) other than ClipError, a MemoryError, a run past MAX_SECONDS (libFuzzer's -timeout) or memory past
the worker's cap (-rss_limit_mb); decoders' own exceptions are the "could not decode it" answer. libFuzzer
writes each failing input to --work; this script copies it to tests/fuzz_findings/, where the tests decode it.
"""
import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FINDINGS = ROOT / "tests" / "fuzz_findings"
MAX_SEED = 256 * 2**10  # bytes: bigger corpus files are left out of the seeds, so each execution stays fast


def as_upload(data: bytes, folder: Path) -> Path:
    """A fuzz input as an upload file in folder: the first byte picks the suffix."""
    from convlstm.upload.clips import SUFFIXES

    suffix = SUFFIXES[data[0] % len(SUFFIXES)] if data else ".gif"
    path = folder / f"upload{suffix}"
    path.write_bytes(data[1:])
    return path


def door(path: Path) -> None:
    """One upload through the door's checks and readers in this process; raises on our bug, not on a refusal."""
    from convlstm.upload import clips, readers, structure
    from convlstm.upload.limits import MAX_SECONDS

    tic = time.monotonic()
    try:
        kind = clips.sniff(path)
        structure.check(path, kind, 0)
        readers.decode([path], [kind], 0)
    except clips.ClipError:
        pass
    except MemoryError:
        raise
    except Exception as e:
        tb = e.__traceback__
        while tb.tb_next:
            tb = tb.tb_next
        if tb.tb_frame.f_code.co_filename.startswith(str(Path(clips.__file__).parent)):  # ours, not a decoder's
            raise
    if time.monotonic() - tic > MAX_SECONDS:
        raise TimeoutError(f"one input took {time.monotonic() - tic:.1f} s, past the {MAX_SECONDS:.0f} s budget")


def _seeds(folder: Path) -> None:
    """The hostile corpus (and the findings so far) as fuzz inputs."""
    import numpy as np

    from convlstm.upload.clips import SUFFIXES
    from convlstm.data import generate_sequence, load_digits
    from tests.hostile_corpus import write

    written = write(folder / "files", generate_sequence(np.random.default_rng(0), load_digits("test"))[:12])
    for name, (paths, _) in written.items():
        for i, p in enumerate(map(Path, paths[:2])):
            data = p.read_bytes()
            if len(data) <= MAX_SEED and p.suffix in SUFFIXES:
                (folder / "seeds" / f"{name}-{i}").write_bytes(bytes([SUFFIXES.index(p.suffix)]) + data)
    for finding in FINDINGS.glob("*-*"):
        shutil.copy(finding, folder / "seeds" / finding.name)
    shutil.rmtree(folder / "files")


def _fuzz(work: Path, flags: list[str]) -> None:
    """The fuzzing process: instrument, then hand control to libFuzzer (which never returns)."""
    import atheris

    with atheris.instrument_imports(include=["convlstm", "PIL"]):
        from convlstm.upload import clips, readers, structure  # noqa: F401  (instrumented here, used by door)

    def one_input(data: bytes) -> None:
        door(as_upload(data, work))

    atheris.Setup([sys.argv[0], *flags], one_input)
    atheris.Fuzz()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz_clips", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=3600, help="how long to fuzz")
    parser.add_argument("--work", type=Path, help="working folder (default: a temporary one)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args, flags = parser.parse_known_args()
    if args.child:
        _fuzz(args.work, flags)
        return
    from convlstm.upload.limits import MAX_MEMORY, MAX_SECONDS

    work = args.work or Path(tempfile.mkdtemp(prefix="fuzz-clips-"))
    (work / "seeds").mkdir(parents=True, exist_ok=True)
    (work / "findings").mkdir(exist_ok=True)
    _seeds(work)
    rss_mb = 1024 + MAX_MEMORY // 2**20  # the imports (torch included) take about 1 GB here
    r = subprocess.run([sys.executable, "-m", "tests.fuzz_clips", "--child", "--work", str(work),
                        f"-max_total_time={args.seconds}", f"-timeout={int(MAX_SECONDS) + 5}",
                        f"-rss_limit_mb={rss_mb}", f"-max_len={MAX_SEED}", "-print_final_stats=1",
                        f"-artifact_prefix={work / 'findings'}/", str(work / "seeds")],
                       cwd=ROOT, capture_output=True, text=True)
    found = sorted((work / "findings").glob("*-*"))
    for f in found:
        shutil.copy(f, FINDINGS / f.name)
    runs = re.search(r"stat::number_of_executed_units:\s*(\d+)", r.stderr)
    execs = int(runs.group(1)) if runs else 0
    print(f"{execs} execs in {args.seconds} s ({execs / max(args.seconds, 1):.1f} execs/s), "
          f"{len(found)} finding(s){' copied to ' + str(FINDINGS) if found else ''}")
    if r.returncode or found:
        sys.stderr.write(r.stderr[-6000:])
        sys.exit(1)


if __name__ == "__main__":
    main()
