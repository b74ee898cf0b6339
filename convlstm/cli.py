"""Command-line helpers shared by the package's tools."""
import argparse


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad command line as one stderr line and exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")

    def add_weights(self) -> None:
        """--weights: a shipped model's name or a weights file or folder, default the default shipped model."""
        from .checkpoint import DEFAULT_MODEL, MODELS  # torch, only for the tools that load a model

        self.add_argument("--weights", default=DEFAULT_MODEL,
                          help=f"a shipped model ({', '.join(MODELS)}) or a weights file or folder (default: {DEFAULT_MODEL})")
