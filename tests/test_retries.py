"""The heralding's retries alone (:class:`stack.quantum.retry.Retries`): which waiting links a retry tries, and
when, through its public interface, with a recorder standing in for ``Heralding._try_start``.

The byte-for-byte checks against trying every waiting link are in ``tests/test_heralding_retry.py`` and
``tests/test_heralding_held.py``; these pin down the object's own contract.
"""

from __future__ import annotations

from stack.core.kernel import Kernel
from stack.quantum.retry import Retries
from stack.quantum.waiting import WaitingLinks


class Links:
    """A stand-in for the heralding: ``try_start`` records the link, starts it if it is in ``startable`` (it stops
    waiting), drops it if it is in ``unwanted`` (it stops waiting and marks what it needed freed, as the heralding
    does), and otherwise leaves it waiting."""

    def __init__(self) -> None:
        self.kernel = Kernel()
        self.waiting = WaitingLinks()
        self.retries = Retries(self.kernel, self.waiting, self.try_start)
        self.tried: list[int] = []
        self.startable: set[int] = set()
        self.unwanted: set[int] = set()

    def try_start(self, link_id: int) -> None:
        self.tried.append(link_id)
        if link_id in self.startable:
            self.waiting.remove(link_id)
        elif link_id in self.unwanted:
            self.retries.mark_freed(self.waiting.remove(link_id))

    def run(self) -> int:
        """Run the queued entries in order; how many there were."""
        count = 0
        while (entry := self.kernel.pop_entry()) is not None:
            self.kernel.now, callback, arg = entry
            callback(arg)
            count += 1
        return count


def test_a_retry_tries_the_links_needing_what_was_freed_in_the_order_they_waited() -> None:
    links = Links()
    links.waiting.append(3, (1, 2))
    links.waiting.append(1, (5, 6))
    links.waiting.append(2, (2, 7))
    links.retries.freed(2)
    assert links.tried == []                        # queued, not run
    assert links.run() == 1
    assert links.tried == [3, 2]                    # link 1 needs nothing freed: as unable to start as before
    assert not links.retries.pending()


def test_a_link_that_stops_waiting_lets_the_links_after_it_needing_the_same_be_tried() -> None:
    links = Links()
    links.waiting.append(1, (1, 2))
    links.waiting.append(2, (2, 3))
    links.waiting.append(3, (3, 4))
    links.unwanted.add(1)
    links.retries.request_changed(1)                # only link 1 is a candidate at first
    links.run()
    assert links.tried == [1, 2]                    # 1 stopped waiting, freeing 2 for link 2; 3 needs neither
    assert list(links.waiting) == [2, 3]


def test_what_is_freed_with_no_link_waiting_queues_nothing_and_leaves_no_mark() -> None:
    links = Links()
    links.retries.freed(1)
    links.retries.released(9, (1, 2, 3))
    assert links.run() == 0
    assert not links.retries.pending()
    links.waiting.append(4, (5, 6))
    links.retries.freed(7)                          # marks are per retry: 1, 2, 3 were dropped
    links.run()
    assert links.tried == []


def test_a_release_at_the_end_of_an_entry_retries_at_once_unless_another_entry_is_due_then() -> None:
    links = Links()
    links.waiting.append(1, (1, 2))
    links.retries.freed_at(2, 100)
    assert links.run() == 1                         # the release itself: its retry ran inside it
    assert links.tried == [1]
    links.retries.freed_at(2, 200)
    links.kernel.call_at(200, lambda _: None)       # another entry due at the same instant: the retry queues
    assert links.run() == 3
    assert links.tried == [1, 1]


def test_the_sole_waiting_link_is_tried_alone_when_its_station_is_freed_at_the_end_of_an_entry() -> None:
    links = Links()
    links.waiting.append(1, (1, 2, 50))
    links.startable.add(1)
    links.retries.freed_at_end(50, 1)
    assert links.tried == [1]
    assert not links.waiting and not links.retries.pending()
    assert links.run() == 0
