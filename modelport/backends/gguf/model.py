"""A loaded GGUF model: chat, completions and embeddings on llama-cpp-python."""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import AsyncIterator, Sequence
from typing import Any

from modelport.core import (
    ChatEvent,
    ChatRequest,
    CompletionRequest,
    Constraint,
    EmbedRequest,
    EmbedResult,
    Feature,
    FinishReason,
    InvalidRequest,
    LoadContext,
    MissingDependency,
    Sampling,
    Started,
    TextDelta,
    Unsupported,
)
from modelport.core.chat_template import ChatTemplate
from modelport.core.errors import ConfigError
from modelport.core.generation import generation_budget
from modelport.core.worker import Emit, run_blocking, stream_from_thread

from . import GENERATION_FEATURES, GgufOptions
from .batched import BatchScheduler, Job
from .engine import Engine, Step
from .text import TextOut

__all__ = ["GgufModel"]

# llama.cpp's own sampling defaults, used when neither request nor plugins.toml sets one.
DEFAULTS = Sampling(
    temperature=0.8,
    top_p=0.95,
    top_k=40,
    min_p=0.05,
    repeat_penalty=1.0,
    frequency_penalty=0.0,
    presence_penalty=0.0,
)


# llama.cpp's enum llama_pooling_type
POOLING = {"model": -1, "mean": 1, "cls": 2, "last": 3}


def _import_llama() -> Any:
    try:
        import llama_cpp
    except ImportError:
        raise MissingDependency(
            "backend gguf needs llama-cpp-python: pip install 'modelport[gguf]'"
        ) from None
    return llama_cpp


