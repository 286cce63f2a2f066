"""Who may call which local function: the same subjects and audiences as the manifests, derived from eventing/.

Each function's senders are the OIDC identities of the KafkaSources that deliver to it; readers and admins are the
paymesh-reader and paymesh-admin service accounts (`paymesh token --role reader|admin` mints their tokens).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from paymesh.local.oidc import Issuer, role_subject, service_account_subject, source_account
from paymesh.local.pings import PingSource
from paymesh.local.topology import KafkaSource, Topology

ROLES = ("reader", "admin")


def source_subject(source: KafkaSource | PingSource) -> str:
    """The token subject Knative's authentication-oidc gives a KafkaSource or PingSource."""
    kind = "KafkaSource" if isinstance(source, KafkaSource) else "PingSource"
    return service_account_subject(source.namespace, source_account(kind, source.name))


def senders(topology: Topology, function: str, pings: Iterable[PingSource] = ()) -> list[str]:
    sources: list[KafkaSource | PingSource] = [*topology.sources, *pings]
    return sorted({source_subject(source) for source in sources if source.sink == function})


def function_environment(topology: Topology, issuer_url: str, functions: Iterable[str],
                         pings: Iterable[PingSource] = ()) -> dict[str, dict[str, str]]:
    """PAYMESH_AUTH_* for each function, as its Knative Service manifest sets them."""
    environment = {}
    pings = list(pings)
    for function in functions:
        allowed = senders(topology, function, pings)
        if not allowed:
            raise RuntimeError(f"no KafkaSource in eventing/ delivers to {function}: nobody could send it events")
        environment[function] = {"PAYMESH_AUTH_ISSUER": issuer_url, "PAYMESH_AUTH_AUDIENCE": function,
                                 "PAYMESH_AUTH_SENDERS": ",".join(allowed),
                                 "PAYMESH_AUTH_READERS": role_subject("reader"),
                                 "PAYMESH_AUTH_ADMINS": role_subject("admin")}
    return environment


def source_tokens(issuer: Issuer) -> Callable[[KafkaSource | PingSource], Callable[[], str] | None]:
    """What Knative does per source: a token for the sink's audience, issued to the source's service account. A
    source whose sink has no audience gets none (and its events are refused with 401, then dead-lettered)."""

    def tokens(source: KafkaSource | PingSource) -> Callable[[], str] | None:
        if source.audience is None:
            return None
        return issuer.tokens_for(source_subject(source), source.audience)

    return tokens
