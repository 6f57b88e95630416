"""Models: GET /v1/models, GET /v1/models/{id}, and the server's /health."""
