"""A loaded diffusers pipeline: PNG images from a prompt, reproducible from a seed."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import io
import logging
import threading
import time
from typing import Any

from modelport.plugin import (
    BackendError,
    ConfigError,
    ImageRequest,
    ImageResult,
    LoadContext,
    MissingDependency,
    run_blocking,
)

from . import SCHEDULERS, DiffusersOptions

__all__ = ["DiffusersImageModel"]

log = logging.getLogger("modelport.backends.diffusers")


def _import_runtime() -> tuple[Any, Any]:
    try:
        import diffusers
        import torch
    except ImportError:
        raise MissingDependency(
            "backend diffusers needs diffusers, torch and pillow: pip install 'modelport[images]'"
        ) from None
    return torch, diffusers


def _dtype_argument(diffusers: Any) -> str:
    """Newer diffusers take ``dtype`` and warn on the older ``torch_dtype``."""
    deprecation = getattr(diffusers.utils, "deprecation_utils", None)
    return "dtype" if hasattr(deprecation, "_resolve_dtype") else "torch_dtype"


class _Interrupted(Exception):
    """Raised inside the pipeline's step callback when the client has gone away."""


class _StepProgress:
    """The pipeline's step callback: logs progress of long generations and stops the
    pipeline at the next step once ``cancelled`` is set."""

    def __init__(self, model: str, steps: int, n: int, every: float, cancelled: threading.Event):
        self.model, self.steps, self.n, self.every = model, steps, n, every
        self.cancelled = cancelled
        self.started = self.last_log = time.monotonic()
        self.done_images = 0

    def __call__(self, pipe: Any, step: int, timestep: Any, kwargs: dict[str, Any]) -> Any:
        if self.cancelled.is_set():
            raise _Interrupted
        now = time.monotonic()
        if now - self.last_log >= self.every:
            self.last_log = now
            log.info(
                "model %r: step %d/%d, %d of %d images done (%.0fs)",
                self.model,
                step + 1,
                self.steps,
                self.done_images,
                self.n,
                now - self.started,
            )
        return kwargs

    def finished(self, width: int, height: int) -> None:
        elapsed = time.monotonic() - self.started
        level = logging.INFO if elapsed >= self.every else logging.DEBUG
        log.log(
            level,
            "model %r: %d image(s) of %dx%d, %d steps, in %.1fs",
            self.model,
            self.n,
            width,
            height,
            self.steps,
            elapsed,
        )


def _png(image: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


class DiffusersImageModel:
    def __init__(self, name: str, pipeline: Any, torch: Any, options: DiffusersOptions):
        self.name = name
        self.pipeline = pipeline
        self.torch = torch
        self.options = options
        self.accepts = set(inspect.signature(pipeline.__call__).parameters)
        self._lock = threading.Lock()

    @classmethod
    def load(cls, ctx: LoadContext) -> DiffusersImageModel:
        torch, diffusers = _import_runtime()
        options: DiffusersOptions = ctx.options
        if ctx.path is None or not (ctx.path / "model_index.json").is_file():
            raise ConfigError(
                f"model {ctx.name!r}: {ctx.path} is not a diffusers pipeline directory "
                "(no model_index.json); see docs/images.md"
            )
        dtype = {_dtype_argument(diffusers): getattr(torch, options.dtype)}
        pipeline = diffusers.DiffusionPipeline.from_pretrained(
            str(ctx.path), local_files_only=True, **dtype
        )
        if options.scheduler is not None:
            scheduler_class = getattr(diffusers, SCHEDULERS[options.scheduler])
            pipeline.scheduler = scheduler_class.from_config(pipeline.scheduler.config)
        pipeline.to(options.device)
        pipeline.set_progress_bar_config(disable=True)
        model = cls(ctx.name, pipeline, torch, options)
        if options.negative_prompt and "negative_prompt" not in model.accepts:
            raise ConfigError(
                f"model {ctx.name!r}: {type(pipeline).__name__} takes no negative_prompt; "
                "remove it from the model's options"
            )
        return model

    async def generate_image(self, request: ImageRequest) -> ImageResult:
        """Generate on a worker thread; if this task is cancelled (the client went away)
        the pipeline stops at its next step and the thread is awaited, so the model is
        idle again when its slot is released."""
        cancelled = threading.Event()
        work = asyncio.ensure_future(
            run_blocking(functools.partial(self._generate, request, cancelled))
        )
        try:
            return await asyncio.shield(work)
        finally:
            if not work.done():
                cancelled.set()
                with contextlib.suppress(Exception):
                    await asyncio.shield(work)

    def _steps(self, request: ImageRequest) -> int:
        if request.quality is None:
            return self.options.steps
        return self.options.quality_steps[request.quality]

    def _prompt(self, request: ImageRequest) -> str:
        if request.style is None:
            return request.prompt
        return f"{request.prompt}, {self.options.styles[request.style]}"

    def _generate(self, request: ImageRequest, cancelled: threading.Event) -> ImageResult:
        width, height = request.dimensions()
        seeds = request.image_seeds()
        steps = self._steps(request)
        progress = _StepProgress(
            self.name, steps, request.n, self.options.progress_every, cancelled
        )
        images: list[bytes] = []
        with self._lock:
            for start in range(0, len(seeds), self.options.max_batch):
                if cancelled.is_set():  # pipelines without a step callback stop here
                    raise _Interrupted
                batch = seeds[start : start + self.options.max_batch]
                kwargs = self._call_kwargs(request, width, height, steps, batch, progress)
                output = self._run(kwargs)
                images.extend(_png(image) for image in output.images)
                progress.done_images = len(images)
        progress.finished(width, height)
        return ImageResult(images=images, seeds=seeds)

    def _run(self, kwargs: dict[str, Any]) -> Any:
        try:
            return self.pipeline(**kwargs)
        except self.torch.OutOfMemoryError as exc:
            raise BackendError(f"model {self.name!r} ran out of memory: {exc}") from exc

    def _call_kwargs(
        self,
        request: ImageRequest,
        width: int,
        height: int,
        steps: int,
        seeds: list[int],
        progress: _StepProgress,
    ) -> dict[str, Any]:
        # Generators on the CPU: the same seed gives the same noise on every device.
        generators = [self.torch.Generator("cpu").manual_seed(seed) for seed in seeds]
        kwargs: dict[str, Any] = {
            "prompt": self._prompt(request),
            "width": width,
            "height": height,
            "num_inference_steps": steps,
            "num_images_per_prompt": len(seeds),
            "generator": generators,
            "output_type": "pil",
        }
        if "guidance_scale" in self.accepts:
            kwargs["guidance_scale"] = self.options.guidance
        if self.options.negative_prompt:
            kwargs["negative_prompt"] = self.options.negative_prompt
        if "callback_on_step_end" in self.accepts:
            kwargs["callback_on_step_end"] = progress
        return kwargs

    def close(self) -> None:
        self.pipeline = None
        if self.options.device.startswith("cuda"):
            self.torch.cuda.empty_cache()
