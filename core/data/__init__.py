"""Data preparation for fine-tuning: load files, recognise their format, clean, split, tokenise chats."""

from core.data.chat_tokens import encode_chat
from core.data.cleaning import CleaningConfig, CleaningReport, clean
from core.data.dataset import PreparedData, prepare_data
from core.data.examples import ChatExample, ClassificationExample, DataError, Example, TextExample
from core.data.formats import detect_format, to_examples
from core.data.loaders import Record, load_records
from core.data.pii import redact_pii
from core.data.split import train_val_split

__all__ = [
    "ChatExample",
    "ClassificationExample",
    "CleaningConfig",
    "CleaningReport",
    "DataError",
    "Example",
    "PreparedData",
    "Record",
    "TextExample",
    "clean",
    "detect_format",
    "encode_chat",
    "load_records",
    "prepare_data",
    "redact_pii",
    "to_examples",
    "train_val_split",
]
