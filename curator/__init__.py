"""curator: find and fix noisy labels in facial-expression data sets with the Self-Cure Network."""

__version__ = "0.1.0"
