"""The Self-Cure Network: pure loss/relabel maths, backbones by name, and the model."""
