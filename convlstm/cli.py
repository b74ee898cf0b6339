"""Command-line helpers shared by the package's tools."""
import argparse


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad command line as one stderr line and exit code 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")
