"""How the sandbox's simulations pace themselves to the polling its environment sets.

A client waiting on simulated work (an ECS deployment, a one-off task, an Airbyte job) looks once
at once, then after `first` seconds (`ecs.polling.first`, `airbyte.polling.first`), then less and
less often. Work that takes a little less than the shortest first pause is done by the first look
after it starts: the client meets the states and events it would meet at any pace, only sooner.
"""

from __future__ import annotations

EARLIEST_FIRST_POLL = 0.75
"""Of a polling interval: its earliest first look (the primitives' pauses vary by +/- 20 %), less a
margin for the request itself."""


def paced(first: float) -> float:
    """Seconds of simulated work that a client polling first after `first` seconds sees done."""
    return first * EARLIEST_FIRST_POLL
