"""What every client test shares: the structured output asked for and the tool."""

from __future__ import annotations

import pydantic


class Report(pydantic.BaseModel):
    """The structured output every library is asked for."""

    city: str
    weather: str


def weather(city: str) -> str:
    """Get the current weather in a city."""
    return f"Sunny and 21 degrees in {city}"


WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
