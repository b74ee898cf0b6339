"""Worker targets for tests/test_hostile.py: jobs that misbehave on purpose (imported by the worker only)."""
import os


def echo(request: dict) -> tuple[dict, bytes]:
    return {"echo": request["text"]}, request["text"].encode()


def spin(request: dict) -> tuple[dict, bytes]:
    while True:  # burns CPU until the parent's wall clock or RLIMIT_CPU ends it
        pass


def hog(request: dict) -> tuple[dict, bytes]:
    try:
        blocks = [bytearray(2**20) for _ in range(request["megabytes"])]
    except MemoryError:
        return {"refused": "MemoryError"}, b""
    return {"held": len(blocks)}, b""


def crash(request: dict) -> tuple[dict, bytes]:
    os.abort()
