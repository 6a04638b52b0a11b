"""The knowledge base with the real multilingual encoder: ingest, hybrid search (English, Chinese, cross-lingual),
persistence without re-embedding, re-ingest, delete, and per-file errors."""

from __future__ import annotations

import json
import logging
import shutil
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from apps.support_bot.config import SHARED_DATA, bot_home
from apps.support_bot.kb.knowledge_base import KnowledgeBase
from apps.support_bot.kb.types import KBError
from core.config import load_settings

pytestmark = pytest.mark.slow

FAQ_EN_ROWS = [
    (
        "en-returns",
        "How do I return an item?",
        "You can return unused gear within 30 days of delivery for a full refund. Start a return from Orders > "
        "Return item and print the prepaid label.",
    ),
    ("en-shipping", "How long does delivery take?", "Standard delivery takes 3-5 business days; express 1-2 days."),
    (
        "en-international",
        "Do you ship outside the United States?",
        "Yes, we ship to Canada, the UK, the EU and Australia. International orders take 7-14 days.",
    ),
    (
        "en-warranty",
        "What does the warranty cover?",
        "Tents, backpacks and jackets have a 2-year warranty against manufacturing defects.",
    ),
    (
        "en-payment",
        "Which payment methods do you accept?",
        "We accept Visa, Mastercard, American Express, PayPal and Northpeak gift cards.",
    ),
    (
        "en-tracking",
        "Where is my order?",
        "Open Orders and click Track package; the tracking number is also in your shipping confirmation email.",
    ),
]
FAQ_EN = "id,question,answer\n" + "".join(f'{i},{q},"{a}"\n' for i, q, a in FAQ_EN_ROWS)
FAQ_ZH = [
    {
        "id": "zh-returns",
        "question": "怎么退货？",
        "answer": "收货后30天内未使用的商品可以全额退款。在“我的订单 > 申请退货”中提交即可。",
    },
    {
        "id": "zh-shipping",
        "question": "发货后多久能收到？",
        "answer": "普通快递3到5个工作日送达，加急快递1到2个工作日送达。",
    },
    {
        "id": "zh-invoice",
        "question": "可以开发票吗？",
        "answer": "可以。在订单详情页点击“申请发票”，电子发票24小时内发到您的邮箱。",
    },
    {
        "id": "zh-points",
        "question": "会员积分怎么用？",
        "answer": "每消费1元积1分，100积分可抵扣1元，结账时勾选“使用积分”。",
    },
]
GUIDE = """# Gear care guide

## Washing a down jacket
Wash the down jacket on a gentle cycle with cold water and a down-specific detergent. Tumble dry on low heat with
two clean tennis balls to restore the loft.

## Re-waterproofing a tent
Clean the tent fly, let it dry completely, then spray an even coat of waterproofing spray on the outside.

## Storing a sleeping bag
Store sleeping bags loosely in a large cotton sack, never compressed in their stuff sack.
"""


class Counting:
    """The real embedder, counting the texts it embeds (to prove what is and is not re-embedded)."""

    def __init__(self, inner, model_name: str | None = None):
        self.inner = inner
        self.model_name = model_name or inner.model_name
        self.dimension = inner.dimension
        self.texts = 0

    def embed(self, texts: Sequence[str], *, kind: str = "document") -> np.ndarray:
        self.texts += len(texts)
        return self.inner.embed(texts, kind=kind)


@pytest.fixture(scope="module")
def use():
    from core.embeddings import load_embedder

    return load_embedder("use-multilingual-v3")


@pytest.fixture(scope="module")
def mini():
    """The English encoder the bot uses by default for English queries on English entries."""
    from core.embeddings import load_embedder

    return load_embedder("all-minilm-l6-v2")


