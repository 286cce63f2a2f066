"""The live per-topic view of `paymesh up`.

records: read back from the topic; via sink: produced by a function through its KafkaSink; delivered: 2xx answers
to a KafkaSource delivery (a topic two sources read counts twice); dead: dead-lettered or lost.
"""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from paymesh.local.stats import Stats
from paymesh.local.watch import TopicWatcher


def topic_table(watcher: TopicWatcher, stats: Stats, uptime: float, width: int = 120) -> Table:
    counts, last = watcher.snapshot()
    engine = stats.snapshot()
    table = Table(title=f"paymesh up: events per topic ({uptime:.0f} s; Ctrl-C stops)", title_justify="left")
    with_key = width >= 110  # on a narrow terminal the topic names matter more
    table.add_column("topic", no_wrap=True, min_width=24)
    for name in ("records", "via sink", "delivered", "retries", "dead"):
        table.add_column(name, justify="right", no_wrap=True)
    if with_key:
        table.add_column("last key", no_wrap=True, overflow="ellipsis", max_width=28)
    for topic in sorted(set(counts) | set(engine)):
        numbers = engine.get(topic)
        dead = (numbers.dead_lettered if numbers else 0) + (numbers.lost if numbers else 0)
        row = [escape(topic), str(counts.get(topic, 0)), str(numbers.produced if numbers else 0),
               str(numbers.delivered if numbers else 0), str(numbers.retried if numbers else 0),
               f"[red]{dead}[/]" if dead else "0"]
        table.add_row(*row, *([escape(last.get(topic, ""))] if with_key else []))
    if not counts and not engine:
        table.add_row("(no events yet: try `paymesh demo`)")
    return table
