"""Data in: importers that turn a user's labelled images into one Manifest table."""

from curator.data.manifest import Manifest

__all__ = ["Manifest"]
