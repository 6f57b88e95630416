"""A loaded ctransformers model: chat and completions, safe on any input."""

from __future__ import annotations

import codecs
import contextlib
import os
import random
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from modelport.plugin import (
    BackendError,
    ChatEvent,
    ChatRequest,
    ChatTemplate,
    CompletionRequest,
    ConfigError,
    ContextLengthExceeded,
    Emit,
    Finish,
    FinishReason,
    LoadContext,
    MissingDependency,
    ModelLoadFailed,
    Sampling,
    Started,
    TextDelta,
    Unsupported,
    Usage,
    stream_from_thread,
)

from . import CtransformersOptions
from .files import ModelFile, inspect_file
from .tokens import SafeTokenizer

__all__ = ["CtransformersModel"]

# ctransformers' own sampling defaults, used when neither request nor plugins.toml sets one.
DEFAULTS = Sampling(temperature=0.8, top_p=0.95, top_k=40)
GREEDY_BELOW = 1e-5  # a temperature this low means "take the most likely token"
# ggml-era evaluators keep scratch buffers in static variables shared by every model in
# the process: one generation at a time, across all ctransformers models.
RUNTIME_LOCK = threading.Lock()


def _import_llm() -> Any:
    try:
        from ctransformers import LLM, Config
    except ImportError:
        raise MissingDependency(
            "backend ctransformers needs ctransformers 0.2.27: pip install modelport-ctransformers"
        ) from None
    return LLM, Config


def cpu_build() -> str | None:
    """ctransformers' CPU build for this machine, read from /proc/cpuinfo (py-cpuinfo,
    which ctransformers asks otherwise, spends a second in a subprocess); None where
    there is no /proc/cpuinfo."""
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return None
    if "avx2" in flags:
        return "avx2"
    return "avx" if {"avx", "f16c"} <= flags else "basic"


