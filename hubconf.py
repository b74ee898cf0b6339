"""torch.hub entry point: torch.hub.load("<this repo or checkout>", "convlstm_mmnist", source="local" or "github")."""
dependencies = ["torch", "numpy", "safetensors"]


def convlstm_mmnist(pretrained: bool = True, device: str = "cpu"):
    """The ConvLSTM seq2seq: the shipped weights, or (pretrained=False) a fresh model of the same config."""
    from convlstm import ModelConfig, Seq2Seq, load_model

    return load_model(device=device) if pretrained else Seq2Seq(ModelConfig()).to(device)