def write_files(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "faq_en.csv").write_text(FAQ_EN, encoding="utf-8")
    (folder / "faq_zh.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in FAQ_ZH), encoding="utf-8")
    (folder / "care_guide.md").write_text(GUIDE, encoding="utf-8")
    return sorted(folder.iterdir())


@pytest.fixture(scope="module")
def built(use, tmp_path_factory):
    """A knowledge base over the three files, ingested once; tests that change it make their own."""
    base = tmp_path_factory.mktemp("kb")
    files = write_files(base / "files")
    kb = KnowledgeBase(base / "index", use)
    return kb, kb.ingest(files)


def test_ingest_reports_each_file(built):
    kb, results = built
    assert {(r.name, r.status, r.entries) for r in results} == {
        ("care_guide.md", "added", 3),
        ("faq_en.csv", "added", 6),
        ("faq_zh.jsonl", "added", 4),
    }
    assert len(kb) == 13
    assert [(s.id, s.kind, s.entries) for s in kb.sources()] == [
        ("care_guide.md", "doc", 3),
        ("faq_en.csv", "faq", 6),
        ("faq_zh.jsonl", "faq", 4),
    ]
    assert kb.entry("zh-invoice").answer.startswith("可以")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Can I send back boots I never wore and get my money back?", "en-returns"),  # English paraphrase
        ("快递几天能送到？", "zh-shipping"),  # Chinese paraphrase
        ("你们接受哪些付款方式？", "en-payment"),  # Chinese question, English-only answer
        ("Can I get an invoice for my order?", "zh-invoice"),  # English question, Chinese-only answer
    ],
)
def test_search_finds_the_entry(built, query, expected):
    kb, _ = built
    hits = kb.search(query, k=4)
    assert hits[0].entry.id == expected, [(h.entry.id, round(h.score, 4), round(h.dense, 3)) for h in hits]


def test_hits_expose_ordered_scores(built):
    kb, _ = built
    hits = kb.search("how long does express delivery take", k=5)
    assert [h.rank for h in hits] == [1, 2, 3, 4, 5]
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    top = hits[0]
    assert top.entry.id == "en-shipping"
    assert top.bm25 > 0 and 0.3 < top.dense <= 1.0001 and top.question_match > 0.3
    # an English FAQ: its question view plus half its text view (BM25 carries no weight for English queries)
    assert top.score == pytest.approx((top.question_match + 0.5 * top.dense) / 1.5)
    assert all(-1.0001 <= h.dense <= 1.0001 for h in hits)  # cosine for every hit, also BM25-only ones
    assert set(top.to_dict()) >= {"id", "source", "score", "dense", "bm25"}


def test_kind_filter_and_modes(built):
    kb, _ = built
    docs = kb.search("how should I wash my down jacket", k=2, kind="doc")
    assert {h.entry.kind for h in docs} == {"doc"}
    assert docs[0].entry.title.endswith("Washing a down jacket")
    assert {h.entry.kind for h in kb.search("how do I return an item", k=5, kind="faq")} == {"faq"}
    assert kb.search("warranty", k=3, mode="bm25")[0].entry.id == "en-warranty"
    assert kb.search("保修范围是什么", k=3, mode="dense")[0].entry.id == "en-warranty"
    assert kb.search("zzqx", k=3, mode="bm25") == []  # no word matches


def test_bad_requests_are_kb_errors(built):
    kb, _ = built
    for call, words in [
        (lambda: kb.search("   "), "empty"),
        (lambda: kb.search("x", k=0), "at least 1"),
        (lambda: kb.search("x", kind="pdf"), "unknown kind"),
        (lambda: kb.entry("nope"), "unknown entry"),
    ]:
        with pytest.raises(KBError, match=words):
            call()


def test_reopening_finds_the_same_results_without_re_embedding(built, use):
    kb, _ = built
    counting = Counting(use)
    again = KnowledgeBase(kb.root, counting)
    assert counting.texts == 0
    assert len(again) == len(kb) and [s.to_dict() for s in again.sources()] == [s.to_dict() for s in kb.sources()]
    query = "Where can I see the tracking number?"
    hits = again.search(query)
    assert [(h.entry.id, round(h.score, 6)) for h in hits] == [
        (h.entry.id, round(h.score, 6)) for h in kb.search(query)
    ]
    assert counting.texts == 1  # the query: entries and FAQ questions were embedded at ingest and stored
    again.search(query)
    assert counting.texts == 2
    meta = json.loads((kb.root / "meta.json").read_text())
    assert meta["embedding_model"] == "use-multilingual-v3" and meta["dimension"] == 512 and meta["entries"] == 13
    assert np.load(kb.root / "vectors.npy").shape == (13, 512)


