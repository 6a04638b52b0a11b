"""The generated-answer path on the real default chat model (SmolLM2-135M), forced on with
``apps.support_bot.generation=always`` over a bike-rental KB: a grounded, cited English answer is kept, and the
model's real empty or wrong answers fall back to the quoted passage. With the default setting the model is not used
(measured too small for grounded answers) and the passage is quoted at once."""

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def generating_bot(bikes_settings, tmp_path_factory):
    """The bike-rental guide alone (its own KB), generation forced on."""
    from apps.support_bot.bot import SupportBot
    from apps.support_bot.kb.knowledge_base import KnowledgeBase

    from .conftest import BIKES_GUIDE

    settings = bikes_settings.model_copy(deep=True)
    settings.apps["support_bot"].update(generation="always", kb="bikes-guide", company="Harbour Bikes")
    guide = tmp_path_factory.mktemp("guide") / "guide.md"
    guide.write_text(BIKES_GUIDE, encoding="utf-8")
    kb = KnowledgeBase.open("bikes-guide", settings)
    kb.ingest([guide])
    return SupportBot(settings, kb=kb)


# Two wordings of one question. SmolLM2's greedy words depend on the CPU's kernels: "What happens if ..." is answered
# "If you damage a bike, the repair is paid from ..." (int8 on AVX2) or "If you damage the Harbour Bikes rental guide,
# the repair ..." (fp32 on AVX-512), but framed and left empty by int8 on another AVX2 EPYC, where "What if ..." gets
# "If you damage the bike, you will lose the 50 euro deposit. [1]". The tests take the first wording the model answers.
DAMAGE = ("What happens if I damage the bike?", "What if I damage the bike?")


def test_a_generated_answer_is_grounded_and_cited(generating_bot):
    replies = []
    for question in DAMAGE:
        replies.append(generating_bot.ask(question))
        if replies[-1].mode == "generate":
            break
    reply = replies[-1]
    assert (reply.action, reply.mode) == ("answer", "generate"), [r.reason for r in replies]
    # SmolLM2's own sentence, not the quoted passage
    assert not reply.answer.startswith('From "') and reply.answer.startswith("If you damage")
    assert "50 euro deposit" in reply.answer and reply.answer.endswith("[1]")
    assert reply.sources[0]["cited"] and reply.sources[0]["title"].endswith("Damage")
    assert not any(s["cited"] for s in reply.sources[1:])


# What SmolLM2-135M really wrote (greedy) for these questions over the guide, and why none is an answer. Its exact
# words depend on the CPU's kernels (int8 on AVX2, fp32 on AVX-512), so both machines' outputs are kept here and
# checked against the real passages; the end-to-end test below holds whatever the model writes on this machine.
RECORDED_NONSENSE = [
    ("Do I get a helmet?", "The answer is:"),  # AVX2 int8: a frame, nothing said
    ("What time does the shop open?", "What time does the shop open?"),  # AVX2 int8: the question echoed
    ("How much does a child seat cost per day?", "The answer is: 50 euros."),  # AVX2 int8: the passage says 5
    ("How much is the deposit?", "[1] The deposit is 10 euros per month."),  # AVX2 int8: the passage says 50
    (
        "Do I get a helmet?",
        "1. No, you don't get a helmet.\n2. No, you don't get a helmet.\n3. No, you don't get a helmet.",
    ),  # AVX-512 fp32: loops, contradicts
    (
        "What time does the shop open?",
        "The Harbour Bikes shop is open from 8:00 am to 12:00 pm every day.",
    ),  # AVX-512 fp32: wrong closing hour
    ("How much is the deposit?", "The deposit is 5 euros per day. [2]"),  # AVX-512 fp32: the child-seat price
]
# The fact a kept (generated) answer to each question must carry.
FACTS = {
    "Do I get a helmet?": "free helmet",
    "What time does the shop open?": "8 am",
    "How much does a child seat cost per day?": "5 euros",
    "How much is the deposit?": "50 euro",
}


@pytest.mark.parametrize(("question", "generated"), RECORDED_NONSENSE)
def test_recorded_nonsense_generations_are_not_grounded(generating_bot, question, generated):
    """The passages are the ones the bot retrieves for the question; the check must refuse each recorded output."""
    from apps.support_bot.chain import KBRetriever, finalize

    docs = KBRetriever(search=generating_bot.search).invoke(question)
    assert not finalize(generated, docs, question).grounded


@pytest.mark.parametrize("question", list(FACTS))
def test_a_generation_is_kept_only_with_the_passage_fact(generating_bot, question):
    """End to end on this machine: the model streams its answer; the reply keeps it only when it carries the
    passage's fact, and otherwise quotes the passage (cited)."""
    deltas = []
    for kind, value in generating_bot.stream(question):
        if kind == "delta":
            deltas.append(value)
        else:
            reply = value
    assert deltas and reply.action == "answer", reply.reason
    if reply.mode == "generate":
        assert FACTS[question] in reply.answer and reply.answer.endswith("]"), reply.answer
    else:
        assert reply.mode == "passage" and "not grounded" in reply.reason
        assert reply.answer.startswith('From "Harbour Bikes rental guide > ') and reply.answer.endswith("[1]")
        assert FACTS[question] in reply.answer and reply.sources[0]["cited"]
        assert "".join(deltas).split("\n\nFrom ")[0] not in reply.answer  # the model's words were dropped


def test_generation_is_skipped_when_the_model_is_too_small(bikes_bot):
    assert bikes_bot.config.generation == "auto" and not bikes_bot.generates("en")
    reply = bikes_bot.ask("What happens if I damage the bike?")
    assert (reply.action, reply.mode) == ("answer", "passage") and "generation off" in reply.reason
    assert "paid from the 50 euro deposit" in reply.answer and reply.sources[0]["cited"]
    assert bikes_bot._chat is None  # the chat model was never loaded


def test_api_streams_an_english_generation_token_by_token(generating_bot):
    """``/api/chat/stream`` sends the model's answer as several delta events before the final reply."""
    import json

    import httpx

    from apps.support_bot.api import create_api
    from tests.conftest import ServerThread

    with ServerThread(create_api(generating_bot)) as server:
        for question in DAMAGE:  # the first wording the model answers on this CPU
            with httpx.stream("POST", f"{server.url}/api/chat/stream", json={"message": question}, timeout=300) as r:
                assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
                events = [json.loads(line[6:]) for line in r.iter_lines() if line.startswith("data: ")]
            if events[-1]["mode"] == "generate":
                break
    deltas, reply = events[:-1], events[-1]
    assert len(deltas) > 5 and all(e["type"] == "delta" and e["text"] for e in deltas)
    assert (reply["type"], reply["mode"], reply["lang"]) == ("reply", "generate", "en")
    # the answer's words were streamed (the reply is authoritative: it drops a preamble such as "The answer is:")
    assert reply["answer"].removesuffix(" [1]") in "".join(e["text"] for e in deltas)
