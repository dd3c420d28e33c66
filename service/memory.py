"""Process memory of a server: glibc allocator settings, giving freed memory back, and what RSS is now."""

import ctypes
import os

#: Allocations from this size up get their own mmap (returned to the kernel when freed).
MMAP_THRESHOLD_BYTES = 256 << 10
#: Free memory at the top of a heap beyond which glibc gives it back.
TRIM_THRESHOLD_BYTES = 16 << 20
#: malloc arenas of the process (glibc's default is 8 per core: each worker, gRPC and TBB thread may get
#: its own heap, and each keeps what its studies freed).
ARENA_MAX = 4

_libc = None


def _glibc():
    global _libc
    if _libc is None:
        try:
            _libc = ctypes.CDLL("libc.so.6")
            _libc.malloc_trim  # noqa: B018 - glibc has it; musl and others do not
        except (OSError, AttributeError):
            _libc = False
    return _libc


def tune_allocator():
    """Keep the process's memory bounded by the studies it holds now, not by the peak of its history.

    Measured on a soak (issue 15): with glibc's defaults plus a 32 MiB mmap threshold and a 512 MiB trim
    threshold, RSS grew from 704 MB to 1,325 MB in 23 minutes with at most 6 x 12.6 MB admitted: every
    study's large buffers (decoded volumes, crops, matrices) came from the heaps, freed memory stayed
    there, fragmented between longer-lived objects, and each thread's arena kept its own. Now large
    allocations are mmapped (returned when freed; a page fault per 4 KiB page costs ~0.1 ms per MB), the
    heaps are trimmed at 16 MiB free, there are at most :data:`ARENA_MAX` arenas, and :func:`release_memory`
    trims every arena when the server goes idle. Returns whether glibc took the settings.
    """
    libc = _glibc()
    if not libc:
        return False
    m_trim_threshold, m_mmap_threshold, m_arena_max = -1, -3, -8
    return all(
        libc.mallopt(option, value) == 1
        for option, value in (
            (m_mmap_threshold, MMAP_THRESHOLD_BYTES),  # a fixed value also stops glibc raising it
            (m_trim_threshold, TRIM_THRESHOLD_BYTES),
            (m_arena_max, ARENA_MAX),
        )
    )


def release_memory():
    """Give the free memory of every malloc arena back to the kernel (glibc's ``malloc_trim``)."""
    libc = _glibc()
    return bool(libc) and bool(libc.malloc_trim(0))


def resident_bytes(pid=None):
    """Resident set size of a process (this one by default), from ``/proc``; None where there is none."""
    try:
        with open(f"/proc/{pid or os.getpid()}/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None
