"""An interactive chat application: type a message, get a streamed reply; 'exit' quits.

Keeps the conversation history, so the model sees earlier turns. Reads standard input,
so it also works with piped input: printf 'Hi\\nexit\\n' | python chat_repl.py
"""

import os
import sys

from openai import OpenAI

client = OpenAI(
    base_url=os.environ.get("MODELPORT_BASE_URL", "http://127.0.0.1:8000/v1"),
    api_key=os.environ.get("MODELPORT_API_KEY", "modelport"),
)
model = os.environ.get("MODELPORT_CHAT_MODEL", "smollm2")
history = [{"role": "system", "content": "You are a helpful assistant."}]

while True:
    print("you> ", end="", flush=True)
    line = sys.stdin.readline()
    if not line or line.strip().lower() in {"exit", "quit"}:
        print()
        break
    if not line.strip():
        continue
    history.append({"role": "user", "content": line.strip()})
    print(f"{model}> ", end="", flush=True)
    reply = []
    stream = client.chat.completions.create(
        model=model, messages=history, stream=True, max_tokens=128
    )
    for chunk in stream:
        text = chunk.choices[0].delta.content if chunk.choices else None
        if text:
            reply.append(text)
            print(text, end="", flush=True)
    print()
    history.append({"role": "assistant", "content": "".join(reply)})
