"""Token counts for a response whose stream ended without a usage report (stopped or broken).

No tokenizer library fits: the ones on PyPI either fetch their vocabulary from the network
at first use (tiktoken, Hugging Face tokenizers), which this product must not do, or cover
other models. So the estimate is the documented rule of thumb, about four characters of
English text a token (OpenAI's tokenizer guide), rounded up; rows carry `estimated=True`.
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
