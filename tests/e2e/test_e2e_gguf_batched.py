"""The gguf backend with parallel slots: sequences batched in one context (issue #5)."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import openai
import pytest

from helpers import ServerProcess, smollm2_config

pytestmark = pytest.mark.e2e

PROMPTS = [
    "Write a poem about the sea.",
    "What is 2+2?",
    "Tell me about Paris.",
    "List three fruits.",
    "Explain gravity briefly.",
    "Say hello in French.",
]


@pytest.fixture(scope="module")
def batched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[openai.OpenAI]:
    path = smollm2_config(
        tmp_path_factory.mktemp("gguf-batched"),
        model='parallel = 8\nload = "eager"\n',
        options="n_ctx = 2048\nn_threads = 2\n",
    )
    with ServerProcess(path) as server:
        yield openai.OpenAI(base_url=server.base_url + "/v1", api_key="x", max_retries=0)


def _stream(client: openai.OpenAI, prompt: str) -> tuple[str, str, int]:
    text, reason, usage = "", "", 0
    for chunk in client.chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": prompt}],
        max_tokens=24,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    ):
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
            reason = chunk.choices[0].finish_reason or reason
        if chunk.usage:
            usage = chunk.usage.completion_tokens
    return text, reason, usage


def test_concurrent_streams_all_complete(batched: openai.OpenAI) -> None:
    with ThreadPoolExecutor(len(PROMPTS) * 2) as pool:
        results = list(pool.map(lambda p: _stream(batched, p), PROMPTS * 2))
    for text, reason, tokens in results:
        assert text and reason in ("stop", "length")
        assert tokens <= 24 and (reason == "stop" or tokens == 24)


STORIES = [
    "Tell me a story about a cat.",
    "Tell me a story about the sea.",
    "Describe a robot who loves music.",
    "Write about Paris in spring.",
    "What happens in winter?",
    "Tell me about a small dragon.",
    "Why is friendship important?",
    "Explain numbers to a child.",
]
NO_END = {"2": -100, "0": -100}  # <|im_end|> and <|endoftext|> banned: every stream runs 48


def _greedy(client: openai.OpenAI, prompt: str) -> str:
    resp = client.chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": prompt}],
        max_tokens=48,
        temperature=0,
        logit_bias=NO_END,
    )
    assert resp.choices[0].finish_reason == "length"
    assert resp.usage is not None and resp.usage.completion_tokens == 48
    return resp.choices[0].message.content or ""


def test_concurrent_text_equals_alone(batched: openai.OpenAI) -> None:
    """At temperature 0 each of 8 concurrent streams says exactly what it says alone:
    a sequence's numbers do not depend on what else shares its batch."""
    alone = [_greedy(batched, p) for p in STORIES]
    with ThreadPoolExecutor(len(STORIES)) as pool:
        together = list(pool.map(lambda p: _greedy(batched, p), STORIES))
    assert together == alone
    assert len(set(alone)) == len(STORIES)


def test_n_choices_share_the_prompt_and_reproduce(batched: openai.OpenAI) -> None:
    """n=3 runs as three sequences at once (seeds seed+i); the same seeded request gives
    the same three texts again, and the same as three single requests with those seeds."""

    def ask(n: int, seed: int) -> list[str]:
        resp = batched.chat.completions.create(
            model="smollm2",
            messages=[{"role": "user", "content": "Tell me a story."}],
            max_tokens=16,
            temperature=1.0,
            seed=seed,
            n=n,
        )
        return [c.message.content or "" for c in resp.choices]

    three = ask(3, 11)
    assert len(set(three)) == 3
    assert ask(3, 11) == three
    assert [ask(1, 11 + i)[0] for i in range(3)] == three


