"""Loading from the HuggingFace hub: the id check and the offline error, shared by the backbone
and reference-checkpoint loaders."""

from __future__ import annotations

from benchmark.errors import BenchError


def require_hub_id(source: str, not_found: str) -> None:
    """Raise ``"{not_found}, and not a hub id ..."`` unless ``source`` looks like ``owner/name``."""
    if source.startswith((".", "/", "~")) or source.count("/") != 1:
        raise BenchError(f"{not_found}, and not a hub id of the form 'owner/name'")


def hub_error(what: str, exc: Exception, fetch: str, use: str) -> BenchError:
    """The one-line error for a hub download that failed with ``exc``: why, and how to bring the
    files over by hand (``fetch``: the call to run on a machine with internet; ``use``: how to
    pass the copied folder)."""
    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0].split(". ")[0]
    return BenchError(f"{what}: cannot load it from the HuggingFace hub (unreachable from this machine, or not "
                      f"in the local cache: {reason[:120]}); on a machine with internet run {fetch}, copy FOLDER "
                      f"here and {use}")
