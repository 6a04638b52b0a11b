"""The customer-service bot: answers from a team's knowledge base with citations, knows when it does not know
(clarify) and hands over to a person with the whole transcript (handoff)."""