def test_reingest_unchanged_then_updated_without_duplicates(use, tmp_path):
    files = write_files(tmp_path / "files")
    counting = Counting(use)
    kb = KnowledgeBase(tmp_path / "index", counting)
    kb.ingest(files)
    embedded = counting.texts
    assert {r.status for r in kb.ingest(files)} == {"unchanged"}
    assert counting.texts == embedded  # nothing re-embedded

    csv = tmp_path / "files" / "faq_en.csv"
    csv.write_text(
        FAQ_EN.replace("within 30 days", "within 60 days")
        + 'en-rental,Can I rent a tent?,"Yes, tents rent for $15 a night from our Denver store."\n',
        encoding="utf-8",
    )
    results = {r.name: r for r in kb.ingest([csv])}
    assert (results["faq_en.csv"].status, results["faq_en.csv"].entries) == ("updated", 7)
    assert len(kb) == 14
    ids = [e.id for e in kb.entries()]
    assert [e.id for e in kb.entries("faq_en.csv")][-1] == "en-rental"
    assert len(ids) == len(set(ids))
    assert "60 days" in kb.entry("en-returns").answer
    assert kb.search("is tent rental possible", k=1)[0].entry.id == "en-rental"
    assert KnowledgeBase(kb.root, use).entry("en-returns").answer == kb.entry("en-returns").answer


def test_uploads_and_delete(use, tmp_path):
    kb = KnowledgeBase(tmp_path / "index", use)
    (result,) = kb.ingest([], uploads={"some/dir/care_guide.md": GUIDE.encode()})
    assert (result.name, result.status) == ("care_guide.md", "added")
    kb.ingest(write_files(tmp_path / "files")[1:2])  # faq_en.csv
    removed = kb.delete("care_guide.md")
    assert (removed.id, removed.entries) == ("care_guide.md", 3)
    assert [s.id for s in kb.sources()] == ["faq_en.csv"] and len(kb) == 6
    assert all(h.entry.kind == "faq" for h in kb.search("wash a down jacket", k=6))
    with pytest.raises(KBError, match=r"unknown source 'care_guide.md'.*known sources: faq_en.csv"):
        kb.delete("care_guide.md")
    assert len(KnowledgeBase(kb.root, use)) == 6


def test_a_bad_file_fails_alone(use, tmp_path):
    good = write_files(tmp_path / "files")
    bad_csv = tmp_path / "files" / "no_answers.csv"
    bad_csv.write_text("question,reply\nWhat?,That.\n", encoding="utf-8")
    broken = tmp_path / "files" / "broken.jsonl"
    broken.write_text('{"question": "ok", "answer": "fine"}\n{"question": oops}\n', encoding="utf-8")
    clash = tmp_path / "files" / "more.json"
    clash.write_text(json.dumps([{"id": "en-returns", "question": "Refunds?", "answer": "Yes."}]), encoding="utf-8")
    kb = KnowledgeBase(tmp_path / "index", use)
    results = {r.name: r for r in kb.ingest([*good, bad_csv, broken, tmp_path / "missing.md", clash])}
    assert {n for n, r in results.items() if r.status == "added"} == {p.name for p in good}
    errors = {n: r.error for n, r in results.items() if r.status == "error"}
    assert set(errors) == {"no_answers.csv", "broken.jsonl", "missing.md", "more.json"}
    assert all(message.startswith(name) for name, message in errors.items())
    assert "answer" in errors["no_answers.csv"] and "line 2" in errors["broken.jsonl"]
    assert "en-returns" in errors["more.json"] and "faq_en.csv" in errors["more.json"]  # names both files
    assert len(kb) == 13


def test_a_different_embedding_model_re_embeds_on_open(built, use, tmp_path, caplog):
    kb, _ = built
    shutil.copytree(kb.root, tmp_path / "copy")
    other = Counting(use, model_name="another-model")
    with caplog.at_level(logging.WARNING):
        reopened = KnowledgeBase(tmp_path / "copy", other)
    assert other.texts == 13 + 10 and "re-embedding 13 entries" in caplog.text  # entries and the 10 FAQ questions
    assert json.loads((tmp_path / "copy" / "meta.json").read_text())["embedding_model"] == "another-model"
    assert reopened.search("how do I return an item")[0].entry.id == "en-returns"


