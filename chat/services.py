"""Writes for turns, by job: the names existing callers (tests, bench) import from here.

New code imports the module that does the job: chat/turns/plan.py (check and read),
chat/turns/prior.py (history as input), chat/turns/start.py, chat/turns/save.py (checkpoints
and the final answer), chat/turns/takeover.py (a dead runner's turn), chat/turns/round_usage.py."""

from chat.turns.plan import (
    StartedTurn,
    TurnPlan,
    TurnRejected,
    fit_input,
    plan_turn,
    resume_plan,
)
from chat.turns.prior import history_input
from chat.turns.round_usage import record_round_usage
from chat.turns.save import checkpoint_turn, finish_turn
from chat.turns.start import start_turn
from chat.turns.takeover import claim_turn, interrupt_turn

__all__ = [
    "StartedTurn",
    "TurnPlan",
    "TurnRejected",
    "checkpoint_turn",
    "claim_turn",
    "finish_turn",
    "fit_input",
    "history_input",
    "interrupt_turn",
    "plan_turn",
    "record_round_usage",
    "resume_plan",
    "start_turn",
]
