"""The ``diffusers`` backend: text-to-image pipelines on Hugging Face diffusers
(extra ``modelport[images]``).

``source`` is a local diffusers pipeline directory (the one ``save_pretrained`` writes,
with ``model_index.json``); diffusers and torch are imported only when a model loads.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

import msgspec

from modelport.plugin import (
    BackendRegistry,
    BackendSpec,
    Capability,
    Feature,
    ImageContract,
    ImageQuality,
    ImageStyle,
    hookimpl,
    parse_size,
)

__all__ = ["SCHEDULERS", "DiffusersOptions", "register_backends"]

# Short names for plugins.toml → diffusers scheduler classes.
SCHEDULERS = {
    "ddim": "DDIMScheduler",
    "ddpm": "DDPMScheduler",
    "pndm": "PNDMScheduler",
    "lms": "LMSDiscreteScheduler",
    "euler": "EulerDiscreteScheduler",
    "euler_a": "EulerAncestralDiscreteScheduler",
    "heun": "HeunDiscreteScheduler",
    "dpm++": "DPMSolverMultistepScheduler",
    "unipc": "UniPCMultistepScheduler",
}
SchedulerName = Literal["ddim", "ddpm", "pndm", "lms", "euler", "euler_a", "heun", "dpm++", "unipc"]
Size = Annotated[str, msgspec.Meta(pattern=r"^[1-9][0-9]{0,4}x[1-9][0-9]{0,4}$")]
Positive = Annotated[int, msgspec.Meta(gt=0)]


class DiffusersOptions(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Options of a ``backend = "diffusers"`` model in plugins.toml (``[models.options]``).

    ``sizes`` are the sizes the model is asked for (the first is the default): a
    diffusion model makes good images only near the resolutions it was trained at.
    ``quality_steps`` and ``styles`` opt in to OpenAI's ``quality`` and ``style``: a
    quality runs that many steps, a style appends its text to the prompt. Values not
    listed are refused with a 400, never silently ignored.
    """

    steps: Annotated[int, msgspec.Meta(gt=0, le=1000)] = 30
    guidance: Annotated[float, msgspec.Meta(ge=0)] = 7.5
    scheduler: SchedulerName | None = None
    dtype: Literal["float32", "float16", "bfloat16"] = "float32"
    device: str = "cpu"
    sizes: Annotated[tuple[Size, ...], msgspec.Meta(min_length=1)] = ("512x512",)
    negative_prompt: str | None = None
    # Keys are checked in __post_init__: a Literal key's error path reads poorly in TOML.
    quality_steps: dict[str, Positive] = {}
    styles: dict[str, str] = {}
    max_batch: Positive = 4
    progress_every: Annotated[float, msgspec.Meta(gt=0)] = 5.0

    def __post_init__(self) -> None:
        for size in self.sizes:
            width, height = parse_size(size)
            if width % 8 or height % 8:
                raise ValueError(f"sizes: {size!r}: width and height must be multiples of 8")
        _check_keys("quality_steps", self.quality_steps, get_args(ImageQuality))
        _check_keys("styles", self.styles, get_args(ImageStyle))

    def image_contract(self) -> ImageContract:
        sizes = tuple("{}x{}".format(*parse_size(s)) for s in self.sizes)
        return ImageContract(
            sizes=sizes, qualities=frozenset(self.quality_steps), styles=frozenset(self.styles)
        )


def _check_keys(option: str, table: dict[str, Any], allowed: tuple[str, ...]) -> None:
    for key in table:
        if key not in allowed:
            raise ValueError(f"{option}: unknown key {key!r} (allowed: {', '.join(allowed)})")


def _load(ctx: Any) -> object:
    from .model import DiffusersImageModel

    return DiffusersImageModel.load(ctx)


@hookimpl
def register_backends(registry: BackendRegistry) -> None:
    registry.add(
        BackendSpec(
            name="diffusers",
            description="Text-to-image pipelines on Hugging Face diffusers (PyTorch)",
            options=DiffusersOptions,
            capabilities=frozenset({Capability.IMAGE}),
            features=frozenset({Feature.SEED, Feature.N}),
            load=_load,
        )
    )
