"""torch.hub entry point: torch.hub.load("<this repo or checkout>", "convlstm_mmnist", source="local" or "github")."""
dependencies = ["torch", "numpy", "safetensors"]


def convlstm_mmnist(pretrained: bool = True, device: str = "cpu", name: str | None = None):
    """A shipped ConvLSTM seq2seq by name ("whole-range", the default when None, or "canonical"), or (pretrained=False)
    a fresh model of its config."""
    from convlstm import Seq2Seq, load_model
    from convlstm.checkpoint import read_metadata, resolve

    return load_model(name, device) if pretrained else Seq2Seq(read_metadata(resolve(name))[0]).to(device)
