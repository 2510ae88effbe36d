"""Token counts for a response whose stream ended without a usage report (stopped or broken).

No tokenizer is used. tiktoken downloads its vocabularies at first use, which this product
must not do. One package does ship OpenAI's vocabularies inside its wheel (bpe-openai 0.1.4:
o200k_base, cl100k_base), but measured here it adds ~146 MB to a server process once the
o200k vocabulary is loaded (0.3-3 s to load), is a 74 MB binary, and refuses long inputs: too
much for an estimate of stopped streams. So the estimate is the documented rule of thumb,
about four characters of English text a token (OpenAI's tokenizer guide), rounded up; rows
carry `estimated=True`.
"""

from typing import Any

CHARS_PER_TOKEN = 4


def tokens_for_chars(chars: int) -> int:
    return -(-max(0, chars) // CHARS_PER_TOKEN)


def output_chars(text: str, items: list[dict[str, Any]]) -> int:
    """The text the model wrote: the answer, plus tool calls' arguments and inputs."""
    return len(text) + sum(
        len(str(item.get("arguments", ""))) + len(str(item.get("input", ""))) for item in items
    )
