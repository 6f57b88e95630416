"""Images into a GGUF model through llama.cpp's multimodal library (libmtmd).

A vision model is a GGUF language model plus its projector (``mmproj``). A prompt with
images is rendered with libmtmd's media marker where each image goes, then libmtmd
splits it into text chunks (tokens) and image chunks (the image, preprocessed for the
projector). The scheduler evaluates text chunks in its batches and each image chunk
with libmtmd's helper (encode, then decode the embeddings into the sequence's KV).

In the scheduler's token list an image stands as a run of placeholder ids (negative, so
never a vocabulary token) derived from the image's bytes: prefix reuse and prompt copies
then work across images as they do across text, and the same image is recognised again.
"""

from __future__ import annotations

import ctypes
import hashlib
import io
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from modelport.plugin import ConfigError, ImageData, InvalidRequest

from . import _llama

__all__ = ["Media", "Vision", "VisionPrompt"]

_TEXT_CHUNK = 0  # enum mtmd_input_chunk_type: MTMD_INPUT_CHUNK_TYPE_TEXT


class Media:
    """One image chunk of a prompt, evaluated on the scheduler's thread."""

    def __init__(self, vision: Vision, chunk: Any, n_tokens: int):
        self.vision = vision
        self.chunk = chunk
        self.n_tokens = n_tokens

    def evaluate(self, lctx: Any, seq: int, n_past: int, n_batch: int) -> None:
        mtmd, end = self.vision.mtmd, ctypes.c_int32(0)  # (llama_pos is an int32)
        with self.vision.lock:
            rc = mtmd.mtmd_helper_eval_chunk_single(
                self.vision.ctx, lctx, self.chunk, n_past, seq, n_batch, False, ctypes.byref(end)
            )
        if rc != 0:
            raise RuntimeError(f"llama.cpp could not evaluate an image (mtmd error {rc})")


class VisionPrompt:
    """A tokenized prompt with images: ``tokens`` (placeholders where images go) and the
    image chunks by the index of their first placeholder. ``close`` frees libmtmd's
    chunks; call it once the prompt is evaluated or abandoned."""

    def __init__(self, vision: Vision, chunks: Any, tokens: list[int], media: dict[int, Media]):
        self._vision = vision
        self._chunks = chunks
        self.tokens = tokens
        self.media = media

    def close(self) -> None:
        if self._chunks is not None:
            self._vision.mtmd.mtmd_input_chunks_free(self._chunks)
            self._chunks = None


class Vision:
    """A model's projector loaded into libmtmd."""

    def __init__(self, llm: Any, mmproj: Path, *, n_threads: int, use_gpu: bool):
        from llama_cpp import mtmd_cpp

        self.mtmd = mtmd_cpp
        if not mmproj.is_file():
            raise ConfigError(f"mmproj file not found at {mmproj}")
        params = mtmd_cpp.mtmd_context_params_default()
        params.use_gpu = use_gpu
        params.n_threads = n_threads
        params.print_timings = False
        self.ctx = mtmd_cpp.mtmd_init_from_file(
            str(mmproj).encode(), _llama.model_handle(llm).model, params
        )
        if not self.ctx:
            raise ConfigError(f"llama.cpp could not load the projector {mmproj} for this model")
        if not mtmd_cpp.mtmd_support_vision(self.ctx):
            self.close()
            raise ConfigError(f"the projector {mmproj} has no vision encoder")
        if mtmd_cpp.mtmd_decode_use_mrope(self.ctx):
            self.close()
            raise ConfigError(
                f"the projector {mmproj} needs M-RoPE positions, which the gguf backend "
                "does not support yet"
            )
        self.marker: str = mtmd_cpp.mtmd_default_marker().decode()
        self.lock = threading.Lock()  # libmtmd's context is not thread-safe

    def close(self) -> None:
        if self.ctx:
            self.mtmd.mtmd_free(self.ctx)
            self.ctx = None

    def tokenize(self, prompt: str, images: Sequence[ImageData], *, add_bos: bool) -> VisionPrompt:
        """``prompt`` holds one ``marker`` per image, in order."""
        mtmd = self.mtmd
        bitmaps = [self._bitmap(image) for image in images]
        chunks = mtmd.mtmd_input_chunks_init()
        try:
            text = mtmd.mtmd_input_text()
            encoded = prompt.encode("utf-8")
            text.text, text.text_len = encoded, len(encoded)
            text.add_special, text.parse_special = add_bos, True
            array = (mtmd.mtmd_bitmap_p_ctypes * max(1, len(bitmaps)))(*bitmaps)
            with self.lock:
                rc = mtmd.mtmd_tokenize(self.ctx, chunks, ctypes.byref(text), array, len(bitmaps))
            if rc != 0:
                raise InvalidRequest(
                    f"llama.cpp could not prepare the images for this model (mtmd error {rc})",
                    param="messages",
                    code="invalid_image",
                )
            tokens: list[int] = []
            media: dict[int, Media] = {}
            for i in range(mtmd.mtmd_input_chunks_size(chunks)):
                chunk = mtmd.mtmd_input_chunks_get(chunks, i)
                if mtmd.mtmd_input_chunk_get_type(chunk) == _TEXT_CHUNK:
                    n = ctypes.c_size_t(0)
                    ids = mtmd.mtmd_input_chunk_get_tokens_text(chunk, ctypes.byref(n))
                    tokens.extend(ids[j] for j in range(n.value))
                else:
                    n_tokens = mtmd.mtmd_input_chunk_get_n_tokens(chunk)
                    media[len(tokens)] = Media(self, chunk, n_tokens)
                    tokens.extend([_placeholder(mtmd.mtmd_input_chunk_get_id(chunk))] * n_tokens)
        except BaseException:
            mtmd.mtmd_input_chunks_free(chunks)
            raise
        finally:
            for bitmap in bitmaps:
                mtmd.mtmd_bitmap_free(bitmap)
        return VisionPrompt(self, chunks, tokens, media)

    def _bitmap(self, image: ImageData) -> Any:
        """An RGB bitmap of the image (Pillow decodes every format core accepts)."""
        from PIL import Image

        with Image.open(io.BytesIO(image.data)) as opened:
            rgb = opened.convert("RGB")
        pixels = rgb.tobytes()
        buffer = (ctypes.c_uint8 * len(pixels)).from_buffer_copy(pixels)
        bitmap = self.mtmd.mtmd_bitmap_init(rgb.width, rgb.height, buffer)
        if not bitmap:
            raise RuntimeError("llama.cpp could not allocate an image bitmap")
        self.mtmd.mtmd_bitmap_set_id(bitmap, hashlib.sha256(image.data).hexdigest().encode())
        return bitmap


def _placeholder(image_id: bytes | None) -> int:
    """A negative id standing for every token of one image (the same for the same bytes)."""
    digest = int((image_id or b"0")[:15], 16) if image_id else 0
    return -1 - digest % (2**31 - 2)
