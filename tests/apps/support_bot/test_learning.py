"""The learning loop on a real bot: a resolved handoff becomes a suggestion; approving it (REST API) makes the bot
answer a paraphrase it could not answer before; rejecting changes nothing; bad ids and edits get clear errors."""

import os
import subprocess
import sys

import httpx
import pytest

from apps.support_bot.api import create_api
from apps.support_bot.learning import LEARNED_SOURCE, Learning, learned_id
from core.errors import ConfigError
from tests.apps.support_bot.conftest import BIKES_FAQ, BIKES_GUIDE
from tests.conftest import ServerThread, settings_in

pytestmark = pytest.mark.slow

QUESTION = "Do you sell gift vouchers for bike rentals?"
PARAPHRASE = "Can I buy a bike rental voucher as a present?"
REPLY = "Yes, gift vouchers for 1, 3 or 7 days of rental are sold in the shop and online; they are valid for 2 years."


@pytest.fixture(scope="module")
def bot(bot_settings, tmp_path_factory):
    """A bike-rental bot in its own home (approvals change its KB, so it is not the shared bikes bot)."""
    from apps.support_bot.cli import open_bot
    from apps.support_bot.kb.knowledge_base import KnowledgeBase

    home = tmp_path_factory.mktemp("learning-home")
    (home / "guide.md").write_text(BIKES_GUIDE, encoding="utf-8")
    (home / "faq.csv").write_text(BIKES_FAQ, encoding="utf-8")
    intents = bot_settings.apps["support_bot"]["intent_model"]
    settings = settings_in(home, **{"apps.support_bot.intent_model": intents, "apps.support_bot.kb": "bikes"})
    KnowledgeBase.open("bikes", settings).ingest([home / "guide.md", home / "faq.csv"])
    return open_bot(settings)


@pytest.fixture(scope="module")
def api_url(bot):
    with ServerThread(create_api(bot)) as server:
        yield server.url


def handed_off(bot, question: str) -> int:
    """Ask, then ask for a person: the ticket id."""
    session = bot.store.new_session_id()
    first = bot.ask(question, session)
    return first.ticket_id or bot.ask("I want to talk to a person", session).ticket_id


def test_a_resolved_ticket_is_learned_once_approved(bot, api_url):
    assert REPLY not in bot.ask(PARAPHRASE).answer  # not in the KB yet
    ticket = handed_off(bot, QUESTION)
    resolved = httpx.post(f"{api_url}/api/handoff/tickets/{ticket}/resolve", json={"reply": REPLY}, timeout=60)
    assert resolved.status_code == 200 and resolved.json()["status"] == "resolved"
    [made] = resolved.json()["suggestions"]
    assert (made["kind"], made["question"], made["answer"], made["status"]) == ("faq", QUESTION, REPLY, "pending")
    queue = httpx.get(f"{api_url}/api/suggestions").json()
    assert made["id"] in [s["id"] for s in queue]

    approved = httpx.post(f"{api_url}/api/suggestions/{made['id']}/approve", json={}, timeout=120)
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert LEARNED_SOURCE in [s.id for s in bot.kb.sources()]
    reply = bot.ask(PARAPHRASE)
    cited = [s["id"] for s in reply.sources if s["cited"]]
    assert reply.action == "answer" and cited == [learned_id(QUESTION, REPLY)] and REPLY in reply.answer, reply
    assert Learning(bot).refresh() == []  # the ticket already has its suggestion


def test_a_reply_with_an_faq_answer_suggests_a_paraphrase_of_it(bot):
    question = "If my plans change, is there a fee to call off my reservation?"
    answer = bot.kb.entry("bike-cancel").answer
    ticket = bot.store.resolve_ticket(handed_off(bot, question), reply=answer)
    [made] = Learning(bot).from_ticket(ticket, answer)
    assert (made.kind, made.entry_id) == ("paraphrase", "bike-cancel")
    Learning(bot).approve(made.id, recalibrate=False)
    assert question in bot.kb.learned()["bike-cancel"]


