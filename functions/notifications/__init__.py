import sys

# httpx imports its command-line client (rich, pygments: ~35 ms of this function's cold start) unless that
# module cannot be imported; nothing here runs httpx's command line, so make it unimportable.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
