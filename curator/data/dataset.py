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
    """Shuffled mini-batches covering every sample once; a trailing batch of one joins the previous
    batch (batch norm and the rank split both need at least two samples)."""

    def __init__(self, size: int, batch_size: int, generator: torch.Generator) -> None:
        self.size, self.batch_size, self.generator = size, batch_size, generator

    def __len__(self) -> int:
        full, rest = divmod(self.size, self.batch_size)
        return full + (rest > 1 or (rest == 1 and full == 0))

    def __iter__(self) -> Iterator[list[int]]:
        order = torch.randperm(self.size, generator=self.generator).tolist()
        batches = [order[i:i + self.batch_size] for i in range(0, self.size, self.batch_size)]
        if len(batches) > 1 and len(batches[-1]) == 1:
            batches[-2] += batches.pop()
        return iter(batches)
