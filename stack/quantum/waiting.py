"""Links waiting to start an attempt run, in the order they first waited (:mod:`stack.quantum.heralding`).

A link may not take a resource (a communication qubit at one of its ends, or its shared station) that a link
waiting longer also needs, so none starves; :class:`WaitingLinks` answers that per resource, and which waiting
links a retry need try, without walking every waiting link.
"""

from __future__ import annotations

from collections.abc import Collection

from stack.quantum.state import NodeHardware


class WaitingLinks(dict[int, int]):
    """Links that could not start, in the order they first waited, and which of them need each node or station.

    The mapping is each waiting link's place in the order (``in``, ``len`` and truth are a dict's, no Python call
    on the hot path). ``ahead(link_id, resource)`` counts the waiting links before ``link_id`` (all of them when
    it is not waiting) that need ``resource`` (one of their ends, or their shared station): a short list per
    resource instead of a walk along every waiting link, which a network of a thousand nodes made long.
    ``needing(resources)`` gives the waiting links that need any of ``resources`` with their places in the
    order (a retry tries only those: the others' resources are as they were at their last try).
    """

    def __init__(self) -> None:
        super().__init__()
        self._count = 0
        self._needing: dict[int, list[int]] = {}
        self._needs: dict[int, tuple[int, ...]] = {}

    @property
    def order(self) -> list[int]:
        """The waiting links, first waited first."""
        return list(self)

    def append(self, link_id: int, needs: tuple[int, ...]) -> None:
        self[link_id] = self._count
        self._count += 1
        self._needs[link_id] = needs
        needing = self._needing
        for resource in needs:          # setdefault without a new empty list per call
            links = needing.get(resource)
            if links is None:
                needing[resource] = [link_id]
            else:
                links.append(link_id)

    def remove(self, link_id: int) -> tuple[int, ...]:
        """Stop ``link_id`` waiting; what it needed."""
        del self[link_id]
        needs = self._needs.pop(link_id)
        for resource in needs:
            self._needing[resource].remove(link_id)
        return needs

    def place(self, link_id: int) -> int | None:
        """Where ``link_id`` is in the order (None: it is not waiting)."""
        return self.get(link_id)

    def needing(self, resources: Collection[int], links: Collection[int]) -> list[tuple[int, int]]:
        """``(place, link_id)`` of the waiting links in ``links`` or needing any of ``resources``."""
        place, needing = self, self._needing
        found = {(place[link_id], link_id) for link_id in links if link_id in place}
        for resource in resources:
            found.update((place[link_id], link_id) for link_id in needing.get(resource, ()))
        return list(found)

    def ahead(self, link_id: int, resource: int) -> int:
        needing = self._needing.get(resource, [])
        return needing.index(link_id) if link_id in self and link_id in needing else len(needing)



def enough_free(node: NodeHardware, now: int, ahead: int) -> bool:
    """Whether ``node``, known to have a free communication slot, has more free than ``ahead`` (the links waiting
    longer that need it; none ahead: the first free one will do)."""
    return ahead == 0 or node.free_count(now) > ahead
