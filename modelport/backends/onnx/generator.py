"""An ONNX LLM on onnxruntime-genai's generator API: chat and completions, streamed."""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from modelport.plugin import (
    ChatEvent,
    ChatRequest,
    ChatTemplate,
    CompletionRequest,
    ConfigError,
    DetokenizeRequest,
    DetokenizeResult,
    Emit,
    Finish,
    FinishReason,
    InvalidRequest,
    LoadContext,
    Piece,
    Sampling,
    Started,
    TextDelta,
    TokenizeRequest,
    TokenizeResult,
    Usage,
    generation_budget,
    stream_from_thread,
)

from . import OnnxOptions
from .providers import device_for, import_genai
from .twins import model_folder

__all__ = ["DEFAULTS", "OnnxGenerator"]

log = logging.getLogger("modelport.backends.onnx")

# The gguf backend's (llama.cpp's) defaults, so a model swapped between runtimes samples
# alike when neither the request nor plugins.toml says otherwise.
DEFAULTS = Sampling(temperature=0.8, top_p=0.95, top_k=40, repeat_penalty=1.0)


class OnnxGenerator:
    def __init__(self, model: Any, folder: Path, options: OnnxOptions, device: str):
        self.og = import_genai()
        self.model = model
        self.tokenizer = self.og.Tokenizer(model)
        self.device = device
        config = _read_json(folder / "genai_config.json")
        self.context_length = int(config["model"]["context_length"])
        # token ids it takes (core refuses others)
        self.vocab_size: int | None = config["model"].get("vocab_size")
        eos = config["model"].get("eos_token_id", [])
        self.eos_ids = frozenset(eos if isinstance(eos, list) else [eos])
        self.template = _chat_template(folder, options.chat_template)
        self._lock = threading.Lock()

    @classmethod
    def load(cls, ctx: LoadContext) -> OnnxGenerator:
        og = import_genai()
        options: OnnxOptions = ctx.options
        device = device_for(ctx)
        folder = model_folder(ctx, device)
        if not (folder / "genai_config.json").is_file():
            raise ConfigError(
                f'model {ctx.name!r}: no genai_config.json in {folder}; task = "generate" '
                "reads onnxruntime-genai model folders (set convert = true to build one from "
                "a GGUF file or a transformers folder)"
            )
        config = og.Config(str(folder))
        config.clear_providers()
        if device != "cpu":
            config.append_provider(device)
        if options.threads:
            session = {"intra_op_num_threads": options.threads}
            config.overlay(json.dumps({"model": {"decoder": {"session_options": session}}}))
        model = og.Model(config)
        log.info("model %r: %s on onnxruntime-genai (%s)", ctx.name, folder.name, device)
        return cls(model, folder, options, device)

    def close(self) -> None:
        with self._lock:
            self.model = None

    # --- capabilities ---------------------------------------------------------------

    async def chat(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        prompt = self.template.render(request.messages)
        tokens = self._encode(prompt)
        async for event in self._stream(tokens, request.sampling, param="messages"):
            yield event

    async def complete(self, request: CompletionRequest) -> AsyncIterator[ChatEvent]:
        if isinstance(request.prompt, str):
            tokens, text = self._encode(request.prompt), request.prompt
        else:
            tokens = list(request.prompt)
            text = self.tokenizer.decode(tokens)
        prefix = text if request.echo else ""
        async for event in self._stream(tokens, request.sampling, param="prompt", prefix=prefix):
            yield event

    async def tokenize(self, request: TokenizeRequest) -> TokenizeResult:
        """A text as a completion prompt, or messages as chat renders them."""
        if request.messages is not None:
            tokens = self._encode(self.template.render(request.messages))
        else:
            tokens = self._encode(request.text or "")
            bos = self.tokenizer.bos_token_id
            if request.add_special is False and tokens[:1] == [bos]:
                tokens = tokens[1:]
        pieces = None
        if request.with_pieces:
            pieces = tuple(Piece(id=t, piece=self.tokenizer.decode([t])) for t in tokens)
        return TokenizeResult(
            tokens=tuple(tokens), pieces=pieces, max_model_len=self.context_length
        )

    async def detokenize(self, request: DetokenizeRequest) -> DetokenizeResult:
        return DetokenizeResult(text=self.tokenizer.decode(list(request.tokens)))

    def _encode(self, text: str) -> list[int]:
        tokens = [int(t) for t in self.tokenizer.encode(text)]
        bos = self.tokenizer.bos_token_id
        if len(tokens) > 1 and tokens[0] == tokens[1] == bos:
            tokens = tokens[1:]  # the template wrote BOS and the tokenizer added another
        return tokens

    # --- generation -----------------------------------------------------------------

    def _stream(
        self, tokens: list[int], sampling: Sampling, *, param: str, prefix: str = ""
    ) -> AsyncIterator[ChatEvent]:
        if not tokens:
            raise InvalidRequest("the prompt is empty", param=param)
        s = sampling.with_defaults(DEFAULTS)
        budget = generation_budget(self.context_length, len(tokens), s.max_tokens, param)

        def work(emit: Emit, cancelled: threading.Event) -> None:
            with self._lock:
                self._generate(tokens, s, budget, prefix, emit, cancelled)

        return stream_from_thread(work)

    def _search_options(self, s: Sampling, max_length: int) -> dict[str, Any]:
        seed = s.seed if s.seed is not None else random.getrandbits(31)
        options: dict[str, Any] = {
            "max_length": max_length,
            "random_seed": seed,
            "repetition_penalty": s.repeat_penalty or 1.0,
        }
        if not s.temperature:
            return {**options, "do_sample": False}
        return {
            **options,
            "do_sample": True,
            "temperature": s.temperature,
            "top_p": s.top_p if s.top_p is not None else 1.0,
            "top_k": s.top_k or 0,
        }

    def _generate(
        self,
        tokens: list[int],
        s: Sampling,
        budget: int,
        prefix: str,
        emit: Emit,
        cancelled: threading.Event,
    ) -> None:
        params = self.og.GeneratorParams(self.model)
        params.set_search_options(**self._search_options(s, len(tokens) + budget))
        generator = self.og.Generator(self.model, params)
        try:
            generator.append_tokens(tokens)
            emit(Started(prompt_tokens=len(tokens)))
            if prefix:
                emit(TextDelta(text=prefix, tokens=0))
            reason, generated = self._decode_loop(generator, budget, emit, cancelled)
        finally:
            del generator
        if reason is not None:
            emit(
                Finish(
                    reason=reason,
                    usage=Usage(prompt_tokens=len(tokens), completion_tokens=generated),
                )
            )

    def _decode_loop(
        self, generator: Any, budget: int, emit: Emit, cancelled: threading.Event
    ) -> tuple[FinishReason | None, int]:
        """Generate up to ``budget`` tokens, emitting text as it forms; the finish reason
        (None when cancelled) and the count of generated tokens."""
        stream = self.tokenizer.create_stream()
        generated = pending = 0
        reason: FinishReason = "length"
        while generated < budget:
            if cancelled.is_set():
                return None, generated
            generator.generate_next_token()
            token = int(generator.get_next_tokens()[0])
            if token in self.eos_ids:
                reason = "stop"
                break
            generated += 1
            pending += 1
            text = stream.decode(token)
            if text:
                emit(TextDelta(text=text, tokens=pending))
                pending = 0
            if generator.is_done():
                break
        if pending:
            emit(TextDelta(text="", tokens=pending))
        return reason, generated


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from None
    return data if isinstance(data, dict) else {}


def _token_text(value: Any) -> str:
    if isinstance(value, dict):
        value = value.get("content")
    return value if isinstance(value, str) else ""


def _chat_template(folder: Path, override: str | None) -> ChatTemplate:
    """The template from options, ``chat_template.jinja`` or ``tokenizer_config.json``."""
    config = _read_json(folder / "tokenizer_config.json")
    source = override
    jinja = folder / "chat_template.jinja"
    if source is None and jinja.is_file():
        source = jinja.read_text(encoding="utf-8")
    if source is None:
        named = config.get("chat_template")
        if isinstance(named, list):  # several named templates: the default one
            named = next((t.get("template") for t in named if t.get("name") == "default"), None)
        source = named if isinstance(named, str) else None
    if source is None:
        log.warning("no chat template in %s: using ChatML", folder)
    return ChatTemplate(
        source,
        bos_token=_token_text(config.get("bos_token")),
        eos_token=_token_text(config.get("eos_token")),
    )
