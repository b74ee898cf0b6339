"""ConvLSTM seq2seq video prediction for MovingMNIST and short grey clips."""
from .checkpoint import load_weights as load_model
from .model import ModelConfig, Seq2Seq
from .api import predict

__all__ = ["ModelConfig", "Seq2Seq", "load_model", "predict"]
