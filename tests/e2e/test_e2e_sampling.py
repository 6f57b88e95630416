"""logprobs, n, logit_bias and seeds on the real SmolLM2 GGUF through the openai SDK."""

from __future__ import annotations

import math
from typing import Any

import openai
import pytest

from helpers import assert_valid, smollm2_gguf

pytestmark = pytest.mark.e2e

STORY = [{"role": "user", "content": "Write a short story about a cat."}]


def test_chat_logprobs_shape(client: openai.OpenAI) -> None:
    resp = client.chat.completions.create(
        model="smollm2", messages=STORY, max_tokens=6, temperature=0, logprobs=True, top_logprobs=3
    )
    assert_valid("CreateChatCompletionResponse", resp.model_dump(exclude_unset=True))
    content = resp.choices[0].logprobs.content
    assert len(content) == resp.usage.completion_tokens == 6
    assert "".join(t.token for t in content) == resp.choices[0].message.content
    for item in content:
        assert item.logprob <= 0
        assert len(item.top_logprobs) == 3
        # greedy decoding picks the most likely token
        assert item.token == item.top_logprobs[0].token
        assert math.isclose(item.logprob, item.top_logprobs[0].logprob, abs_tol=1e-5)
        assert bytes(item.bytes).decode() == item.token
    probs = [math.exp(t.logprob) for t in content[0].top_logprobs]
    assert probs == sorted(probs, reverse=True) and sum(probs) <= 1.0 + 1e-6


def test_chat_logprobs_streamed(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="smollm2", messages=STORY, max_tokens=5, temperature=0, logprobs=True, stream=True
        )
    )
    items = [
        t
        for c in chunks
        if c.choices and c.choices[0].logprobs
        for t in c.choices[0].logprobs.content
    ]
    assert len(items) == 5
    for chunk in chunks:
        assert_valid("CreateChatCompletionStreamResponse", chunk.model_dump(exclude_unset=True))


def test_completion_logprobs(client: openai.OpenAI) -> None:
    resp = client.completions.create(
        model="smollm2", prompt="The capital of France is", max_tokens=4, temperature=0, logprobs=2
    )
    lp = resp.choices[0].logprobs
    assert len(lp.tokens) == len(lp.token_logprobs) == len(lp.top_logprobs) == 4
    assert "".join(lp.tokens) == resp.choices[0].text
    assert lp.text_offset[0] == 0 and lp.text_offset[1] == len(lp.tokens[0])
    assert all(len(top) <= 2 for top in lp.top_logprobs)


def test_n_choices_distinct_and_seeded(client: openai.OpenAI) -> None:
    def run() -> list[str]:
        resp = client.chat.completions.create(
            model="smollm2", messages=STORY, n=3, temperature=1.0, seed=7, max_tokens=16
        )
        assert [c.index for c in resp.choices] == [0, 1, 2]
        return [c.message.content for c in resp.choices]

    first = run()
    assert len(set(first)) == 3, first
    assert run() == first


