"""ConvLSTM seq2seq video prediction for MovingMNIST and short grey clips.

    import convlstm
    future = convlstm.predict(frames, horizon=10)   # the shipped weights; convlstm.load_model(path) for others

The public names load lazily, so `import convlstm.model` pulls in torch alone, not the image and file libraries.
No submodule shares a public name, so importing any submodule never shadows one (tests/test_package.py).
"""
import importlib

__version__ = "0.2.0"
_PUBLIC = {"ModelConfig": "model", "Seq2Seq": "model", "load_model": "checkpoint", "predict": "api"}
__all__ = [*_PUBLIC, "__version__"]


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'convlstm' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
