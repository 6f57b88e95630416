"""Tiny model files for the ctransformers tests, built from seeded random weights.

- ``write_llama_gguf``: a llama GGUF with a SentencePiece vocabulary (the 256 byte
  tokens, a few words) written with the ``gguf`` package's writer;
- ``write_gpt2_ggml``: the unversioned GGML gpt-2 layout (hparams, vocabulary, tensors).

Both decode only "words" (never a control or byte token) greedily: the output rows of
every other token are zero, so a word with a positive logit always wins. Small
vocabularies make more tokens than characters, which is what overflows ctransformers'
own ``tokenize``.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

__all__ = ["WORDS", "write_gpt2_ggml", "write_llama_gguf"]

LETTERS = "abcdefghijklmnopqrstuvwxyz"
WORDS = ["▁the", "▁dragon", "▁book", "▁hello", "▁world", "▁one", "▁two", "he", "ll", "▁"]
WORDS += [f"▁{c}" for c in LETTERS] + list(LETTERS)
EMBED, HEADS, FFN = 32, 4, 64


def _weights(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def write_llama_gguf(
    path: Path, *, n_ctx: int = 256, n_layer: int = 1, seed: int = 0, vocabulary: str = "llama"
) -> Path:
    """``vocabulary="gpt2"`` labels the same tokens a BPE vocabulary (as SmolLM2's is):
    a file ctransformers 0.2.27 cannot serve."""
    import gguf

    specials = ["<unk>", "<s>", "</s>"]
    byte_tokens = [f"<0x{b:02X}>" for b in range(256)]
    tokens = specials + byte_tokens + WORDS
    types = [gguf.TokenType.UNKNOWN, gguf.TokenType.CONTROL, gguf.TokenType.CONTROL]
    types += [gguf.TokenType.BYTE] * 256 + [gguf.TokenType.NORMAL] * len(WORDS)
    rng = _weights(seed)

    def rand(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.5).astype(np.float32)

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_context_length(n_ctx)
    writer.add_embedding_length(EMBED)
    writer.add_block_count(n_layer)
    writer.add_feed_forward_length(FFN)
    writer.add_rope_dimension_count(EMBED // HEADS)
    writer.add_head_count(HEADS)
    writer.add_head_count_kv(HEADS)
    writer.add_layer_norm_rms_eps(1e-5)
    writer.add_tokenizer_model(vocabulary)
    writer.add_token_list(tokens)
    writer.add_token_scores(
        [0.0] * (len(tokens) - len(WORDS)) + [-float(i) for i in range(len(WORDS))]
    )
    writer.add_token_types(types)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    output = rand(len(tokens), EMBED)
    output[: len(specials) + 256] = 0.0  # only words can win a greedy pick
    writer.add_tensor("token_embd.weight", rand(len(tokens), EMBED))
    writer.add_tensor("output_norm.weight", np.ones(EMBED, np.float32))
    writer.add_tensor("output.weight", output)
    for i in range(n_layer):
        block = f"blk.{i}."
        writer.add_tensor(block + "attn_norm.weight", np.ones(EMBED, np.float32))
        for name in ("attn_q", "attn_k", "attn_v", "attn_output"):
            writer.add_tensor(f"{block}{name}.weight", rand(EMBED, EMBED))
        writer.add_tensor(block + "ffn_norm.weight", np.ones(EMBED, np.float32))
        writer.add_tensor(block + "ffn_gate.weight", rand(FFN, EMBED))
        writer.add_tensor(block + "ffn_up.weight", rand(FFN, EMBED))
        writer.add_tensor(block + "ffn_down.weight", rand(EMBED, FFN))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def write_gpt2_ggml(path: Path, *, n_ctx: int = 256, n_layer: int = 1, seed: int = 0) -> Path:
    """ggml's gpt-2 example layout: magic, six int32 hparams (ftype 0: float32), the
    vocabulary as length-prefixed byte strings, then each tensor as (n_dims, name
    length, type, dims innermost first, name, data)."""
    words = [w.replace("▁", " ").encode() for w in WORDS]
    vocab = [bytes([b]) for b in range(256)] + words + [b"<|endoftext|>"]
    rng = _weights(seed)
    n = EMBED
    chunks = [struct.pack("<I6ii", 0x67676D6C, len(vocab), n_ctx, n, HEADS, n_layer, 0, len(vocab))]
    chunks += [struct.pack("<I", len(token)) + token for token in vocab]

    def tensor(name: str, array: np.ndarray) -> None:
        data = np.ascontiguousarray(array, np.float32)
        dims = data.shape[::-1]
        header = struct.pack(f"<3i{len(dims)}i", len(dims), len(name), 0, *dims)
        chunks.append(header + name.encode() + data.tobytes())

    def rand(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape) * 0.5

    tensor("model/ln_f/g", np.ones(n))
    tensor("model/ln_f/b", np.zeros(n))
    embeddings = rand(len(vocab), n)
    tensor("model/wte", embeddings)
    tensor("model/wpe", rand(n_ctx, n) * 0.1)
    head = embeddings.copy()
    head[:256] = 0.0
    head[-1] = 0.0  # <|endoftext|> never wins either
    tensor("model/lm_head", head)
    for i in range(n_layer):
        block = f"model/h{i}/"
        for norm in ("ln_1", "ln_2"):
            tensor(f"{block}{norm}/g", np.ones(n))
            tensor(f"{block}{norm}/b", np.zeros(n))
        for name, rows, cols in (
            ("attn/c_attn", 3 * n, n),
            ("attn/c_proj", n, n),
            ("mlp/c_fc", 4 * n, n),
            ("mlp/c_proj", n, 4 * n),
        ):
            tensor(f"{block}{name}/w", rand(rows, cols))
            tensor(f"{block}{name}/b", np.zeros(rows))
    path.write_bytes(b"".join(chunks))
    return path
