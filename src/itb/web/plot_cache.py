"""The chart's plots, rendered once per change of what they show.

A plot is a pure function of its arguments (:mod:`itb.web.plots`), so its SVG is kept under a
key made from its CONTENT: a hash of the drawing function's name and of exactly the arguments
given to it (every value, down to the fields of a program and the bits of a float). Neither the
patient's id nor a time is part of the key: a changed record (a refill, a new program, an
assessment) changes the arguments, so the next chart renders a new plot at once, while an
unchanged one is served from memory. A plot that depends on the current time is given the
rounded time that changes its picture (the chart passes "now" to the minute: see
:func:`itb.web.chart.chart_context`), so that rounded value is what the key holds.

The cache is a least-recently-used map bounded in bytes (:data:`MAX_BYTES`), thread-safe (uvicorn
answers pages from a thread pool), shared by every plot, and single-flight: threads asking at
once for a plot that is being rendered wait for that one render instead of starting their own.

The same cache keeps other values the chart derives from its records by a pure function
(:data:`DERIVED`: the learned flow and its forecast), under the same kind of key; such a value is
weighed at a nominal size (:data:`DERIVED_WEIGHT`), and is shared by every request that asks for
it, so it must be immutable (frozen dataclasses, tuples).
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from datetime import date, datetime, time, timedelta
from typing import Any, Generic, TypeVar

V = TypeVar("V")

#: The cache's bound: the UTF-8 bytes of the SVG text it keeps (16 MiB). A chart's three plots are
#: about 50 to 70 KB together, so this keeps the plots of some 250 charts (more than a clinic
#: opens in a day, several times over), while staying small beside the server process (~150 MB).
MAX_BYTES = 16 * 1024 * 1024


@dataclasses.dataclass(frozen=True)
class CacheStats:
    """What the cache holds and has done: kept plots and their bytes; hits, renders, the
    requests that waited for another thread's render, and renders whose arguments had no key."""

    entries: int
    bytes: int
    hits: int
    renders: int
    joined: int
    uncacheable: int


def utf8_bytes(svg: str) -> int:
    return len(svg.encode("utf-8"))


class PlotCache(Generic[V]):
    """Values (SVG text by default) by content key: LRU within ``max_bytes`` as ``weigh`` counts
    them (the UTF-8 bytes of the text by default), thread-safe, single-flight."""

    def __init__(self, max_bytes: int = MAX_BYTES, weigh: Callable[[V], int] = utf8_bytes) -> None:  # type: ignore[assignment]
        self.max_bytes = max_bytes
        self.weigh = weigh
        self._lock = threading.Lock()
        self._entries: OrderedDict[bytes, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._flights: dict[bytes, Future[V]] = {}
        self._counts = {"hits": 0, "renders": 0, "joined": 0, "uncacheable": 0}

    def get(self, draw: Callable[..., V], *args: Any, **kwargs: Any) -> V:
        """``draw(*args, **kwargs)``, rendered once per distinct content while it stays cached.

        An exception of ``draw`` reaches every thread that waited for that render; nothing is kept.
        """
        try:
            key = content_key(draw, args, kwargs)
        except TypeError:  # an argument of a kind the key does not know: rendered, not kept
            with self._lock:
                self._counts["uncacheable"] += 1
            return draw(*args, **kwargs)
        with self._lock:
            kept = self._entries.get(key)
            if kept is not None:
                self._entries.move_to_end(key)
                self._counts["hits"] += 1
                return kept[0]
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = Future()
            else:
                self._counts["joined"] += 1
        if not leader:
            return flight.result()
        return self._render(key, flight, draw, args, kwargs)

    #: a plot's SVG: :meth:`get`
    svg = get

    def _render(self, key: bytes, flight: Future[V], draw: Callable[..., V], args: tuple, kwargs: dict[str, Any]) -> V:
        try:
            svg = draw(*args, **kwargs)
        except BaseException as exc:
            with self._lock:
                del self._flights[key]
            flight.set_exception(exc)
            raise
        with self._lock:
            self._counts["renders"] += 1
            self._keep(key, svg)
            del self._flights[key]
        flight.set_result(svg)
        return svg

    def _keep(self, key: bytes, svg: V) -> None:
        """Keeps ``svg`` (the lock held), dropping the least recently used beyond the bound."""
        size = self.weigh(svg)
        if size > self.max_bytes:
            return
        self._entries[key] = (svg, size)
        self._bytes += size
        while self._bytes > self.max_bytes:
            _, (_, dropped) = self._entries.popitem(last=False)
            self._bytes -= dropped

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(len(self._entries), self._bytes, **self._counts)

    def clear(self) -> None:
        """Forgets every kept plot (the counts stay)."""
        with self._lock:
            self._entries.clear()
            self._bytes = 0


def content_key(draw: Callable[..., Any], args: tuple, kwargs: dict[str, Any]) -> bytes:
    """A SHA-256 of the function's name and of every argument's value (``TypeError`` for a value
    of a kind it cannot write exactly, or a callable without a qualified name).

    A function is named by its module and qualified name, so it must be the only one of that
    name (the plots are module-level functions of :mod:`itb.web.plots`).
    """
    name = getattr(draw, "__qualname__", None)
    if name is None:
        raise TypeError(f"no content key for a {type(draw).__qualname__} without a qualified name")
    out: list[str] = [f"{draw.__module__}.{name}"]
    _encode(args, out)
    _encode(dict(sorted(kwargs.items())), out)  # keywords: their order does not change the call
    return hashlib.sha256("\x1f".join(out).encode("utf-8", "surrogatepass")).digest()


_SCALARS = (str, int, bool, type(None), datetime, date, time, timedelta)


def _encode(value: Any, out: list[str]) -> None:
    """Appends tokens that tell ``value`` apart from any other value (its type included)."""
    kind = type(value)
    if isinstance(value, float):
        out.append(f"float:{value.hex()}")
    elif isinstance(value, enum.Enum):
        out.append(f"enum:{kind.__module__}.{kind.__qualname__}")
        _encode(value.value, out)
    elif isinstance(value, _SCALARS):
        out.append(f"{kind.__name__}:{value!r}")  # a datetime's repr includes its time zone
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        out.append(f"dataclass:{kind.__module__}.{kind.__qualname__}:{len(fields)}")
        for f in fields:
            out.append(f.name)
            _encode(getattr(value, f.name), out)
    elif isinstance(value, list | tuple):
        out.append(f"{kind.__name__}:{len(value)}")
        for item in value:
            _encode(item, out)
    elif isinstance(value, dict):
        out.append(f"dict:{len(value)}")
        for k, v in value.items():  # in order: a plot may draw its items in the order given
            _encode(k, out)
            _encode(v, out)
    else:
        raise TypeError(f"no content key for a {kind.__qualname__}")


#: The one cache of the web service's plots.
PLOTS: PlotCache[str] = PlotCache()

#: The nominal size of a derived value (a learned flow with its forecast is a few hundred bytes).
DERIVED_WEIGHT = 1024
#: The chart's other derived values, by content: 4 MiB at the nominal size, some 4,000 values.
DERIVED: PlotCache[Any] = PlotCache(4 * 1024 * 1024, weigh=lambda _value: DERIVED_WEIGHT)


__all__ = ["DERIVED", "DERIVED_WEIGHT", "MAX_BYTES", "PLOTS", "CacheStats", "PlotCache", "content_key", "utf8_bytes"]
