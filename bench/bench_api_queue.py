"""The application API's per-message queue cost: :class:`stack.api.answers.MessageQueue` (which remembers the
service each OK and ERR came from) against the plain deque it replaced.

    python bench/bench_api_queue.py [--messages 200000] [--repeats 7]

Each message is queued (``arrived``; the deque's ``append``) and taken out again (``remove`` of that message,
as the EPR sockets' collections do), the queue holding one message at a time as in a per-pair collection. CPU
µs per message (``time.process_time``), median of ``--repeats`` interleaved runs.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import deque
from typing import Any

from protocols.packets import linkservice as ll
from stack.api.answers import MessageQueue


def run(queue: Any, messages: list[ll.OkMeasure], tagged: bool) -> float:
    """CPU seconds to queue and take out every message."""
    start = time.process_time()
    for message in messages:
        if tagged:
            queue.arrived(message, 7771)
        else:
            queue.append(message)
        for queued in list(queue):
            queue.remove(queued)
    return time.process_time() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    messages = [ll.OkMeasure(1, 0, 1, 0, 0, seq & 0xFFFF, 100, 2, 60000) for seq in range(args.messages)]
    plain, tagged = [], []
    for _ in range(args.repeats):
        plain.append(run(deque(), messages, False))
        tagged.append(run(MessageQueue(), messages, True))
    for name, times in (("deque (before)", plain), ("MessageQueue", tagged)):
        print(f"  {name:<16} {statistics.median(times) / args.messages * 1e6:6.2f} CPU µs per message "
              f"(min {min(times) / args.messages * 1e6:.2f}, max {max(times) / args.messages * 1e6:.2f})")


if __name__ == "__main__":
    main()
