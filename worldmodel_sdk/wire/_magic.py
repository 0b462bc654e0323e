"""The eight bytes that open every envelope, importable without torch.

Segment listing and garbage collection recognise envelopes by these bytes alone,
so ``wmsdk shm list`` and ``wmsdk shm gc`` start without loading torch.
"""

__all__ = ["MAGIC"]

MAGIC = b"\x89WMS\r\n\x1a\n"
"""Eight bytes opening every envelope (high bit, CR LF, Ctrl-Z, LF catch text-mode damage)."""