def test_rejecting_changes_nothing(bot, api_url):
    reply = bot.ask("Do you have tandem bikes?")
    httpx.post(f"{api_url}/api/feedback", json={"message_id": reply.message_id, "rating": -1}).raise_for_status()
    [made] = [s for s in bot.store.suggestions() if s.origin == f"feedback:{reply.message_id}"]
    assert made.kind == "faq" and made.answer is None  # a rated-down reply: the reviewer writes the answer
    no_answer = httpx.post(f"{api_url}/api/suggestions/{made.id}/approve", json={})
    assert no_answer.status_code == 400 and "no answer" in no_answer.json()["error"]
    digest = bot.kb.digest
    rejected = httpx.post(f"{api_url}/api/suggestions/{made.id}/reject")
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert bot.kb.digest == digest
    again = httpx.post(f"{api_url}/api/suggestions/{made.id}/approve", json={"answer": "Yes."})
    assert again.status_code == 400 and "already rejected" in again.json()["error"]


def test_bad_ids_and_edits_get_clear_errors(bot, api_url):
    for action in ("approve", "reject"):
        r = httpx.post(f"{api_url}/api/suggestions/424242/{action}", json={})
        assert r.status_code == 404 and "no suggestion with id 424242" in r.json()["error"]
    assert httpx.get(f"{api_url}/api/suggestions", params={"status": "maybe"}).status_code == 422
    ticket = bot.store.resolve_ticket(
        handed_off(bot, "Are dogs allowed in the bike baskets?"), reply="Small dogs, yes."
    )
    [made] = Learning(bot).from_ticket(ticket, "Small dogs, yes.")
    r = httpx.post(f"{api_url}/api/suggestions/{made.id}/approve", json={"question": "  "})
    assert r.status_code == 400 and "empty" in r.json()["error"]
    with pytest.raises(ConfigError, match="intent_model is set"):
        Learning(bot).retrain()  # the shared demo model is never overwritten


def test_cli_lists_and_names_unknown_ids(bot):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "LLMECO_HOME": str(bot.settings.home)}
    cmd = [sys.executable, "-m", "apps.cli", "bot", "suggestions"]
    listed = subprocess.run([*cmd, "list", "--status", "all", "--json"], capture_output=True, text=True, env=env)
    assert listed.returncode == 0 and '"kind"' in listed.stdout, listed.stderr
    missing = subprocess.run([*cmd, "reject", "424242"], capture_output=True, text=True, env=env)
    assert missing.returncode != 0 and "no suggestion with id 424242" in missing.stderr + missing.stdout
    assert "Traceback" not in missing.stderr


def test_an_approved_entry_stays_when_its_conversation_is_forgotten(bot, api_url):
    """Approved, an entry is the KB's: forgetting the customer (or purging the conversation) removes the suggestion
    row, and the next approval rebuilds the learned source without losing the entry (nor replacing it with a new
    suggestion that reuses the deleted row's id)."""
    learned = []
    for question, reply in (
        ("Do you rent tandem bikes?", "Yes, two tandems at 40 euros per day; book them a day ahead."),
        ("Do you sell bike locks in the shop?", "Yes, D-locks for 25 euros and cable locks for 12 euros."),
    ):
        ticket = handed_off(bot, question)
        resolved = httpx.post(f"{api_url}/api/handoff/tickets/{ticket}/resolve", json={"reply": reply}, timeout=60)
        [suggestion] = resolved.json()["suggestions"]
        Learning(bot).approve(suggestion["id"], recalibrate=False)
        learned.append((question, reply))
        if len(learned) == 1:
            _, forgotten = bot.store.forget(session_id=suggestion["session_id"])
            assert forgotten == [suggestion["session_id"]]
    assert {(e.question, e.answer) for e in bot.kb.entries(LEARNED_SOURCE)} >= set(learned)
