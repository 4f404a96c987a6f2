"""The network layer's inputs: :class:`Inbox` decodes a node's datagrams (QNCP, CREATEs and its link layer's
replies, TRACKs), checks each comes from the node the circuit's route says sends it, and hands it to the
collaborator that owns it (:class:`~protocols.network.layer.NetworkLayer` counts what goes out)."""

from __future__ import annotations

from typing import Any

import protocols.network.senders as senders
from protocols.common import NETWORK_SERVICE_PORT, QNCP_PORT, QNP_PORT, Actions, Address, ParseError, sending
from protocols.network.context import Node
from protocols.network.distiller import Distiller
from protocols.network.end_distiller import EndDistiller
from protocols.network.ending import Ending
from protocols.network.endpoint import EndPoint
from protocols.network.hops import Hops
from protocols.network.service import Service
from protocols.network.signalling import Signalling
from protocols.network.tracker import Tracker
from protocols.network.types import LEFT, RIGHT
from protocols.packets import linkservice as ll
from protocols.packets.qncp import (
    CONFIRM_SIZE,
    PAIR_SIZE,
    CircuitEnd,
    Confirm,
    Distil,
    HopAck,
    PairMessage,
    Setup,
    SetupReply,
    decode_confirm,
    decode_pair,
    decode_qncp,
)
from protocols.packets.qncp_common import (
    COMPLETE,
    CONFIRM,
    CREDIT,
    CREDIT_ACK,
    DISTIL,
    EXPIRE,
    EXPIRE_ACK,
    SCOPE_END_TO_END,
    TEARDOWN,
    TRACK_ACK,
)
from protocols.packets.qnp import decode_track

_OkKeep = ll.OkKeep