def test_usage_reports_the_prompt_tokens_taken_from_the_cache(batched: openai.OpenAI) -> None:
    """usage.prompt_tokens_details.cached_tokens: the next turn of a conversation reuses
    the slot's KV of the first turn (prompt and answer), streamed or not; the responses
    API reports it as input_tokens_details.cached_tokens."""
    first = [{"role": "user", "content": "Name a colour and say why you like it."}]
    resp = batched.chat.completions.create(
        model="smollm2", messages=first, max_tokens=12, temperature=0
    )
    assert resp.usage is not None and resp.usage.prompt_tokens_details is not None
    cold = resp.usage.prompt_tokens_details.cached_tokens or 0
    assert cold < resp.usage.prompt_tokens
    turn = [
        *first,
        {"role": "assistant", "content": resp.choices[0].message.content or ""},
        {"role": "user", "content": "And another one?"},
    ]
    usage = None
    for chunk in batched.chat.completions.create(
        model="smollm2",
        messages=turn,
        max_tokens=4,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    ):
        usage = chunk.usage or usage
    assert usage is not None and usage.prompt_tokens_details is not None
    cached = usage.prompt_tokens_details.cached_tokens or 0
    assert cached >= resp.usage.prompt_tokens  # the whole first prompt, and some answer
    assert cached < usage.prompt_tokens
    again = batched.chat.completions.create(
        model="smollm2", messages=turn, max_tokens=4, temperature=0
    )
    assert again.usage is not None and again.usage.prompt_tokens_details is not None
    assert again.usage.prompt_tokens_details.cached_tokens == again.usage.prompt_tokens - 1
    response = batched.responses.create(model="smollm2", input=turn, max_output_tokens=16)
    assert response.usage is not None
    assert response.usage.input_tokens_details.cached_tokens == response.usage.input_tokens - 1


def test_batched_sampling_features(batched: openai.OpenAI) -> None:
    resp = batched.chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": "Tell me a story."}],
        max_tokens=5,
        temperature=0,
        logprobs=True,
        top_logprobs=2,
        stop=["\n"],
    )
    content = resp.choices[0].logprobs.content
    assert 0 < len(content) <= 5 and all(len(t.top_logprobs) == 2 for t in content)
    seeded = [
        batched.chat.completions.create(
            model="smollm2",
            messages=[{"role": "user", "content": "Tell me a story."}],
            max_tokens=12,
            temperature=1.0,
            seed=3,
        )
        .choices[0]
        .message.content
        for _ in range(2)
    ]
    assert seeded[0] == seeded[1]


@pytest.fixture(scope="module")
def single(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One slot and a queue of one: what waits, and what is turned away."""
    path = smollm2_config(
        tmp_path_factory.mktemp("gguf-single"),
        model='parallel = 1\nmax_queue = 1\nload = "eager"\n',
        options="n_ctx = 1024\nn_threads = 2\n",
    )
    with ServerProcess(path) as server:
        yield server


def _metric(server: ServerProcess, name: str) -> float:
    for line in httpx.get(server.base_url + "/metrics").text.splitlines():
        if line.startswith(name + "{") and 'model="smollm2"' in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def _long_stream(server: ServerProcess, done: threading.Event) -> None:
    client = openai.OpenAI(base_url=server.base_url + "/v1", api_key="x", max_retries=0)
    for _ in client.chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": "Tell me a long story."}],
        max_tokens=120,
        temperature=0,
        logit_bias=NO_END,
        stream=True,
    ):
        pass
    done.set()


def _wait_for(check: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_full_queue_429_and_gone_clients_leave_the_queue(single: ServerProcess) -> None:
    body = {
        "model": "smollm2",
        "messages": [{"role": "user", "content": "A question nobody waits for."}],
        "max_tokens": 5,
        "stream": True,
    }
    prompt_before = _metric(single, "modelport_prompt_tokens_total")
    done = threading.Event()
    runner = threading.Thread(target=_long_stream, args=(single, done))
    runner.start()
    _wait_for(lambda: _metric(single, "modelport_active_requests") == 1)
    # A second request waits in the queue; its client then goes away. (Raw socket: the
    # server answers a stream's headers only once it has a slot.)
    payload = json.dumps(body).encode()
    host, port = single.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port))) as queued:
        queued.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\n"
            + f"Content-Length: {len(payload)}\r\n\r\n".encode()
            + payload
        )
        _wait_for(lambda: _metric(single, "modelport_queue_depth") == 1)
        # The queue (one place) is full: a third is turned away at once.
        third = httpx.post(single.base_url + "/v1/chat/completions", json=body, timeout=30)
        assert third.status_code == 429 and float(third.headers["Retry-After"]) > 0
        assert third.json()["error"]["type"] == "rate_limit_error"
    _wait_for(lambda: _metric(single, "modelport_queue_depth") == 0)
    assert not done.is_set(), "the queued request left while the first still ran"
    runner.join()
    # Only the long stream's prompt was ever evaluated: the gone client's never ran.
    evaluated = _metric(single, "modelport_prompt_tokens_total") - prompt_before
    long_prompt = openai.OpenAI(
        base_url=single.base_url + "/v1", api_key="x"
    ).chat.completions.create(
        model="smollm2",
        messages=[{"role": "user", "content": "Tell me a long story."}],
        max_tokens=1,
    )
    assert evaluated == long_prompt.usage.prompt_tokens
