"""Link layer: :class:`Links`, the links of one node as its link layer sees them.

Each link is known by its ID and by its peer's node ID. The end with the lower node ID is the
link's *master*: it numbers requests and pairs and decides what the link generates. A link whose
peer (or station) is gone is *down*, and *gone* if the peer itself is; once the run's generation window is
over (``over``) no link generates any more.

>>> from protocols.link.types import LinkConfig
>>> links = Links(2, [LinkConfig(7, 1, ("198.18.0.1", 7772), 1e6, 1e6)])
>>> links.is_master(links.by_peer[1]), links.can_generate(7)
(False, True)
>>> links.mark_down(7, peer_alive=True)       # the station died: the peer still answers
>>> links.can_generate(7), 7 in links.gone
(False, False)
"""

from __future__ import annotations

from protocols.link.types import LinkConfig


class Links:
    """This node's links by ID and by peer; which end is master; which are down; whether generation is over."""

    def __init__(self, node_id: int, links: list[LinkConfig]) -> None:
        self.node_id = node_id
        self.by_peer = {link.peer_node_id: link for link in links}
        self.by_id = {link.link_id: link for link in links}
        self.masters = frozenset(link.link_id for link in links if node_id < link.peer_node_id)
        """The IDs of the links this node is master of."""
        self.down: set[int] = set()
        """Links that make no more pairs (:meth:`mark_down`)."""
        self.gone: set[int] = set()
        """Links whose peer is gone: nothing sent on them is answered any more."""
        self.over = False

    def __contains__(self, link_id: object) -> bool:
        return link_id in self.by_id

    def __getitem__(self, link_id: int) -> LinkConfig:
        return self.by_id[link_id]

    def ids(self) -> list[int]:
        return list(self.by_id)

    def is_master(self, link: LinkConfig) -> bool:
        """This node is the link's master (the lower node ID)."""
        return self.node_id < link.peer_node_id

    def mark_down(self, link_id: int, peer_alive: bool = False) -> None:
        """The link can make no more pairs, and generates no more: its peer is gone (in :attr:`gone`), or only
        the station between (``peer_alive``: the peer still answers)."""
        self.down.add(link_id)
        if not peer_alive:
            self.gone.add(link_id)

    def end_generation(self) -> None:
        """The run's generation window is over: no link generates any more."""
        self.over = True

    def can_generate(self, link_id: int) -> bool:
        return link_id not in self.down and not self.over
