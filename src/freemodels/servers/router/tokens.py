"""A token estimate of a chat request, for `count_tokens` and for skipping too-small contexts.

No tokenizer: models differ, and a download is not an option. About four characters a token in
English and code (OpenAI's rule of thumb), a few tokens of framing per message, and a flat cost
per image (a base64 picture's length says nothing about its tokens).
"""

from __future__ import annotations

import json
from typing import Any

CHARS_PER_TOKEN = 4.0
PER_MESSAGE = 4
PER_IMAGE = 1000


def estimate(body: dict[str, Any]) -> int:
    """Estimated prompt tokens of an OpenAI chat request (messages and tool definitions)."""
    chars = 0
    images = 0
    messages = body.get("messages")
    count = 0
    if isinstance(messages, list):
        for message in messages:
            count += 1
            if not isinstance(message, dict):
                continue
            text, pictures = _content_size(message.get("content"))
            chars += text
            images += pictures
            calls = message.get("tool_calls")
            if calls:
                chars += len(json.dumps(calls))
    tools = body.get("tools")
    if tools:
        chars += len(json.dumps(tools))
    return int(chars / CHARS_PER_TOKEN) + PER_MESSAGE * count + PER_IMAGE * images


def _content_size(content: Any) -> tuple[int, int]:
    if isinstance(content, str):
        return len(content), 0
    if not isinstance(content, list):
        return 0, 0
    chars = images = 0
    for part in content:
        if not isinstance(part, dict):
            continue
        if part.get("type") in ("image_url", "image", "input_image"):
            images += 1
        elif isinstance(part.get("text"), str):
            chars += len(part["text"])
    return chars, images
