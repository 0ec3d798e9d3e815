"""Counter-based random numbers: the value for (seed, stream, counter) is a pure function.

Each simulated device draws its per-second noise, its artefact and sensor-off episodes and its
dose-time jitter from a hash of ``(seed, stream, counter)`` instead of advancing a stateful
generator. The output therefore does not depend on how devices are grouped (one monitor alone or
1,000 in a :class:`~medtwin.devices.ward.Ward` give identical readings), on how often the caller
steps, or on the order of calls, and any instant can be recomputed for the ground truth.
Stateful draws made once per patient (the profile) still use :class:`numpy.random.Generator`.

Sources: the counter-based design follows Salmon, Moraes, Dror, Shaw, "Parallel random numbers:
as easy as 1, 2, 3", SC'11 (doi:10.1145/2063384.2063405); the mixing function is the SplitMix64
finaliser (Steele, Lea, Flood, "Fast splittable pseudorandom number generators", OOPSLA 2014),
applied twice. Normals use the Box-Muller transform (Box & Muller, Ann. Math. Stat. 1958).
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

U64 = np.uint64
_M1 = 0xBF58476D1CE4E5B9
_M2 = 0x94D049BB133111EB
_GOLDEN = 0x9E3779B97F4A7C15
_STREAM_MUL = 0xD1B54A32D192ED03
_MASK = (1 << 64) - 1
_MAX_DRAWS = 64  # draws per (stream, counter); n must not exceed it


def mix64(z: NDArray[np.uint64]) -> NDArray[np.uint64]:
    """SplitMix64 finaliser on an array (wrapping uint64 arithmetic, no warnings on arrays)."""
    x: NDArray[Any] = np.asarray(z, dtype=U64)
    x = (x ^ (x >> 30)) * _M1
    x = (x ^ (x >> 27)) * _M2
    return np.asarray(x ^ (x >> 31), dtype=U64)


def seed_key(seed: int) -> int:
    """A 64-bit key for an integer seed (any Python int, negative allowed)."""
    z = np.array([(seed * _GOLDEN) & _MASK], dtype=U64)
    return int(mix64(mix64(z))[0])


def stream_id(name: str) -> int:
    """A stable stream number for a name (crc32, not Python's salted ``hash``)."""
    return zlib.crc32(name.encode())


def _as_counter(counter: ArrayLike) -> NDArray[np.uint64]:
    c = np.asarray(counter)
    if c.dtype.kind == "f":
        c = np.floor(c).astype(np.int64)
    return c.astype(np.int64).view(U64) if c.dtype != U64 else c


def uniforms(keys: ArrayLike, counter: ArrayLike, stream: int, n: int) -> NDArray[np.float64]:
    """``(len(keys), n)`` uniforms in (0, 1) for ``(key, stream, counter)``; counter broadcasts to keys."""
    if not 0 < n <= _MAX_DRAWS:
        raise ValueError(f"n must be 1..{_MAX_DRAWS}")
    k = np.atleast_1d(np.asarray(keys, dtype=U64))
    base = mix64(k ^ U64((stream * _STREAM_MUL) & _MASK))
    ctr = np.broadcast_to(_as_counter(counter), k.shape)
    inner = mix64(ctr[:, None] * U64(_MAX_DRAWS) + np.arange(n, dtype=U64)[None, :] + U64(_GOLDEN))
    z = mix64(base[:, None] ^ inner)
    return ((z >> 11).astype(np.float64) + 0.5) * (1.0 / 9007199254740992.0)


def normals(keys: ArrayLike, counter: ArrayLike, stream: int, n: int) -> NDArray[np.float64]:
    """``(len(keys), n)`` standard normals (Box-Muller on pairs of :func:`uniforms`)."""
    u = uniforms(keys, counter, stream, 2 * n)
    r = np.sqrt(-2.0 * np.log(u[:, :n]))
    return r * np.cos(2.0 * np.pi * u[:, n:])