class Inbox:
    """Decodes and dispatches one node's datagrams (a :exc:`ParseError` for one it cannot take)."""

    def __init__(self, node: Node, service: Service, hops: Hops, tracker: Tracker, ends: EndPoint,
                 distiller: Distiller, end_distiller: EndDistiller, ending: Ending, signalling: Signalling) -> None:
        self.node = node
        self.service = service
        self.hops = hops
        self.link = hops.link
        self.tracker = tracker
        self.ends = ends
        self.relay = ends.relay
        self.distiller = distiller
        self.end_distiller = end_distiller
        self.ending = ending
        self.signalling = signalling

    def receive(self, payload: bytes, source: Address, port: int, now: int) -> Actions:
        """The actions one datagram from ``source`` to ``port`` asks for."""
        node = self.node
        if port == QNCP_PORT:                   # the commonest port (5 of ~9 inputs a link pair)
            sender = node.senders.get(source, -1)
            if sender == -1:
                sender = node.sender(source)
            if sender is None or sender == node.node_id:
                raise ParseError(f"datagram from {source}, not a node of the network")
            size = len(payload)
            # per pair: decoded with one struct call, checked and dispatched without the general chains. The
            # sender checks below are senders.expected's rule for these two classes, written out: calling it
            # instead costs ~5 calls and +84 bytecodes a link pair (K = 8 chain, 20 pairs: +14,255 bytecodes,
            # bench/opcodes.py, 2026-12-03), more than noise; a change to the rule changes both
            # (tests/test_network_senders.py checks each).
            if size == PAIR_SIZE:
                pair = decode_pair(payload)
                if pair is None:
                    return self._general(decode_qncp(payload), sender, now)
                circuit = node.circuits.by_handle.get((pair.head_node, pair.circuit_id))
                if circuit is not None and circuit.peers.get(pair.link_id) != sender:
                    node.counters.wrong_sender += 1
                    return Actions()
                kind = pair.msg_type        # (_pair_message written out, the commonest first)
                if kind == CREDIT:
                    return self.hops.on_credit(pair, sender, now, circuit, payload)
                if kind == CREDIT_ACK:
                    self.hops.on_credit_ack(pair)
                    return sending([])      # (Actions() without the class call: one a link pair, each of two)
                if kind == TRACK_ACK:
                    self.tracker.on_track_ack(pair)
                    return sending([])
                return self._pair_message(pair, sender, now)
            confirm = decode_confirm(payload) if size == CONFIRM_SIZE else None
            if confirm is None:
                return self._general(decode_qncp(payload), sender, now)
            circuit = node.circuits.by_handle.get((confirm.head_node, confirm.circuit_id))
            # at a repeater straight to the relay (EndPoint.on_confirm's and on_confirm_ack's first step, written
            # out) with the bytes as they came: it passes them on unchanged (wire.md §9.3.6) when they are canonical
            if confirm.msg_type == CONFIRM:     # from the right neighbour; its ACK from the left one
                if circuit is not None:
                    hop = circuit.hops[RIGHT]       # (senders.peer)
                    if hop is None or hop.peer != sender:
                        node.counters.wrong_sender += 1
                        return Actions()
                    if not circuit.is_end:
                        return self.relay.on_confirm(circuit, confirm, now, payload)
                return self.ends.on_confirm(confirm, sender, now)
            if circuit is not None:
                hop = circuit.hops[LEFT]
                if hop is None or hop.peer != sender:
                    node.counters.wrong_sender += 1
                    return Actions()
                if not circuit.is_end:
                    return self.relay.on_confirm_ack(circuit, confirm, now, payload)
            return self.ends.on_confirm_ack(confirm, now)
        if port == NETWORK_SERVICE_PORT:
            if source == node.link_service:
                upward = ll.decode_upward(payload)
                if type(upward) is _OkKeep:     # (HopLink.on_link's commonest case, one a link pair at each end)
                    return self.link.on_ok(upward, now)
                return self.link.on_link(upward, now)
            actions, admitted = self.service.on_create(payload, source, now)
            return actions if admitted is None else actions.extend(self.signalling.open(admitted, now))
        sender = node.senders.get(source, -1)
        if sender == -1:
            sender = node.sender(source)
        if sender is None or sender == node.node_id:
            raise ParseError(f"datagram from {source}, not a node of the network")
        if port == QNP_PORT:
            frame = decode_track(payload)
            # senders.track_from_expected written out: the left neighbour of the circuit the TRACK names
            handle = node.circuits.by_id.get(frame.circuit_id)
            circuit = None if handle is None else node.circuits.by_handle.get(handle)
            if circuit is not None:
                hop = circuit.hops[LEFT]
                if hop is None or hop.peer != sender:
                    node.counters.wrong_sender += 1
                    return Actions()
            return self.tracker.on_track(frame, sender, now, circuit)
        raise ParseError(f"nothing on port {port}")

    def _general(self, message: Any, sender: int, now: int) -> Actions:
        """A QNCP message the per-pair decoder did not take (setup, ending, distillation), from ``sender``."""
        node = self.node
        if not senders.qncp_from_expected(node, message, sender):
            node.counters.wrong_sender += 1         # not from the node the circuit's route says sends it
            return Actions()
        return self._qncp(message, sender, now)

    def _qncp(self, message: Any, sender: int, now: int) -> Actions:
        # the per-pair messages first (the message classes are disjoint: the order decides nothing else)
        if isinstance(message, PairMessage):
            return self._pair_message(message, sender, now)
        if isinstance(message, Confirm):
            if message.msg_type == CONFIRM:
                return self.ends.on_confirm(message, sender, now)
            return self.ends.on_confirm_ack(message, now)
        s = self.signalling
        if isinstance(message, Setup):
            return s.on_setup(message, sender, now)
        if isinstance(message, SetupReply):
            return s.on_reply(message, sender, now)
        if isinstance(message, HopAck):
            s.on_ack(message, sender)
        elif isinstance(message, CircuitEnd):
            if message.msg_type in (COMPLETE, TEARDOWN):
                return self.ending.on_end(message, sender, now)
            self.ending.on_end_ack(message)
        elif isinstance(message, Distil) and message.scope == SCOPE_END_TO_END:
            if message.msg_type == DISTIL:
                return self.end_distiller.on_distil(message, sender, now)
            return self.end_distiller.on_distil_ack(message, now)
        elif isinstance(message, Distil):
            if message.msg_type == DISTIL:
                return self.distiller.responder.on_distil(message, sender, now)
            return self.distiller.on_distil_ack(message, now)
        return Actions()

    def _pair_message(self, message: PairMessage, sender: int, now: int) -> Actions:
        kind = message.msg_type
        if kind == TRACK_ACK:
            self.tracker.on_track_ack(message)
        elif kind == EXPIRE:
            return self.tracker.on_expire(message, sender, now)
        elif kind == EXPIRE_ACK:
            self.tracker.on_expire_ack(message, sender)
        elif kind == CREDIT:
            circuit = self.node.circuits.by_handle.get((message.head_node, message.circuit_id))
            return self.hops.on_credit(message, sender, now, circuit, message.encode())
        elif kind == CREDIT_ACK:
            self.hops.on_credit_ack(message)
        return Actions()
