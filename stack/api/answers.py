"""Which message answers which CREATE of an application (:class:`CreateAnswers`), and which service each OK and
ERR came from (:class:`MessageQueue`), for :class:`stack.api.context.AppContext`.

The link and network services answer every CREATE at once and in order, with an ACK or an ERR (docs/wire.md
§4.2): the refusal is an ERR whose Origin Node is the application's node and whose Create ID the service never
ACKed to it (the ID the service gave the refused CREATE; 0 if it could not parse it). An ERR of a request the
service did ACK (its failure after the ACK: the network layer's NOPATH or UNSUPP, the peer's REJECTED, a
TIMEOUT, an EXPIRE) is that request's, never a refusal. Create IDs repeat after 65,535 CREATEs at a service, so
an ERR of a request ACKed that many CREATEs earlier and still open would be taken for its request's (the
wire cannot tell them apart).

>>> answers = CreateAnswers(node_id=1)
>>> first, second = answers.ticket(7771), answers.ticket(7771)
>>> answers.offer(7771, ll.Ack(5)), answers.offer(7771, ll.Err(5, ll.ERR_REJECTED, origin_node=1))
(True, False)
>>> answers.offer(7771, ll.Err(6, ll.ERR_NOTIME, origin_node=1))       # not ACKed: the refusal of the second
True
>>> answers.take(7771, first), answers.take(7771, second)
(Ack(create_id=5), Err(create_id=6, err=7, s=0, sequence_number_low=0, sequence_number_high=0, origin_node=1))
"""

from __future__ import annotations

from collections import deque
from typing import Any

from protocols.packets import linkservice as ll


class CreateAnswers:
    """The answers (ACK, or the refusing ERR) to one application's CREATEs, per service (by its port), matched
    to the CREATEs in the order they were sent."""

    def __init__(self, node_id: int) -> None:
        self.node_id = node_id
        self._sent: dict[int, int] = {}
        self._received: dict[int, int] = {}
        self._answers: dict[int, deque[tuple[int, ll.Ack | ll.Err]]] = {}
        self._acked: dict[int, set[int]] = {}
        """Create IDs each service ACKed to this application."""

    def ticket(self, port: int) -> int:
        """A CREATE is being sent to the service on ``port``: its number there (the answer to wait for)."""
        ticket = self._sent.get(port, 0)
        self._sent[port] = ticket + 1
        return ticket

    def offer(self, port: int, message: ll.Upward) -> bool:
        """``message`` came from the service on ``port``: True (and kept for :meth:`take`) if it answers a
        CREATE, False if it belongs to a request (an OK, or an ERR of an ACKed request or the remote's)."""
        acked = self._acked.setdefault(port, set())
        if isinstance(message, ll.Ack):
            acked.add(message.create_id)
        elif not (isinstance(message, ll.Err) and message.err != ll.ERR_EXPIRE
                  and message.origin_node == self.node_id and message.create_id not in acked):
            return False
        number = self._received.get(port, 0)
        self._received[port] = number + 1
        self._answers.setdefault(port, deque()).append((number, message))
        return True

    def take(self, port: int, ticket: int, stale: list[ll.Err] | None = None) -> ll.Ack | ll.Err | None:
        """The answer to CREATE ``ticket`` to the service on ``port``, or None if it has not come yet. Answers to
        earlier CREATEs nobody waits for any more (an abandoned ``create``) are skipped: their refusals go to
        ``stale``, if given."""
        answers = self._answers.get(port, deque())
        while answers and answers[0][0] < ticket:
            _, old = answers.popleft()
            if isinstance(old, ll.Err) and stale is not None:
                stale.append(old)
        return answers.popleft()[1] if answers and answers[0][0] == ticket else None


class MessageQueue(deque[Any]):
    """The OKs and ERRs an application has not taken yet, in arrival order, each with the port of the service
    it came from (:meth:`service_of`) and, for an OK (K), when it arrived (:attr:`arrival`). The link and network
    services number their requests apart, so a request of this node is named by its service as well as its
    Create ID. What the queue knows of a message leaves with it, however it is taken. Messages put in without
    :meth:`arrived` (``append``, ``extend``) have no service.

    >>> queue = MessageQueue()
    >>> err = ll.Err(1, ll.ERR_UNSUPP, origin_node=1)
    >>> queue.arrived(err, 7773)
    >>> queue.service_of(err), queue.service_of(ll.Err(1, ll.ERR_UNSUPP, origin_node=1))
    (7773, None)
    >>> queue.remove(err); queue.service_of(err), len(queue)
    (None, 0)
    >>> ok = ll.OkKeep(1, 0, 1, 0, 5, 0, 2, 0, 0)
    >>> queue.arrived(ok, 7771, now=1_000); queue.take(ok), queue.arrival
    (1000, {})
    """

    def __init__(self) -> None:
        super().__init__()
        self._service: dict[int, int] = {}
        self.arrival: dict[int, int] = {}
        """When each queued OK (K) arrived (virtual ns), by the message's identity: a kept pair's age counts from
        then, however long it waited in the queue."""

    def arrived(self, message: ll.Upward, port: int, now: int | None = None) -> None:
        """Queue ``message``, which came from the service on ``port`` (at ``now``, if given)."""
        self.append(message)
        self._service[id(message)] = port
        if now is not None and isinstance(message, ll.OkKeep):
            self.arrival[id(message)] = now

    def put_back(self, message: ll.Upward, port: int | None, at: int | None) -> None:
        """Put ``message``, taken out before (from the service on ``port``, arrived ``at``), back at the front."""
        self.appendleft(message)
        if port is not None:
            self._service[id(message)] = port
        if at is not None:
            self.arrival[id(message)] = at

    def service_of(self, message: ll.Upward) -> int | None:
        """The port of the service ``message`` (in the queue) came from; None if not known."""
        return self._service.get(id(message))

    def take(self, message: Any) -> int | None:
        """Take out ``message`` (as :meth:`remove`): when it arrived, if it is an OK (K) queued by :meth:`arrived`
        with the time."""
        at = self.arrival.get(id(message))         # a live message not queued cannot share a queued one's id
        self.remove(message)
        return at

    def remove(self, value: Any) -> None:
        """Take out ``value`` (that very message, else the first equal one)."""
        index = self.index(value)                   # the first equal one: that very one, but for a duplicate
        if self[index] is not value:
            index = next((i for i, message in enumerate(self) if message is value), index)
        del self[index]

    def popleft(self) -> Any:
        message = super().popleft()
        self._forget(message)
        return message

    def clear(self) -> None:
        super().clear()
        self._service.clear()
        self.arrival.clear()

    def __delitem__(self, index: Any) -> None:
        self._forget(self[index])
        super().__delitem__(index)

    def _forget(self, message: Any) -> None:
        self._service.pop(id(message), None)
        self.arrival.pop(id(message), None)
