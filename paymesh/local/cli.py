"""`paymesh up`, `paymesh send`, `paymesh demo`: the whole function set on one machine."""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.markup import escape

from paymesh.local.broker import all_topics, create_topics, free_port
from paymesh.local.engine import Engine
from paymesh.local.send import load_data, new_event, produce, resolve_bootstrap, running_state
from paymesh.local.stack import ROOT, LocalSet
from paymesh.local.supervisor import PORTS
from paymesh.local.watch import TopicWatcher

app = typer.Typer()
DEFAULT_INGRESS_PORT = 8080
SANDBOX_PORTS = (1025, 8025)  # SMTP, HTTP (as Mailpit's); taken ones fall back to free ports
# No emoji shortcodes: account names like assets:bank:demo must print as they are.
console = Console(emoji=False, width=None if Console().is_terminal else 120)

Home = Annotated[Path, typer.Option(help="where SQLite stores, logs and up.json live", envvar="PAYMESH_HOME")]


def _ingress_port(wanted: int) -> int:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", wanted))
        except OSError:
            return free_port()
    return wanted


@app.command()
def up(
    *,
    demo: Annotated[bool, typer.Option("--demo", help="run the demo scenario once, then keep serving")] = False,
    home: Home = Path(".paymesh"),
    eventing: Annotated[Path, typer.Option(help="the KafkaSource/KafkaSink manifests")] = ROOT / "eventing",
    ingress_port: Annotated[int, typer.Option(help="KafkaSink ingress port")] = DEFAULT_INGRESS_PORT,
    live: Annotated[bool, typer.Option(help="live per-topic view (off: one line per 10 s)")] = True,
    fresh: Annotated[bool, typer.Option("--fresh", help="start with empty SQLite stores")] = False,
    sandbox: Annotated[bool, typer.Option(
        help="email, SMS and push to a local provider sandbox (SMTP 1025, HTTP 8025, GET /outbox); "
             "--no-sandbox: to the real providers configured in the environment")] = True,
    otlp_endpoint: Annotated[str | None, typer.Option(
        help="an OTLP/HTTP collector (e.g. http://127.0.0.1:4318): every function exports its spans there "
             "(OTEL_EXPORTER_OTLP_ENDPOINT in the environment does the same)")] = None,
) -> None:
    """Broker, the four functions and the eventing engine from eventing/, serving until Ctrl-C."""
    stores = sorted(home.glob("*.db*"))
    if fresh:
        for path in stores:
            path.unlink()
    elif stores:
        # The embedded broker keeps nothing; the stores do. Ids of plain records (partition:N/offset:M) repeat
        # after a restart and would be taken for duplicates.
        console.print(f"stores kept from the last run in {home} (the embedded broker starts empty; --fresh clears)")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("kafka").setLevel(logging.ERROR)
    stop = threading.Event()
    serving = threading.Event()

    def interrupt(*_: object) -> None:
        stop.set()  # while serving the loop sees it; during start-up, abandon the start-up
        if not serving.is_set():
            raise KeyboardInterrupt

    # Set explicitly: a shell that starts `paymesh up &` without job control leaves SIGINT ignored.
    signal.signal(signal.SIGINT, interrupt)
    signal.signal(signal.SIGTERM, interrupt)
    local = LocalSet(home.resolve(), eventing, _ingress_port(ingress_port), say=console.print, use_sandbox=sandbox,
                     sandbox_ports=(_ingress_port(SANDBOX_PORTS[0]), _ingress_port(SANDBOX_PORTS[1])),
                     extra_environment={"OTEL_EXPORTER_OTLP_ENDPOINT": otlp_endpoint} if otlp_endpoint else {})
    watcher: TopicWatcher | None = None
    try:
        local.start()
        assert local.broker is not None and local.engine is not None
        console.print(f"[green]all ready in {local.ready_seconds:.1f} s[/]  (stores under {local.home}; "
                      "`paymesh send TYPE --data JSON` and `paymesh demo` use this set)")
        watcher = TopicWatcher(local.broker.bootstrap, local.topics()).start()
        if demo:
            from paymesh.local.demo import print_result, run_demo

            print_result(run_demo(local.broker.bootstrap, local.urls,
                                  sandbox_url=local.sandbox.url if local.sandbox is not None else None), console)
        serving.set()
        _serve(watcher, local.engine, stop, live)
    except KeyboardInterrupt:
        pass
    except (RuntimeError, TimeoutError) as error:
        console.print(f"[red]paymesh up: {escape(str(error))}[/]")
        raise typer.Exit(1) from None
    finally:
        console.print("stopping: consumers (finishing in-flight deliveries), then functions, then the broker")
        if watcher is not None:
            with contextlib.suppress(Exception):
                watcher.stop()
        local.stop()
        console.print("stopped")


