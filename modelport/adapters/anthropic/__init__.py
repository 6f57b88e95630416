"""The Anthropic Messages API (``POST /v1/messages``, ``/v1/messages/count_tokens``), a
protocol adapter plugin like the OpenAI one: its own wire types, its mapping onto core's
chat requests, its rendering of core's events (Anthropic's content blocks and stream
events) and its error envelope, over the same service, models, keys and limits."""
