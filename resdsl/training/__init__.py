"""``resdsl train``: a spec trained on a dataset read from disk, on one device or many (torchrun),
with checkpoints that lose nothing. Imports torch."""

from resdsl.training.engine import Options, Result, train

__all__ = ["Options", "Result", "train"]
