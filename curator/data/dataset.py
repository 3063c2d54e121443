"""Images from disk for training and evaluation: a streaming torch Dataset and its transforms.

Images are decoded lazily per item (memory stays flat however large the data set), converted to
RGB, resized to the run's image size and normalised with ImageNet statistics. Training adds the
SCN authors' augmentation: horizontal flip and random erasing.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from PIL import Image
from torch.utils.data import Dataset, Sampler
from torchvision import transforms

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


def make_transform(image_size: int, *, train: bool) -> transforms.Compose:
    """Resize + (flip, erasing when training) + normalise."""
    steps: list = [transforms.Resize((image_size, image_size))]
    if train:
        steps.append(transforms.RandomHorizontalFlip())
    steps += [transforms.ToTensor(), transforms.Normalize(MEAN, STD)]
    if train:
        steps.append(transforms.RandomErasing(scale=(0.02, 0.25)))
    return transforms.Compose(steps)


class ImageDataset(Dataset):
    """Item i = (image tensor, i); labels live outside, in the trainer's label table."""

    def __init__(self, filepaths: Sequence[str], transform: transforms.Compose) -> None:
        self.filepaths = list(filepaths)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.filepaths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        with Image.open(self.filepaths[index]) as image:
            return self.transform(image.convert("RGB")), index


class EpochBatches(Sampler[list[int]]):
    """Shuffled mini-batches covering every sample exactly once per epoch, optionally shared out
    over `world` processes (distributed training).

    Every process draws the same permutation from `generator` (seed it identically on every
    process) and cuts it into the same global batches of `batch_size`; process `rank` trains on
    its contiguous share of each global batch (shares differ by at most one sample). So every
    process takes the same number of steps, as DistributedDataParallel needs, and no sample is
    padded in or repeated. A trailing batch too small to give each process two samples joins the
    previous batch: batch norm and the rank split both need at least two samples.
    """

    def __init__(self, size: int, batch_size: int, generator: torch.Generator, *,
                 rank: int = 0, world: int = 1) -> None:
        self.size, self.batch_size, self.generator = size, batch_size, generator
        self.rank, self.world = rank, world

    def __len__(self) -> int:
        return len(self._starts())

    def __iter__(self) -> Iterator[list[int]]:
        # Eager on purpose: the permutation is drawn when the DataLoader calls iter(), as before.
        order = torch.randperm(self.size, generator=self.generator).tolist()
        starts = self._starts()
        ends = starts[1:] + [self.size]
        return iter([self._share(order[start:end]) for start, end in zip(starts, ends)])

    def _starts(self) -> list[int]:
        starts = list(range(0, self.size, self.batch_size))
        if len(starts) > 1 and self.size - starts[-1] < 2 * self.world:
            starts.pop()
        return starts

    def _share(self, batch: list[int]) -> list[int]:
        return batch[len(batch) * self.rank // self.world:len(batch) * (self.rank + 1) // self.world]
