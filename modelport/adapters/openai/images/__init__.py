"""``POST /v1/images/generations`` and the route that serves generated images by URL.

For ``response_format=url`` the PNGs are written under the server's data directory and
served from ``GET /v1/images/files/<name>``; like OpenAI's URLs they live for an hour,
then they are deleted. Names are 128-bit random, so a URL is only known to its client.
"""
