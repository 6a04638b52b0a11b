"""Knowledge bases the support bot was not built for, as FAQ files plus labelled questions, from ``../shared/datasets``.

- StackFAQ (development set): 125 StackExchange web-apps threads; the thread's title is the FAQ question, its first
  (top) answer the FAQ answer; the ~10 human rephrasings of each thread are the queries.
- Banking77 FAQ (held out, assembled here): one FAQ per intent, its question the intent's first training utterance
  (file order, no choosing) and its answer a sentence naming the intent; the queries are the test utterances. Nothing
  in the bot was tuned on it.

Both write a CSV in the bot's FAQ format (``id,question,answer``) so they go through ``llmeco bot ingest`` like a
user's file; the data stays in ``../shared`` (only generated files under a temporary folder)."""

from __future__ import annotations

import csv
import html
import io
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
STACKFAQ = DATASETS / "faq_en_stackfaq" / "stackExchange-FAQ.xml"
BANKING77 = DATASETS / "banking77" / "banking_data"


@dataclass
class FaqSet:
    name: str
    faq: list[tuple[str, str, str]]  # (id, question, answer)
    queries: list[tuple[str, str]]  # (query, expected FAQ id)

    def csv_bytes(self) -> bytes:
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(["id", "question", "answer"])
        writer.writerows(self.faq)
        return buf.getvalue().encode()

    def write(self, folder: Path) -> Path:
        path = Path(folder) / f"{self.name}.csv"
        path.write_bytes(self.csv_bytes())
        return path


def _text(node: ET.Element | None) -> str:
    return " ".join(html.unescape(node.text or "").split()) if node is not None else ""


def stackfaq(path: Path = STACKFAQ) -> FaqSet:
    """125 FAQs and their 1,250 human rephrasings ("*" placeholders dropped)."""
    if not path.is_file():
        raise FileNotFoundError(f"StackFAQ not found at {path}; it comes with ../shared/datasets")
    faq, queries = [], []
    for n, pair in enumerate(ET.parse(path).getroot().iter("qapair"), 1):
        fid = f"stackfaq-{n}"
        faq.append((fid, _text(pair.find("question")), _text(pair.find("answer"))))
        queries += [(q, fid) for q in map(_text, pair.findall("rephr")) if q and q != "*"]
    return FaqSet("stackfaq", faq, queries)


def banking77_faq(folder: Path = BANKING77) -> FaqSet:
    """77 FAQs (one per intent: its first training utterance) and the 3,080 test utterances as queries."""
    if not folder.is_dir():
        raise FileNotFoundError(f"Banking77 not found at {folder}; it comes with ../shared/datasets")

    def rows(name: str) -> list[tuple[str, str]]:
        with open(folder / name, encoding="utf-8") as f:
            return [(r["text"].strip(), r["category"]) for r in csv.DictReader(f)]

    first: dict[str, str] = {}
    for text, intent in rows("train.csv"):
        first.setdefault(intent, text)
    faq = [(f"b77-{i}", q, f"Our help article on {i.replace('_', ' ')} explains this.") for i, q in first.items()]
    return FaqSet("banking77_faq", faq, [(t, f"b77-{i}") for t, i in rows("test.csv")])
