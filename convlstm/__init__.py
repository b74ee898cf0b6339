"""ConvLSTM seq2seq video prediction for MovingMNIST and short grey clips.

The public names load lazily, so `import convlstm.model` pulls in torch alone, not the image and file libraries.
"""
import importlib

_PUBLIC = {"ModelConfig": "model", "Seq2Seq": "model", "load_model": "checkpoint", "predict": "api"}
_RENAMED = {"load_model": "load_weights"}
__all__ = list(_PUBLIC)


def __getattr__(name: str):
    if name not in _PUBLIC:
        raise AttributeError(f"module 'convlstm' has no attribute {name!r}")
    module = importlib.import_module(f".{_PUBLIC[name]}", __name__)
    return getattr(module, _RENAMED.get(name, name))
