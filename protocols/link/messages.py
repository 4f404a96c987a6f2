"""Link layer: the EGP messages about one pair, which the master sends and the other end answers.

CONFIRM (the master numbered a pair) and RELEASE (an atomic request's kept pair: deliver it, or with
Status EXPIRE discard it) name the pair by its attempt sequence and carry its sequence number and
the request; CONFIRM_ACK and RELEASE_ACK echo them with the other end's Status.

>>> from protocols.packets.egp import MSG_CONFIRM_ACK, EgpMessage
>>> confirm = EgpMessage(MSG_CONFIRM, 0, 5, 7, 1, 3, None, 42, 9)
>>> EgpMessage.decode(answer(confirm, MSG_CONFIRM_ACK, 0, ("198.18.0.1", 7772))[1]) == EgpMessage(
...     MSG_CONFIRM_ACK, 0, 5, 7, 1, 3, None, 42, 9)
True
"""

from __future__ import annotations

from protocols.common import Address
from protocols.link.types import Request
from protocols.packets.egp import MSG_CONFIRM, EgpMessage, pair_message


def about_pair(request: Request, link_id: int, attempt_seq: int, seq: int, msg_type: int = MSG_CONFIRM,
               status: int = 0) -> tuple[Address, bytes]:
    """The master's CONFIRM (or RELEASE) of pair ``attempt_seq``, numbered ``seq``, for ``request``."""
    return (request.link.peer_address, pair_message(msg_type, status, request.create_id, link_id, request.origin_node,
                                                    request.queue_seq, attempt_seq, seq))


def answer(message: EgpMessage, msg_type: int, status: int, peer: Address) -> tuple[Address, bytes]:
    """The other end's CONFIRM_ACK (or RELEASE_ACK) of a pair message, sent to ``peer``."""
    return (peer, pair_message(msg_type, status, message.create_id, message.link_id, message.origin_node,
                               message.queue_seq, message.attempt_seq, message.sequence_number))
