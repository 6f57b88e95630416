"""Tokenize and detokenize: POST /tokenize and /detokenize (also under /v1), in
llama-server's and vLLM's shape."""
