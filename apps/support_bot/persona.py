"""What the bot says about itself: company name, the topics it can help with, and its greeting / clarify / handoff
texts in English and Chinese. Configuration wins; otherwise the knowledge base's profile (``llmeco bot ingest
--company``) and its own content (categories, document titles, the words its FAQ questions share), so a knowledge
base ingested under a new name gets a bot that speaks about that knowledge base."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from apps.support_bot.config import BotConfig
from apps.support_bot.kb.knowledge_base import KnowledgeBase
from apps.support_bot.kb.tokenize import EN_STOPWORDS, _segment

LANGS = ("en", "zh")
MAX_TOPICS = 5
# Question words and verbs every FAQ shares: they say nothing about what a knowledge base covers.
_GENERIC_WORDS = (
    "get use make way possible want need know there any some also just still more most much many best able "
    "without into about after before using does doing done work working change set add find see"
)
_GENERIC = frozenset(_GENERIC_WORDS.split())
_GENERIC_ZH_WORDS = "怎么 如何 什么 可以 为什么 需要 是否 哪些 多久 请问 我们 你们"
_GENERIC_ZH = frozenset(_GENERIC_ZH_WORDS.split())

DEFAULT_TEXTS = {
    "en": {
        "greeting": "Hello! I'm the {company} assistant. Ask me about {topics}.",
        "clarify": "I'm not sure I can answer that. I can help with {topics}. Could you rephrase your question, or "
        'type "human" to talk to a person?',
        "choices": "I'm not sure I understood. Did you mean one of these? Pick one, rephrase your question, or type "
        '"human" to talk to a person.',
        "handoff": "I'm connecting you with a member of the {company} team (ticket #{ticket}). They will see this "
        "whole conversation and reply here as soon as possible.",
    },
    "zh": {
        "greeting": "您好！我是{company}的客服助手。您可以问我{topics}方面的问题。",
        "clarify": "抱歉，我不确定能回答这个问题。我可以帮您解答{topics}方面的问题。"
        "请换个说法再问一次，或输入“人工”转接客服。",
        "choices": "抱歉，我不太确定您的意思。您是想问下面的哪个问题吗？"
        "请点选一个、换个说法再问，或输入“人工”转接客服。",
        "handoff": "正在为您转接{company}的人工客服（工单号 #{ticket}）。"
        "客服会看到完整的对话记录，并尽快在这里回复您。",
    },
}


@dataclass(frozen=True)
class Persona:
    company: dict[str, str]  # lang -> name
    topics: dict[str, list[str]]  # lang -> topics
    texts: dict[str, dict[str, str]]  # lang -> kind -> template

    def say(self, kind: str, lang: str, **values: object) -> str:
        """The ``kind`` text ("greeting", "clarify", "choices", "handoff") in ``lang`` with its fields filled."""
        lang = lang if lang in LANGS else "en"
        return self.texts[lang][kind].format(company=self.company[lang], topics=join(self.topics[lang], lang), **values)


def join(items: list[str], lang: str) -> str:
    """ "a, b and c" / "a、b和c"."""
    if not items:
        return "the questions in this knowledge base" if lang == "en" else "知识库中的问题"
    if len(items) == 1:
        return items[0]
    if lang == "zh":
        return "、".join(items[:-1]) + "和" + items[-1]
    return ", ".join(items[:-1]) + " and " + items[-1]


def persona(config: BotConfig, kb: KnowledgeBase) -> Persona:
    """Configured values first, then the knowledge base's profile, then what its content shows."""
    profile = kb.profile()
    company_en = config.company or profile.get("company") or kb.name
    company = {
        "en": company_en,
        "zh": config.company_zh or profile.get("company_zh") or config.company or profile.get("company") or kb.name,
    }
    configured = {"en": config.topics or profile.get("topics"), "zh": config.topics_zh or profile.get("topics_zh")}
    topics = {lang: list(configured[lang] or derive_topics(kb, lang)) for lang in LANGS}
    texts = {
        lang: {kind: getattr(config, kind).get(lang) or template for kind, template in DEFAULT_TEXTS[lang].items()}
        for lang in LANGS
    }
    return Persona(company, topics, texts)


def derive_topics(kb: KnowledgeBase, lang: str, n: int = MAX_TOPICS) -> list[str]:
    """The knowledge base's categories (most entries first); else its documents' titles; else the words its FAQ
    questions share most (in at least two questions). Entries in ``lang``; none there: all entries."""
    entries = [e for e in kb.entries() if e.lang == lang] or kb.entries()
    categories = Counter(e.category.replace("_", " ") for e in entries if e.category)
    if categories:
        return [c for c, _ in categories.most_common(n)]
    titles = list(dict.fromkeys(e.title.split(" > ")[0] for e in entries if e.kind == "doc"))
    if titles:
        return titles[:n]
    counts: Counter[str] = Counter()
    shown: dict[str, Counter[str]] = {}
    for e in entries:
        for word, form in set(_words(e.question or e.title, lang)):
            counts[word] += 1
            shown.setdefault(word, Counter())[form] += 1
    return [shown[w].most_common(1)[0][0] for w, c in counts.most_common(n) if c >= 2]


def _words(text: str, lang: str) -> list[tuple[str, str]]:
    """(key, shown form) of the topic words of a question."""
    if lang == "zh":
        return [
            (w, w)
            for run in re.findall(r"[\u4e00-\u9fff]+", text)
            for w in _segment(run)
            if len(w) > 1 and w not in _GENERIC_ZH
        ]
    return [
        (w.lower(), w)
        for w in re.findall(r"[A-Za-z][A-Za-z0-9+.-]*[A-Za-z0-9]", text)
        if len(w) > 2 and w.lower() not in EN_STOPWORDS and w.lower() not in _GENERIC
    ]
