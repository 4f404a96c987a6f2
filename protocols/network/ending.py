"""Network layer: the end of a circuit, COMPLETE and TEARDOWN (network-design §4.9; docs/wire.md §9.3.7).

The tail sends COMPLETE to every node when Number pairs are settled. Any node may send TEARDOWN(code) to
every node: a hop's link requests failed, a TRACK or CREDIT went unanswered, Max Time at the head, the
run's generation window ended. The tail decides what a teardown means for the request: with fewer than
Number pairs numbered it fails (ERR code to its application, and TEARDOWN from the tail to every node, on
which the head reports the same ERR); otherwise the pairs already numbered are still confirmed and the
circuit completes. So both ends report the same ERR, or none. The head, when a teardown comes from
another node (or from itself), stops generating and waits for that verdict.

A stopped circuit's hops request no more pairs and its nodes discard the halves they hold; a closed one
lingers (its tombstones and answers) and is then forgotten.
"""

from __future__ import annotations

from protocols.common import QNCP_PORT, Actions
from protocols.network.circuit import Circuit, CircuitEvent, CircuitState
from protocols.network.context import Node
from protocols.network.distiller import Distiller
from protocols.network.end_distiller import EndDistiller
from protocols.network.endpoint import EndPoint
from protocols.network.hops import Hops
from protocols.network.service import Service
from protocols.network.swapper import Swapper
from protocols.network.types import HalfEvent, HalfState, Handle
from protocols.packets import linkservice as ll
from protocols.packets.qncp import CircuitEnd
from protocols.packets.qncp_common import COMPLETE, COMPLETE_ACK, REASON_TEARDOWN, TEARDOWN, TEARDOWN_ACK
from protocols.physical.hardware import Discard

KEEP_ON_STOP = ("confirm", "end", "expire")
"""Messages that still go out after a circuit stops: confirmations of pairs already numbered, the COMPLETE and
TEARDOWN messages themselves, and EXPIREs (a poison may be a delivered pair's: the tail's give-up of the last
pair's CONFIRM completes the circuit as its poison leaves)."""


