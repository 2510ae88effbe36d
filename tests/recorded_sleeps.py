"""asyncio.sleep replaced by a recorder that only yields, so a test reads the pauses a piece
of code asks for instead of waiting them out."""

import asyncio

REAL_SLEEP = asyncio.sleep  # taken before any test replaces it


def record_sleeps(monkeypatch) -> list[float]:
    """Replace asyncio.sleep for this test; returns the list the asked pauses go into."""
    asked: list[float] = []

    async def sleep(seconds, *args):
        asked.append(seconds)
        await REAL_SLEEP(0)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    return asked