def test_an_index_of_format_1_is_upgraded_on_open(built, use, tmp_path, caplog):
    """A KB written by the previous release (format 1: no English vectors, question views or learned paraphrases)
    opens by re-embedding and is saved in the current format; its searches match a fresh index."""
    kb, _ = built
    root = shutil.copytree(kb.root, tmp_path / "copy")
    for name in ("english.npy", "questions.npz", "learned.jsonl"):
        (root / name).unlink()
    meta = json.loads((root / "meta.json").read_text())
    (root / "meta.json").write_text(json.dumps({**meta, "format": 1}))
    with caplog.at_level(logging.WARNING):
        upgraded = KnowledgeBase(root, use)
    assert "index format 1 -> 2: re-embedding 13 entries" in caplog.text
    assert json.loads((root / "meta.json").read_text())["format"] == 2 and (root / "questions.npz").exists()
    query = "how do I return an item"
    assert [h.entry.id for h in upgraded.search(query)] == [h.entry.id for h in kb.search(query)]
    (root / "meta.json").write_text(json.dumps({**meta, "format": 0}))
    with pytest.raises(KBError, match="index format 0 is not 2; delete"):
        KnowledgeBase(root, use)


def test_an_interrupted_write_is_repaired_on_open(built, use, tmp_path):
    kb, _ = built
    root = shutil.copytree(kb.root, tmp_path / "copy")
    lines = (root / "entries.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)
    (root / "entries.jsonl").write_text("".join(lines[:-1]), encoding="utf-8")  # as if cut off mid-commit
    repaired = KnowledgeBase(root, use)
    assert len(repaired) == 12 and np.load(root / "vectors.npy").shape == (12, 512)
    short = next(s for s in repaired.sources() if s.entries != next(o for o in kb.sources() if o.id == s.id).entries)
    assert short.sha256 == ""  # so the next ingest re-reads that file rather than calling it unchanged


def test_damaged_index_and_bad_names_are_kb_errors(built, use, tmp_path):
    kb, _ = built
    root = shutil.copytree(kb.root, tmp_path / "copy")
    (root / "sources.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(KBError, match=r"sources.json: the stored index is damaged.*ingest the files again"):
        KnowledgeBase(root, use)
    settings = load_settings(None, [f"home={tmp_path / 'home'}"])
    with pytest.raises(KBError, match="invalid knowledge base name"):
        KnowledgeBase.open("../etc", settings, use)
    opened = KnowledgeBase.open("team-a", settings, use)
    assert opened.root == bot_home(settings) / "kb" / "team-a" and len(opened) == 0 and opened.search("hi") == []


def test_search_runs_while_ingesting(built, use, tmp_path):
    kb, _ = built
    root = shutil.copytree(kb.root, tmp_path / "copy")
    live = KnowledgeBase(root, use)
    extra = [
        {"id": f"bulk-{i}", "question": f"Question number {i} about socks?", "answer": "Wool."} for i in range(100)
    ]
    errors: list[Exception] = []

    def ingest() -> None:
        try:
            live.ingest([], uploads={"bulk.json": json.dumps(extra).encode()})
        except Exception as exc:  # reported by the assertion below
            errors.append(exc)

    writer = threading.Thread(target=ingest)
    writer.start()
    while writer.is_alive():
        assert live.search("how do I return an item", k=1)[0].entry.id == "en-returns"
    writer.join()
    assert not errors and len(live) == 113


@pytest.mark.skipif(not (SHARED_DATA / "kb").is_dir(), reason="demo knowledge base not written yet")
def test_demo_knowledge_base(use, mini, tmp_path):
    kb = KnowledgeBase(tmp_path / "demo", use, mini)
    kb.ingest([SHARED_DATA / "kb" / "faq_en.csv"])
    assert kb.search("你们接受哪些付款方式？")[0].entry.id == "en-payment-01"  # Chinese question, English FAQ
    results = kb.ingest([SHARED_DATA / "kb"])
    assert {r.status for r in results if r.name != "faq_en.csv"} == {"added"}, [r.error for r in results if r.error]
    assert len(kb) == sum(r.entries for r in results)
    assert kb.search("I forgot my password and can't sign in")[0].entry.id == "en-account-01"
    assert kb.search("帐篷用完应该怎么清洗、怎么存放？")[0].entry.id == "zh-care-02"