def test_n_choices_streamed(client: openai.OpenAI) -> None:
    chunks = list(
        client.chat.completions.create(
            model="smollm2",
            messages=STORY,
            n=2,
            max_tokens=5,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    texts = {0: "", 1: ""}
    finishes = {}
    for chunk in chunks:
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
            if choice.finish_reason:
                finishes[choice.index] = choice.finish_reason
    assert finishes == {0: "length", 1: "length"}
    assert texts[0] == texts[1]  # temperature 0
    usage = chunks[-1].usage
    assert usage.completion_tokens == 10
    single = client.chat.completions.create(model="smollm2", messages=STORY, max_tokens=1)
    assert usage.prompt_tokens == single.usage.prompt_tokens


@pytest.fixture(scope="module")
def vocab() -> Any:
    """SmolLM2's own tokenizer (llama.cpp, vocabulary only) to name token ids in tests."""
    import llama_cpp

    path = smollm2_gguf()
    return llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)


def _token_id(vocab: Any, text: str) -> int:
    ids = vocab.tokenize(text.encode(), add_bos=False, special=False)
    assert len(ids) == 1, (text, ids)
    return int(ids[0])


def test_logit_bias_bans_a_token(client: openai.OpenAI, vocab: Any) -> None:
    def tokens(bias: dict[str, int] | None) -> list[str]:
        resp = client.chat.completions.create(
            model="smollm2",
            messages=STORY,
            max_tokens=30,
            temperature=0,
            logprobs=True,
            logit_bias=bias,
        )
        return [t.token for t in resp.choices[0].logprobs.content]

    base = tokens(None)
    banned = max(set(base), key=base.count)
    assert base.count(banned) >= 1
    after = tokens({str(_token_id(vocab, banned)): -100})
    assert banned not in after
    assert after != base


def test_logit_bias_forces_a_token(client: openai.OpenAI, vocab: Any) -> None:
    forced = _token_id(vocab, " banana")
    resp = client.chat.completions.create(
        model="smollm2", messages=STORY, max_tokens=4, temperature=0, logit_bias={str(forced): 100}
    )
    assert resp.choices[0].message.content == " banana" * 4


def test_best_of_returns_the_most_likely(client: openai.OpenAI) -> None:
    kwargs = {
        "model": "smollm2",
        "prompt": "Once upon a time",
        "max_tokens": 8,
        "temperature": 1.0,
        "seed": 11,
    }
    best = client.completions.create(best_of=4, n=2, logprobs=0, **kwargs)
    assert [c.index for c in best.choices] == [0, 1]
    totals = [sum(c.logprobs.token_logprobs) for c in best.choices]
    assert totals[0] >= totals[1]
    # the best two of four seeded candidates, which n=4 shows directly
    four = client.completions.create(n=4, logprobs=0, **kwargs)
    ranked = sorted((sum(c.logprobs.token_logprobs) for c in four.choices), reverse=True)
    assert totals == pytest.approx(ranked[:2], abs=1e-4)
    assert best.usage.completion_tokens == four.usage.completion_tokens
    with pytest.raises(openai.BadRequestError):
        client.completions.create(best_of=2, stream=True, **kwargs)


def test_sampling_extensions_top_k_min_p_repeat_penalty(client: openai.OpenAI) -> None:
    def run(temperature: float = 1.0, **extra: object) -> str:
        resp = client.chat.completions.create(
            model="smollm2",
            messages=STORY,
            max_tokens=40,
            seed=5,
            temperature=temperature,
            extra_body=extra,
        )
        return resp.choices[0].message.content

    greedy = run(temperature=0)
    assert run(top_k=1) == greedy  # one candidate left: sampling is greedy
    assert run(min_p=1.0) == greedy  # only tokens as likely as the best survive
    assert run(temperature=0, repeat_penalty=1.8) != greedy


def test_typical_p_through_the_sdk(client: openai.OpenAI) -> None:
    """``typical_p`` (declared once in ``modelport.core.parameters``, sampled by
    llama.cpp's typical sampler): with a mass so small that one token survives each
    step, the seed no longer matters; without it, two seeds at temperature 1 differ."""

    def run(seed: int, **extra: object) -> str:
        resp = client.chat.completions.create(
            model="smollm2", messages=STORY, max_tokens=40, seed=seed, temperature=1.0,
            extra_body=extra,
        )  # fmt: skip
        return resp.choices[0].message.content

    assert run(1) != run(2)
    assert run(1, typical_p=1e-6) == run(2, typical_p=1e-6)
    assert run(1, typical_p=1.0) == run(1)  # 1 disables it
    with pytest.raises(openai.BadRequestError) as info:
        run(1, typical_p=0)
    assert info.value.body["param"] == "typical_p"  # type: ignore[index]
    models = client.models.retrieve("smollm2").model_dump()
    assert "typical_p" in models["capabilities"]["features"]