class GgufModel:
    def __init__(self, llm: Any, options: GgufOptions, name: str):
        self.llm = llm
        self.options = options
        self.name = name
        self.n_ctx: int = llm.n_ctx()
        self._lock = threading.Lock()
        self._closed = False
        self.scheduler: BatchScheduler | None = None
        self._llama_cpp = _import_llama()
        self.engine = Engine(llm, self._llama_cpp._internals)
        self.template = ChatTemplate(
            options.chat_template or llm.metadata.get("tokenizer.chat_template"),
            bos_token=self._token_text(llm.token_bos()),
            eos_token=self._token_text(llm.token_eos()),
        )

    @classmethod
    def load(cls, ctx: LoadContext) -> GgufModel:
        llama_cpp = _import_llama()
        options: GgufOptions = ctx.options
        if ctx.path is None or not ctx.path.is_file():
            raise ConfigError(f"model {ctx.name!r}: GGUF file not found at {ctx.path}")
        llm = llama_cpp.Llama(
            model_path=str(ctx.path),
            n_ctx=options.n_ctx,
            n_threads=options.n_threads or os.cpu_count() or 1,
            n_batch=options.n_batch,
            n_gpu_layers=options.n_gpu_layers,
            embedding=options.embedding,
            pooling_type=POOLING[options.pooling],
            seed=options.seed if options.seed is not None else llama_cpp.LLAMA_DEFAULT_SEED,
            verbose=options.verbose,
        )
        model = cls(llm, options, ctx.name)
        if ctx.parallel > 1 and not options.embedding:
            model.scheduler = BatchScheduler(
                llm,
                llama_cpp._internals,
                llama_cpp,
                parallel=ctx.parallel,
                n_ctx=options.n_ctx,
                n_batch=options.n_batch,
            )
        return model

    def close(self) -> None:
        if self.scheduler is not None:
            self.scheduler.close()
        with self._lock:
            self._closed = True
            close = getattr(self.llm, "close", None)
            if close is not None:
                close()

    # --- tokens ---------------------------------------------------------------------

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return self.llm.detokenize([token], special=True).decode("utf-8", errors="replace")

    def tokenize(self, text: str, *, special: bool) -> list[int]:
        bos = self.template.bos_token
        add_bos = not (special and bos and text.startswith(bos))
        tokens: list[int] = self.llm.tokenize(
            text.encode("utf-8"), add_bos=add_bos, special=special
        )
        return tokens

    def _is_end(self, token: int) -> bool:
        return bool(self._llama_cpp.llama_vocab_is_eog(self.llm._model.vocab, token))

    # --- capabilities ---------------------------------------------------------------

    async def chat(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        prompt = self.template.render(request.messages)
        tokens = self.tokenize(prompt, special=True)
        grammar = self._grammar(request.constraint, "tools" if request.tools else "response_format")
        events = self._stream(tokens, request.sampling, param="messages", grammar=grammar)
        # aclosing: closing this stream must stop the worker now, not when GC finalises it.
        async with contextlib.aclosing(events):
            async for event in events:
                yield event

    @property
    def features(self) -> frozenset[Feature]:
        """What this file supports: ``suffix`` needs the model's FIM tokens."""
        vocab = self.llm._model.vocab
        has_fim = self._llama_cpp.llama_vocab_fim_pre(vocab) >= 0
        return GENERATION_FEATURES if has_fim else GENERATION_FEATURES - {Feature.SUFFIX}

    def _fill_in_the_middle(self, prefix: list[int], suffix: str) -> list[int]:
        """``<fim_prefix>prefix<fim_suffix>suffix<fim_middle>`` with the model's own FIM
        tokens; a model without them cannot honour ``suffix``."""
        vocab = self.llm._model.vocab
        fim = self._llama_cpp
        pre, suf, mid = (
            fim.llama_vocab_fim_pre(vocab),
            fim.llama_vocab_fim_suf(vocab),
            fim.llama_vocab_fim_mid(vocab),
        )
        if min(pre, suf, mid) < 0:
            raise Unsupported(
                f"model {self.name!r} has no fill-in-the-middle tokens, so it "
                "cannot complete with a suffix",
                param="suffix",
            )
        return [pre, *prefix, suf, *self.tokenize(suffix, special=False), mid]

    async def complete(self, request: CompletionRequest) -> AsyncIterator[ChatEvent]:
        if request.echo and request.sampling.logprobs:
            raise Unsupported(
                "echo together with logprobs (log-probabilities of the prompt) "
                "is not supported yet",
                param="echo",
            )
        if isinstance(request.prompt, str):
            tokens = self.tokenize(request.prompt, special=False)
            echo = request.prompt
        else:
            tokens = list(request.prompt)
            self._check_tokens(tokens, "prompt")
            echo = self._detokenize(tokens) if request.echo else ""
        if request.suffix:
            tokens = self._fill_in_the_middle(tokens, request.suffix)
        prefix = echo if request.echo else ""
        events = self._stream(tokens, request.sampling, param="prompt", prefix=prefix)
        async with contextlib.aclosing(events):
            async for event in events:
                yield event

    async def embed(self, request: EmbedRequest) -> EmbedResult:
        texts = []
        for i, item in enumerate(request.inputs):
            if not isinstance(item, str):
                self._check_tokens(item, f"input[{i}]")
                item = self._detokenize(item)
            texts.append(item)

        def work() -> EmbedResult:
            with self._lock:
                vectors, count = self.llm.embed(texts, normalize=True, return_count=True)
            return EmbedResult(vectors=[list(map(float, v)) for v in vectors], prompt_tokens=count)

        return await run_blocking(work)

    # --- generation -----------------------------------------------------------------

    def _detokenize(self, tokens: Sequence[int]) -> str:
        return bytes(self.llm.detokenize(list(tokens))).decode("utf-8", errors="replace")

    def _check_tokens(self, tokens: Sequence[int], param: str) -> None:
        vocab = self.engine.n_vocab
        bad = next((t for t in tokens if not 0 <= t < vocab), None)
        if bad is not None:
            raise InvalidRequest(
                f"token id {bad} is outside this model's vocabulary (0..{vocab - 1})",
                param=param,
                code="invalid_value",
            )

    def _grammar(self, constraint: Constraint | None, param: str) -> Any:
        """A llama.cpp grammar enforcing the constraint (built by llama-cpp-python's own
        JSON-Schema-to-GBNF converter), checked to load before generation starts: a
        grammar llama.cpp rejects would otherwise crash the sampler."""
        if constraint is None:
            return None
        grammars = self._llama_cpp.llama_grammar
        try:
            if constraint.schema is None:
                grammar = grammars.LlamaGrammar.from_string(grammars.JSON_GBNF, verbose=False)
            else:
                grammar = grammars.LlamaGrammar.from_json_schema(
                    json.dumps(constraint.schema), verbose=False
                )
        except Exception as exc:  # noqa: BLE001 - the converter only ever sees client input
            raise Unsupported(
                f"this JSON Schema cannot be turned into a grammar: {exc!r}", param=param
            ) from None
        probe = self._llama_cpp.llama_sampler_init_grammar(
            self.llm._model.vocab, grammar._grammar.encode(), grammar._root.encode()
        )
        if not probe:
            raise Unsupported(
                "llama.cpp cannot use the grammar of this JSON Schema (too "
                "large or empty alternatives)",
                param=param,
            )
        self._llama_cpp.llama_sampler_free(probe)
        return grammar

    def _stream(
        self,
        tokens: list[int],
        sampling: Sampling,
        *,
        param: str,
        prefix: str = "",
        grammar: Any = None,
    ) -> AsyncIterator[ChatEvent]:
        s = sampling.with_defaults(Sampling(seed=self.options.seed)).with_defaults(DEFAULTS)
        self._check_tokens(tokens, param)
        self._check_tokens(list(s.logit_bias or ()), "logit_bias")
        if not tokens:
            raise InvalidRequest("the prompt is empty", param=param, code="empty_string")
        budget = generation_budget(self.n_ctx, len(tokens), s.max_tokens, param)

        def work(emit: Emit, cancelled: threading.Event) -> None:
            if self.scheduler is not None:
                self._generate_batched(tokens, s, budget, prefix, emit, cancelled, grammar)
                return
            with self._lock:
                if cancelled.is_set() or self._closed:
                    return
                self._generate(tokens, s, budget, prefix, emit, cancelled, grammar)

        return stream_from_thread(work)

    def _generate(
        self,
        tokens: Sequence[int],
        s: Sampling,
        budget: int,
        prefix: str,
        emit: Emit,
        cancelled: threading.Event,
        grammar: Any = None,
    ) -> None:
        emit(Started(prompt_tokens=len(tokens)))
        if prefix:
            emit(TextDelta(text=prefix, tokens=0))
        out = TextOut(self.llm, tokens, s.stop, emit)
        if budget <= 0:  # max_tokens 0 (with echo): the prompt only
            out.finish("length")
            return
        sampler = self.engine.sampler(s, grammar)
        top = (s.top_logprobs or 0) if s.logprobs else None
        steps = self.engine.generate(tokens, sampler, logprobs=top, cancelled=cancelled)
        reason: FinishReason = "length"
        try:
            for step in steps:
                if cancelled.is_set():
                    return
                if self._is_end(step.token):
                    reason = "stop"
                    break
                if out.feed(step):
                    reason = "stop"
                    break
                if out.generated >= budget:
                    break
        finally:
            steps.close()
            sampler.close()
        out.finish(reason)

    def _generate_batched(
        self,
        tokens: Sequence[int],
        s: Sampling,
        budget: int,
        prefix: str,
        emit: Emit,
        cancelled: threading.Event,
        grammar: Any = None,
    ) -> None:
        """The same generation as ``_generate``, as one sequence of the batch scheduler."""
        assert self.scheduler is not None
        emit(Started(prompt_tokens=len(tokens)))
        if prefix:
            emit(TextDelta(text=prefix, tokens=0))
        out = TextOut(self.llm, tokens, s.stop, emit)
        if budget <= 0:
            out.finish("length")
            return
        reason: list[FinishReason] = ["length"]

        def on_step(step: Step) -> bool:
            if self._is_end(step.token) or out.feed(step):
                reason[0] = "stop"
                return True
            return out.generated >= budget

        top = (s.top_logprobs or 0) if s.logprobs else None
        job = Job(list(tokens), self.engine.sampler(s, grammar), on_step, cancelled, top)
        self.scheduler.submit(job)
        while not job.done.wait(0.05):
            if cancelled.is_set():
                return  # the scheduler drops the sequence at its next step
        if job.error is not None:
            raise job.error
        out.finish(reason[0])
