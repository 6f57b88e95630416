"""The Responses API: POST /v1/responses, and GET/DELETE of stored responses."""