class CtransformersModel:
    def __init__(self, llm: Any, options: CtransformersOptions, file: ModelFile):
        self.llm = llm
        self.options = options
        self.tokenizer = SafeTokenizer(llm, file.kind)
        self.add_bos = file.kind == "spm"  # SentencePiece llamas start from <s>; gpt-2 does not
        self.n_ctx: int = llm.context_length
        self.n_vocab: int = llm.vocab_size
        # The tokeniser reads no special tokens from text, so templates get none.
        self.template = ChatTemplate(options.chat_template or file.chat_template)

    @classmethod
    def load(cls, ctx: LoadContext) -> CtransformersModel:
        options: CtransformersOptions = ctx.options
        if ctx.path is None or not ctx.path.is_file():
            raise ConfigError(f"model {ctx.name!r}: no model file at {ctx.path}")
        file = inspect_file(ctx.path, options)
        llm_class, config_class = _import_llm()
        config = config_class(context_length=options.context_length or -1)
        lib = options.lib or cpu_build()
        try:
            with RUNTIME_LOCK:
                llm = llm_class(str(ctx.path), file.model_type, config=config, lib=lib)
        except (OSError, RuntimeError, ValueError, ImportError) as exc:
            raise ModelLoadFailed(f"ctransformers could not load {ctx.path}: {exc}") from exc
        return cls(llm, options, file)

    def close(self) -> None:
        with RUNTIME_LOCK:
            # ctransformers frees the model when the last reference goes.
            self.llm = self.tokenizer.llm = None

    # --- capabilities ---------------------------------------------------------------

    async def chat(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        prompt = self.template.render(request.messages)
        events = self._stream(prompt, self.add_bos, request.sampling, "messages")
        # aclosing: closing this stream stops the worker now, not when GC finalises it.
        async with contextlib.aclosing(events):
            async for event in events:
                yield event

    async def complete(self, request: CompletionRequest) -> AsyncIterator[ChatEvent]:
        if not isinstance(request.prompt, str):
            raise Unsupported("backend ctransformers takes text prompts only", param="prompt")
        events = self._stream(request.prompt, self.add_bos, request.sampling, "prompt")
        async with contextlib.aclosing(events):
            async for event in events:
                yield event

    # --- generation -----------------------------------------------------------------

    def _budget(self, prompt_tokens: int, max_tokens: int | None, param: str) -> int:
        if prompt_tokens >= self.n_ctx:
            raise ContextLengthExceeded(
                f"this model's context is {self.n_ctx} tokens; the prompt has {prompt_tokens}",
                param=param,
            )
        room = self.n_ctx - prompt_tokens
        if max_tokens is not None and max_tokens > room:
            raise ContextLengthExceeded(
                f"this model's context is {self.n_ctx} tokens; {prompt_tokens} in the prompt "
                f"leave room for {room}, not max_tokens={max_tokens}",
                param="max_tokens",
            )
        return room if max_tokens is None else max_tokens

    def _stream(
        self, prompt: str, add_bos: bool, sampling: Sampling, param: str
    ) -> AsyncIterator[Any]:
        s = sampling.with_defaults(DEFAULTS)

        def work(emit: Emit, cancelled: threading.Event) -> None:
            # Tokenising a long prompt takes a while: here, off the event loop.
            tokens = self.tokenizer.encode(prompt, add_bos=add_bos)
            if not tokens:  # gpt-2 has no BOS: start from <|endoftext|>, as it was trained
                tokens = [self.llm.bos_token_id]
            budget = self._budget(len(tokens), s.max_tokens, param)
            with RUNTIME_LOCK:
                self._generate(tokens, s, budget, emit, cancelled)

        return stream_from_thread(work)

    def _sampler(self, s: Sampling) -> dict[str, Any]:
        """Arguments for ``LLM.sample`` that its C samplers survive: top_k within
        1..vocab (0 or more than the vocabulary reads out of bounds), and greedy as
        top_k=1 (a zero temperature divides by zero)."""
        temperature = s.temperature if s.temperature is not None else 0.8
        if temperature < GREEDY_BELOW:
            return {"top_k": 1, "top_p": 1.0, "temperature": 1.0}
        top_k = s.top_k if s.top_k else self.n_vocab
        top_p = s.top_p if s.top_p is not None else 1.0
        return {
            "top_k": min(max(top_k, 1), self.n_vocab),
            "top_p": top_p,
            "temperature": temperature,
        }

    def _eval(self, tokens: list[int]) -> None:
        try:
            self.llm.eval(
                tokens,
                batch_size=self.options.batch_size,
                threads=self.options.threads or os.cpu_count() or 1,
            )
        except RuntimeError as exc:
            raise BackendError(f"ctransformers failed to evaluate the prompt: {exc}") from exc

    def _generate(
        self, tokens: list[int], s: Sampling, budget: int, emit: Emit, cancelled: threading.Event
    ) -> None:
        llm, sampler = self.llm, self._sampler(s)
        seeds = random.Random(s.seed)
        emit(Started(prompt_tokens=len(tokens)))
        self._eval(list(llm.prepare_inputs_for_generation(tokens, reset=True)))
        out = _TextOut(emit)
        reason: FinishReason = "length"
        while out.generated < budget:
            if cancelled.is_set():
                return
            # ctransformers reseeds its generator on every call: draw a seed per token.
            token = llm.sample(**sampler, repetition_penalty=1.0, seed=seeds.randrange(2**31))
            if llm.is_eos_token(token):
                reason = "stop"
                break
            out.feed(llm.detokenize([token], decode=False))
            if out.generated < budget:
                self._eval([token])
        out.finish(reason, prompt_tokens=len(tokens))


class _TextOut:
    """Token bytes → text deltas, holding back incomplete UTF-8 sequences."""

    def __init__(self, emit: Emit):
        self.emit = emit
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.generated = 0
        self.pending = 0

    def feed(self, piece: bytes) -> None:
        self.generated += 1
        self.pending += 1
        text = self.decoder.decode(piece)
        if text:
            self.emit(TextDelta(text=text, tokens=self.pending))
            self.pending = 0

    def finish(self, reason: FinishReason, *, prompt_tokens: int) -> None:
        tail = self.decoder.decode(b"", final=True)
        if tail or self.pending:
            self.emit(TextDelta(text=tail, tokens=self.pending))
        usage = Usage(prompt_tokens=prompt_tokens, completion_tokens=self.generated)
        self.emit(Finish(reason=reason, usage=usage))
