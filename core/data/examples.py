"""Training examples: the three shapes every data format becomes, and the error raised for unusable data.

``source`` and ``line`` say where an example came from; they are left out of equality so that two examples
with the same content compare equal wherever they were read."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from core.errors import LLMEcoError
from core.text.base import ChatMessage


class DataError(LLMEcoError):
    """A data file cannot be used; the message names the file (and line) and what is wrong."""


@dataclass
class ChatExample:
    messages: list[ChatMessage]
    source: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)

    def texts(self) -> list[str]:
        return [m["content"] for m in self.messages]

    def map_texts(self, fn: Callable[[str], str]) -> ChatExample:
        return replace(self, messages=[{"role": m["role"], "content": fn(m["content"])} for m in self.messages])

    def key(self) -> tuple:
        return tuple((m["role"], m["content"]) for m in self.messages)


@dataclass
class TextExample:
    text: str
    source: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)

    def texts(self) -> list[str]:
        return [self.text]

    def map_texts(self, fn: Callable[[str], str]) -> TextExample:
        return replace(self, text=fn(self.text))

    def key(self) -> tuple:
        return (self.text,)


@dataclass
class ClassificationExample:
    text: str
    label: str
    source: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)

    def texts(self) -> list[str]:
        return [self.text]

    def map_texts(self, fn: Callable[[str], str]) -> ClassificationExample:
        return replace(self, text=fn(self.text))

    def key(self) -> tuple:
        return (self.text, self.label)


Example = ChatExample | TextExample | ClassificationExample
