"""OpenAI's Conversations API, on the server's record store: ``/v1/conversations`` and
its items. A response made with ``conversation`` reads the items and appends its own."""
