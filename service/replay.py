"""The replay cache: a study sent again under the same request id is answered, not computed twice."""

import time


class RecentResults:
    """The answers of recently completed Analyze studies, by request id, for a study sent again.

    A client re-sends a study when its connection failed before ``completed`` arrived (the replica may
    have finished it). The same request id with the same header (encodings, sizes, tasks, profile,
    clinical values, label) within ``ttl_s`` gets the stored events again instead of a second computation:
    one result per request id, whatever the retries. Bounded: at most ``size`` studies (a few kB each).
    """

    def __init__(self, size=1024, ttl_s=600.0):
        self.size = size
        self.ttl_s = ttl_s
        self._items = {}  # request id -> (expiry, request, events); insertion order = age

    def put(self, request, events):
        """Keep the events of a completed study."""
        self._items.pop(request.request_id, None)
        self._items[request.request_id] = (time.monotonic() + self.ttl_s, request, tuple(events))
        while len(self._items) > self.size:
            del self._items[next(iter(self._items))]

    def get(self, request):
        """The stored events of this same study, or None."""
        item = self._items.get(request.request_id)
        if item is None:
            return None
        expiry, stored, events = item
        if expiry < time.monotonic():
            del self._items[request.request_id]
            return None
        return events if stored == request else None
