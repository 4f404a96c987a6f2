"""The link layer of draft-dahlberg-ll-quantum-03: the entanglement generation service between neighbours
(:mod:`protocols.link.layer` describes the service).

Where things live (:class:`~protocols.link.layer.LinkLayer` composes one object per concern and routes its
inputs to them; each owns its tables, and gets the others it needs in its constructor):

- :mod:`protocols.link.links`: :class:`~protocols.link.links.Links`, the node's links, master or not, down;
- :mod:`protocols.link.requests`: :class:`~protocols.link.requests.RequestTable`, open and recently
  finished requests;
- :mod:`protocols.link.queue`: :class:`~protocols.link.queue.DistributedQueue`, CREATE → ACK + REQ,
  REQ → REQ_ACK, with :mod:`protocols.link.admission`;
- :mod:`protocols.link.scheduler` and :mod:`protocols.link.runs`: the master's choice of the next run
  and its runs (SCHEDULE, abort); :mod:`protocols.link.follower`: the other end following them;
- :mod:`protocols.link.confirm`: :class:`~protocols.link.confirm.Confirmation`, heralded and lost
  pairs, and the other end's side of CONFIRM/CONFIRM_ACK (and the per-pair read of a CONFIRM from its fields),
  with :mod:`protocols.link.confirm_waiting` (:class:`~protocols.link.confirm_waiting.Waiting`, what waits
  there for its counterpart);
  :mod:`protocols.link.confirm_master`: :class:`~protocols.link.confirm_master.MasterConfirms`, the master's
  side (pairs numbered and CONFIRMed until their CONFIRM_ACK, read per pair from its fields, or given up);
- :mod:`protocols.link.peer`: :class:`~protocols.link.peer.PeerMessages`, EGP messages from the links' other
  ends, each type to its part;
- :mod:`protocols.link.memory`: :class:`~protocols.link.memory.PairMemory`, moves to storage,
  atomic requests' kept pairs, RELEASE, cutoff;
- :mod:`protocols.link.replies`: :class:`~protocols.link.replies.Replies`, OKs and ERRs, the counters;
- :mod:`protocols.link.failures`: :class:`~protocols.link.failures.Failures`, requests failed by Max Time, a
  link down or the end of generation (after waiting for the pairs numbered before it, when those may complete
  them);
- :mod:`protocols.link.types` and :mod:`protocols.link.config`: requests and their state machine, links as
  this node runs them, re-exported by :mod:`protocols.link.layer`.

>>> from protocols.link import LinkLayer
"""

from protocols.link.layer import LinkLayer

__all__ = ["LinkLayer"]
