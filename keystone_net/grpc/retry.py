"""When and how long a client waits before trying a call again.

A call is tried again only when it failed to *reach* the server: a refused
or lost connection, or the status UNAVAILABLE (a server shutting down, a
proxy without a backend). Which calls may be tried again is the
transport's rule (``keystone_net.grpc.transport``): reads always, writes only
when the request provably never left the client, because a write that was
sent may have been applied even though its reply was lost.

:class:`Retry` is the policy: at most ``attempts`` tries, waiting an
exponentially growing backoff between them (``initial_backoff`` times
``multiplier`` per retry, at most ``max_backoff``), each wait randomised by
``jitter`` (a fraction, so that many clients that lost the same server do
not all come back at the same instant), and never past ``max_elapsed``
seconds after the first try, nor past the call's own timeout.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

__all__ = ["DEFAULT_RETRIES", "NO_RETRY", "Retry", "retry_policy"]


@dataclass(frozen=True)
class Retry:
    """A retry policy: bounded attempts, exponential backoff with jitter, bounded time."""

    #: Tries of one call in all, the first included (1 = never try again).
    attempts: int = 4
    #: Seconds before the first retry.
    initial_backoff: float = 0.05
    #: The backoff grows by this factor after each retry ...
    multiplier: float = 2.0
    #: ... up to this many seconds.
    max_backoff: float = 2.0
    #: Each wait is the backoff times a random factor in ``[1 - jitter, 1 + jitter]``.
    jitter: float = 0.2
    #: No retry starts later than this many seconds after the first try.
    max_elapsed: float = 15.0

    def __post_init__(self) -> None:
        if not isinstance(self.attempts, int) or isinstance(self.attempts, bool):
            raise TypeError(f"attempts must be an int, got {self.attempts!r}")
        if self.attempts < 1:
            raise ValueError(f"attempts must be at least 1, got {self.attempts}")
        for name in ("initial_backoff", "max_backoff", "max_elapsed"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"{name} must be a number of seconds >= 0, got {value!r}")
        if not isinstance(self.multiplier, (int, float)) or self.multiplier < 1:
            raise ValueError(f"multiplier must be >= 1, got {self.multiplier!r}")
        if not isinstance(self.jitter, (int, float)) or not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be between 0 and 1, got {self.jitter!r}")

    def backoffs(self, rng: random.Random | None = None) -> Iterator[float]:
        """The waits before the 2nd, 3rd, ... try (``attempts - 1`` of them)."""
        uniform = (rng or _RNG).uniform
        backoff = float(self.initial_backoff)
        for _ in range(self.attempts - 1):
            yield min(backoff, self.max_backoff) * uniform(1 - self.jitter, 1 + self.jitter)
            backoff *= self.multiplier


_RNG: Final = random.Random()

#: Never try a call again.
NO_RETRY: Final = Retry(attempts=1)
#: The clients' default: 3 retries (4 tries), waits of about 0.05, 0.1 and 0.2 s.
DEFAULT_RETRIES: Final = Retry()


def retry_policy(retries: int | Retry | None) -> Retry:
    """The policy of a ``retries=`` argument: a :class:`Retry`, a number of retries, or ``None``/0."""
    if isinstance(retries, Retry):
        return retries
    if retries is None:
        return NO_RETRY
    if not isinstance(retries, int) or isinstance(retries, bool) or retries < 0:
        raise ValueError(f"retries must be a keystone_net.Retry or an int >= 0, got {retries!r}")
    return DEFAULT_RETRIES if retries == DEFAULT_RETRIES.attempts - 1 else Retry(retries + 1)
