"""A knowledge base about another domain (bike rental, ingested under the name "bikes" with default settings) gets a
bot that speaks about it in both languages, offers its closest FAQ questions when unsure, and learns from the pick."""

import pytest

from apps.support_bot.bot import SupportBot
from apps.support_bot.config import BotConfig
from apps.support_bot.persona import derive_topics, join, persona
from core.errors import InvalidRequestError

pytestmark = pytest.mark.slow


def test_greeting_and_clarify_speak_about_the_kb_in_both_languages(bikes_bot):
    assert bikes_bot.ask("hello").answer == "Hello! I'm the bikes assistant. Ask me about booking, e-bikes and weather."
    zh = bikes_bot.persona.say("greeting", "zh")
    assert zh == "您好！我是bikes的客服助手。您可以问我预订和电动车方面的问题。"
    reply = bikes_bot.ask("给我写一首关于秋天的诗")
    assert reply.action == "clarify" and "预订和电动车" in reply.answer and "订单" not in reply.answer
    clarify = bikes_bot.persona.say("clarify", "en")
    assert "booking, e-bikes and weather" in clarify and "orders" not in clarify and "Northpeak" not in clarify


def test_profile_and_configuration_override_what_the_kb_shows(bikes_bot, bikes_settings):
    bikes_bot.kb.set_profile(company="Harbour Bikes", company_zh="海港单车")
    try:
        bikes_bot.refresh()
        assert bikes_bot.persona.say("greeting", "en").startswith("Hello! I'm the Harbour Bikes assistant.")
        assert "海港单车" in bikes_bot.persona.say("handoff", "zh", ticket=7) and "#7" in bikes_bot.persona.say(
            "handoff", "zh", ticket=7
        )
        config = BotConfig(topics=["rentals"], greeting={"en": "Welcome to {company}! Topics: {topics}."})
        assert persona(config, bikes_bot.kb).say("greeting", "en") == "Welcome to Harbour Bikes! Topics: rentals."
    finally:
        bikes_bot.kb.set_profile(company=None, company_zh=None)
        bikes_bot.refresh()


def test_topics_come_from_categories_then_titles_then_shared_words(bikes_bot):
    assert derive_topics(bikes_bot.kb, "en") == ["booking", "e-bikes", "weather"]
    assert join(["a", "b", "c"], "en") == "a, b and c" and join(["甲", "乙", "丙"], "zh") == "甲、乙和丙"


def test_clarify_offers_the_closest_faq_questions_and_a_pick_answers_and_is_learned(bikes_bot):
    question = "reservation"
    reply = bikes_bot.ask(question)
    assert reply.action == "clarify" and reply.mode == "clarify"
    assert [s["id"] for s in reply.sources] == ["bike-cancel", "bike-book", "bike-ebike"]
    assert all(s["choice"] and not s["cited"] for s in reply.sources)
    assert "1. Can I cancel a booking?\n2. How do I book a bike?" in reply.answer
    picked = bikes_bot.choose(reply.session_id, "bike-book")  # the customer meant the second one
    assert (picked.action, picked.mode) == ("answer", "faq") and picked.answer.startswith("Book online")
    assert picked.sources[0]["cited"] and picked.extra["learned"] == question
    assert question in bikes_bot.kb.learned()["bike-book"]
    again = bikes_bot.ask(question)  # the next customer asking it gets the answer
    assert (again.action, again.mode) == ("answer", "faq") and again.sources[0]["id"] == "bike-book"
    with pytest.raises(InvalidRequestError, match="not offered"):
        bikes_bot.choose(again.session_id, "bike-rain")


def test_learned_paraphrases_persist(bikes_bot, bikes_settings):
    bikes_bot.kb.learn("bike-rain", "is there a storm refund")
    reopened = SupportBot(bikes_settings)
    assert "is there a storm refund" in reopened.kb.learned()["bike-rain"]
    assert reopened.kb.search("is there a storm refund", k=1)[0].question_match == pytest.approx(1.0, abs=1e-4)