class Ending:
    """COMPLETE, TEARDOWN and their ACKs at one node; stopping, closing and forgetting circuits."""

    def __init__(self, node: Node, service: Service, hops: Hops, ends: EndPoint, swapper: Swapper,
                 distiller: Distiller, end_distiller: EndDistiller) -> None:
        self.distiller = distiller
        self.end_distiller = end_distiller
        self.node = node
        self.service = service
        self.hops = hops
        self.ends = ends
        self.swapper = swapper
        self.failures: dict[Handle, int] = {}
        """Head: the code of a teardown while it waits for the tail's verdict."""

    def max_time(self, handle: Handle, now: int) -> Actions:
        circuit = self.node.circuits.get(handle)
        return Actions() if circuit is None else self.fail(circuit, ll.ERR_TIMEOUT, now)

    @staticmethod
    def _ended(circuit: Circuit, how: str) -> None:
        circuit.stats.ended = circuit.stats.ended or how

    def complete(self, circuit: Circuit, now: int) -> Actions:
        """The tail has settled every pair: COMPLETE to every node, and the circuit ends here."""
        self._ended(circuit, "complete")
        return self._broadcast(circuit, COMPLETE, 0, now).extend(self.close(circuit, now))

    def fail(self, circuit: Circuit, code: int, now: int, announce: bool = True) -> Actions:
        """This node ends ``circuit`` with ``code`` (``announce``: TEARDOWN to every node; not when another
        node's TEARDOWN brought the news)."""
        if not circuit.live or circuit.state == CircuitState.WAITING:
            return Actions()
        if circuit.is_tail:
            if self.ends.numbered_all(circuit):
                return self.stop(circuit, now)    # the request is decided: its pairs are still confirmed
            self._ended(circuit, ll.ERROR_CODES.get(code, str(code)))
            actions = self.service.err(circuit, code)
        elif circuit.is_head and circuit.state == CircuitState.ACTIVE:
            self.failures[circuit.handle] = code
            self.node.timers.schedule(("verdict", circuit.handle), now + 2 * circuit.linger_ns)
            actions = self._broadcast(circuit, TEARDOWN, code, now) if announce else Actions()
            actions.extend(self.stop(circuit, now))
            circuit.fire(CircuitEvent.STOP)
            return actions
        else:
            actions = self.service.err(circuit, code) if circuit.is_head else Actions()
        self._ended(circuit, ll.ERROR_CODES.get(code, str(code)))
        return actions.extend(self._broadcast(circuit, TEARDOWN, code, now)).extend(self.close(circuit, now))

    def verdict_timeout(self, handle: Handle, now: int) -> Actions:
        """The tail never answered the head's TEARDOWN: the head reports the failure alone (a known limit)."""
        circuit = self.node.circuits.get(handle)
        if circuit is None or circuit.state != CircuitState.WAITING:
            return Actions()
        code = self.failures.pop(handle, ll.ERR_OTHER)
        self._ended(circuit, ll.ERROR_CODES.get(code, str(code)))
        return self.service.err(circuit, code).extend(self.close(circuit, now))

    def on_end(self, message: CircuitEnd, sender: int, now: int) -> Actions:
        node = self.node
        kind = COMPLETE_ACK if message.msg_type == COMPLETE else TEARDOWN_ACK
        ack = CircuitEnd(kind, message.circuit_id, message.head_node, node.node_id, status=message.status)
        actions = Actions(send=[(node.qncp(sender), ack.encode())])
        circuit = node.circuits.get((message.head_node, message.circuit_id))
        if circuit is None or not circuit.live:
            return actions
        if message.msg_type == COMPLETE:
            self._ended(circuit, "complete")
            if circuit.is_head:
                actions.extend(self.ends.completed(circuit))
            return actions.extend(self.close(circuit, now))
        code = message.status
        if circuit.is_head and circuit.state != CircuitState.SETTING_UP and sender != circuit.tail:
            return actions.extend(self.fail(circuit, code, now, announce=False))
        if circuit.is_end and not (circuit.is_tail and self.ends.numbered_all(circuit)):
            actions.extend(self.service.err(circuit, code))
        if circuit.is_tail:
            if self.ends.numbered_all(circuit):
                return actions.extend(self.stop(circuit, now))
            actions.extend(self._broadcast(circuit, TEARDOWN, code, now))
        self._ended(circuit, ll.ERROR_CODES.get(code, str(code)))
        return actions.extend(self.close(circuit, now))

    def on_end_ack(self, message: CircuitEnd) -> None:
        self.node.outbox.ack(("end", (message.head_node, message.circuit_id), message.sender_node))

    def _broadcast(self, circuit: Circuit, kind: int, code: int, now: int) -> Actions:
        node = self.node
        actions = Actions()
        message = CircuitEnd(kind, circuit.handle[1], circuit.head, node.node_id, status=code).encode()
        for peer in circuit.route:
            if peer != node.node_id:
                hops = abs(circuit.route.index(peer) - circuit.index)
                actions.extend(node.reliable(("end", circuit.handle, peer), peer, QNCP_PORT, message, now, hops=hops))
        return actions

    def stop(self, circuit: Circuit, now: int) -> Actions:
        """No more pairs for ``circuit``: its hops stop requesting, its undelivered halves are discarded."""
        node = self.node
        actions = self.hops.stop(circuit)
        node.outbox.drop_where(lambda key: not (isinstance(key, tuple) and len(key) > 1 and key[1] == circuit.handle
                                                and key[0] not in KEEP_ON_STOP))
        for half in node.halves_of(circuit):
            if half.state == HalfState.SWAPPING:
                half.doomed = half.doomed or (REASON_TEARDOWN, None)
            elif half.state in (HalfState.EARLY, HalfState.HELD, HalfState.MEASURING, HalfState.MEASURED):
                if half.state == HalfState.HELD and half.slot is not None:
                    actions.hardware.append(Discard(half.slot))
                half.fire(HalfEvent.DIE)
                half.reason = REASON_TEARDOWN
                node.linger(half, circuit, now)
        return actions

    def close(self, circuit: Circuit, now: int) -> Actions:
        if not circuit.live:
            return Actions()
        actions = self.stop(circuit, now)
        circuit.fire(CircuitEvent.CLOSE)
        circuit.stats.ended = circuit.stats.ended or "closed"
        for kind in ("setup-timeout", "max-time", "verdict"):
            self.node.timers.cancel((kind, circuit.handle))
        self.swapper.forget(circuit)
        self.node.timers.schedule(("forget-circuit", circuit.handle), now + max(circuit.linger_ns, 1))
        return actions

    def forget(self, handle: Handle, now: int) -> Actions:
        """``handle``'s circuit is forgotten here (a hop request still open is closed), or later if a CONFIRM it
        passed or answered still needs it (:meth:`EndPoint.kept_until`)."""
        node = self.node
        circuit = node.circuits.get(handle)
        if circuit is None:
            return Actions()
        until = self.ends.kept_until(circuit)
        if until > now:
            node.timers.schedule(("forget-circuit", handle), until)
            return Actions()
        for half in node.halves_of(circuit):
            del node.halves[half.key]
        node.swaps.forget(handle)
        node.circuits.forget(handle)
        actions = self.hops.forget(circuit)
        self.ends.forget(circuit)
        self.distiller.forget(circuit)
        self.end_distiller.forget(circuit)
        self.failures.pop(handle, None)
        return actions