def _serve(watcher: TopicWatcher, engine: Engine, stop: threading.Event, live: bool) -> None:
    started = time.monotonic()
    from paymesh.local.view import topic_table

    if not live or not console.is_terminal:
        while not stop.wait(10):
            counts, _ = watcher.snapshot()
            console.print(f"{sum(counts.values())} events on {len(counts)} topics; "
                          f"{engine.stats.total('dead_lettered')} dead-lettered")
        return
    with Live(topic_table(watcher, engine.stats, 0, console.width), console=console, refresh_per_second=2) as view:
        while not stop.wait(0.5):
            view.update(topic_table(watcher, engine.stats, time.monotonic() - started, console.width))


@app.command()
def send(
    event_type: Annotated[str, typer.Argument(metavar="TYPE", help="a catalog type, e.g. payments.payment-requested")],
    data: Annotated[str, typer.Option("--data", help="the event data: JSON, or @file")],
    bootstrap: Annotated[str | None, typer.Option(help="Kafka bootstrap servers (default: the running set)")] = None,
    correlation_id: Annotated[str | None, typer.Option(help="correlationid extension (default: new)")] = None,
    home: Home = Path(".paymesh"),
) -> None:
    """Produce one CloudEvent (binary Kafka binding) to the topic of its type."""
    try:
        event = new_event(event_type, load_data(data), correlation_id=correlation_id)
        servers = resolve_bootstrap(bootstrap, home)
    except (ValueError, OSError) as error:
        console.print(f"[red]paymesh send: {escape(str(error))}[/]")
        raise typer.Exit(2) from None
    produce(servers, [event])
    console.print(f"sent {event.type} id={event.id} correlationid={event.attributes['correlationid']} "
                  f"key={event.partition_key} to {servers}")


@app.command()
def demo(
    bootstrap: Annotated[str | None, typer.Option(help="Kafka bootstrap servers (default: the running set)")] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the outcomes")] = 45.0,
    home: Home = Path(".paymesh"),
) -> None:
    """Send the scripted scenario to a running set (`paymesh up`) and print what it led to."""
    from paymesh.local.demo import print_result, run_demo

    try:
        servers = resolve_bootstrap(bootstrap, home)
    except ValueError as error:
        console.print(f"[red]paymesh demo: {escape(str(error))}[/]")
        raise typer.Exit(2) from None
    urls = running_state(home).get("functions") or {name: f"http://127.0.0.1:{port}" for name, port in PORTS.items()}
    result = run_demo(servers, urls, timeout=timeout, sandbox_url=running_state(home).get("sandbox"))
    print_result(result, console)
    if not result.complete:
        raise typer.Exit(1)


# `paymesh topics`: create the topics on an external broker without starting anything else.
@app.command("topics", hidden=True)
def topics(bootstrap: Annotated[str, typer.Option(help="Kafka bootstrap servers")]) -> None:
    for topic in create_topics(bootstrap, all_topics()):
        console.print(f"created {topic}")
