"""Client for the OpenAI Responses API and servers that speak it.

Protocol facts: ../shared/reference/responses-protocol.md (sections cited per function).
No ORM here: this package only talks HTTP and turns bytes into events.
"""
