"""Field types shared by the built-in layer plugins."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from playground.layers.base import MAX_CHANNELS, MAX_FEATURES, MAX_KERNEL

# Counts are strict: `true` or `3.0` where a count belongs is an error at that
# field, never silently taken as 1 or 3.
Channels = Annotated[int, Field(strict=True, ge=1, le=MAX_CHANNELS)]
Features = Annotated[int, Field(strict=True, ge=1, le=MAX_FEATURES)]
KernelInt = Annotated[int, Field(strict=True, ge=1, le=MAX_KERNEL)]
PadInt = Annotated[int, Field(strict=True, ge=0, le=MAX_KERNEL)]

# An int for both axes, or [height, width].
Kernel = KernelInt | tuple[KernelInt, KernelInt]
Padding = PadInt | tuple[PadInt, PadInt]
