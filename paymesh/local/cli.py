"""`paymesh up`, `paymesh send`, `paymesh demo`: the whole function set on one machine."""

from __future__ import annotations

import contextlib
import enum
import logging
import signal
import threading
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.live import Live
from rich.logging import RichHandler
from rich.markup import escape

from paymesh.local.broker import all_topics, create_topics, free_port
from paymesh.local.engine import Engine
from paymesh.local.oidc import TOKEN_SECONDS
from paymesh.local.send import load_data, new_event, produce, resolve_bootstrap, running_state, validate_data
from paymesh.local.stack import ROOT, LocalSet
from paymesh.local.supervisor import PORTS, ports_from
from paymesh.local.watch import TopicWatcher

app = typer.Typer()
DEFAULT_INGRESS_PORT = 8080
SANDBOX_PORTS = (1025, 8025)  # SMTP, HTTP (as Mailpit's); taken ones fall back to free ports
# No emoji shortcodes: account names like assets:bank:demo must print as they are.
console = Console(emoji=False, width=None if Console().is_terminal else 120)

class Role(enum.StrEnum):
    reader = "reader"
    admin = "admin"


Home = Annotated[Path, typer.Option(help="where SQLite stores, logs and up.json live", envvar="PAYMESH_HOME")]


def _ingress_port(wanted: int) -> int:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", wanted))
        except OSError:
            return free_port()
    return wanted


def log_through(target: Console) -> None:
    """Warnings go through the console that draws the live table, so they print above it instead of tearing it."""
    logging.basicConfig(level=logging.WARNING, format="%(name)s: %(message)s", force=True,
                        handlers=[RichHandler(console=target, show_time=False, show_path=False, markup=False)])
    logging.captureWarnings(True)  # Python's warnings too, which would otherwise write to stderr


@app.command()
def up(
    *,
    demo: Annotated[bool, typer.Option("--demo", help="run the demo scenario once, then keep serving")] = False,
    home: Home = Path(".paymesh"),
    eventing: Annotated[Path, typer.Option(help="the KafkaSource/KafkaSink manifests")] = ROOT / "eventing",
    ingress_port: Annotated[int, typer.Option(help="KafkaSink ingress port")] = DEFAULT_INGRESS_PORT,
    base_port: Annotated[int, typer.Option(
        min=1024, max=65531, help="payments listens here, ledger, notifications and audit on the next three "
                                  "(all on 127.0.0.1)")] = PORTS["payments"],
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
    log_through(console)
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
                     ports=ports_from(base_port),
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
                                  sandbox_url=local.sandbox.url if local.sandbox is not None else None,
                                  headers=local.auth_headers("admin")), console)
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
        payload = load_data(data)
        validate_data(event_type, payload)
        event = new_event(event_type, payload, correlation_id=correlation_id)
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
    headers = {"Authorization": f"Bearer {issued_token(home, 'admin')}"} if running_state(home).get("issuer") else None
    result = run_demo(servers, urls, timeout=timeout, sandbox_url=running_state(home).get("sandbox"), headers=headers)
    print_result(result, console)
    if not result.complete:
        raise typer.Exit(1)


def issued_token(home: Path, role: str = "reader", function: str | None = None,
                 ttl_seconds: int = TOKEN_SECONDS) -> str:
    """A token of the running set's issuer for `role`'s service account; ValueError when none is running."""
    from paymesh.local.oidc import Signer, role_subject

    issuer = running_state(home).get("issuer")
    if not issuer:
        raise ValueError(f"no running `paymesh up` with authentication in {home} (start one, or pass --home)")
    try:
        signer = Signer.from_home(home, str(issuer))
    except OSError as error:
        raise ValueError(f"cannot read the issuer's key in {home}: {error.strerror}") from None
    return signer.token(role_subject(role), function or list(PORTS), ttl_seconds)


@app.command()
def token(
    role: Annotated[Role, typer.Option(help="reader: GET query routes; admin: administrative routes and reads")],
    function: Annotated[str | None, typer.Option(help="the function it is for (its audience) [default: all four]")]
    = None,
    ttl: Annotated[int, typer.Option(min=60, max=86400, help="seconds the token is valid")] = TOKEN_SECONDS,
    home: Home = Path(".paymesh"),
) -> None:
    """Print a bearer token of the running set's OIDC issuer, e.g.
    curl -H "Authorization: Bearer $(paymesh token --role reader)" http://127.0.0.1:8082/trial-balance"""
    if function is not None and function not in PORTS:
        console.print(f"[red]paymesh token: unknown function {escape(function)!r}; one of {', '.join(PORTS)}[/]")
        raise typer.Exit(2)
    try:
        value = issued_token(home, role.value, function, ttl)
    except ValueError as error:
        console.print(f"[red]paymesh token: {escape(str(error))}[/]")
        raise typer.Exit(2) from None
    typer.echo(value)  # plain: the console would wrap it


# `paymesh topics`: create the topics on an external broker without starting anything else.
@app.command("topics", hidden=True)
def topics(bootstrap: Annotated[str, typer.Option(help="Kafka bootstrap servers")]) -> None:
    for topic in create_topics(bootstrap, all_topics()):
        console.print(f"created {topic}")
