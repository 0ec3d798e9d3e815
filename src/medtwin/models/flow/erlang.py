"""Analytic M/M/c queue (Erlang C) and Little's law.

Sources:

* A. K. Erlang, "Solution of some problems in the theory of probabilities of significance in
  automatic telephone exchanges", Elektroteknikeren 13 (1917); the delay formula in the form of
  D. Gross, J. F. Shortle, J. M. Thompson, C. M. Harris, *Fundamentals of Queueing Theory*,
  4th ed., Wiley 2008, §2.3 (M/M/c): with offered load a = λ/μ (Erlangs) and ρ = a/c < 1,

      C(c, a) = [aᶜ/c! · 1/(1−ρ)] / [Σ_{k=0}^{c−1} aᵏ/k! + aᶜ/c! · 1/(1−ρ)]
      Wq = C(c, a) / (cμ − λ),  W = Wq + 1/μ,  Lq = λ·Wq,  L = λ·W,
      P(Wq > t) = C(c, a)·exp(−(cμ − λ)t).

  C(c, a) is computed through the Erlang B recursion B(0)=1, B(k) = a·B(k−1)/(k + a·B(k−1)),
  C = B / (1 − ρ(1 − B)), which is numerically stable for hundreds of servers.
* J. D. C. Little, "A proof for the queuing formula L = λW", Operations Research 9(3):383-387
  (1961). On a finite horizon [0, T] the sample-path form holds exactly: the area under the
  number-in-queue curve equals the sum of the time each customer spent queueing inside [0, T]
  (S. Stidham, Operations Research 22(2):417-421, 1974). :func:`littles_law_error` checks it.
* Allen–Cunneen approximation for G/G/c: Wq ≈ Wq(M/M/c)·(Ca² + Cs²)/2 (A. O. Allen,
  *Probability, Statistics and Queueing Theory*, 2nd ed., Academic Press 1990, §6.4).

Checked in the tests against the table in docs/operations.md (e.g. M/M/3, λ=1/6 min⁻¹,
mean service 15 min: P(wait)=0.702247, Wq=21.067416 min).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MMcResult:
    """Steady-state M/M/c measures. Times in the unit of the rates' reciprocal."""

    servers: int
    offered_load: float  # a = λ/μ, Erlangs
    utilisation: float  # ρ = a/c
    p_wait: float  # C(c, a): probability an arrival waits
    wq: float  # mean wait in queue (inf when ρ >= 1)
    w: float  # mean time in system
    lq: float  # mean number waiting
    l: float  # noqa: E741 - mean number in system (Little's L)

    @property
    def stable(self) -> bool:
        return self.utilisation < 1.0


def erlang_b(c: int, a: float) -> float:
    """Erlang B blocking probability B(c, a) by the stable recursion."""
    if c < 0 or a < 0:
        raise ValueError("servers and offered load must be >= 0")
    b = 1.0
    for k in range(1, c + 1):
        b = a * b / (k + a * b)
    return b


def erlang_c(c: int, a: float) -> float:
    """Erlang C: probability that an arrival has to wait in an M/M/c queue (1.0 when ρ >= 1)."""
    if c < 1:
        raise ValueError("servers must be >= 1")
    rho = a / c
    if rho >= 1.0:
        return 1.0
    b = erlang_b(c, a)
    return b / (1.0 - rho * (1.0 - b))


def mmc(arrival_rate: float, service_rate: float, servers: int) -> MMcResult:
    """M/M/c measures for arrival rate λ, service rate μ per server, c servers."""
    if arrival_rate < 0 or service_rate <= 0:
        raise ValueError("arrival rate must be >= 0 and service rate > 0")
    if servers < 1:
        raise ValueError("servers must be >= 1")
    a = arrival_rate / service_rate
    rho = a / servers
    if rho >= 1.0:
        inf = math.inf
        return MMcResult(servers, a, rho, 1.0, inf, inf, inf, inf)
    pw = erlang_c(servers, a)
    wq = pw / (servers * service_rate - arrival_rate)
    w = wq + 1.0 / service_rate
    return MMcResult(servers, a, rho, pw, wq, w, arrival_rate * wq, arrival_rate * w)


def p_wait_longer(arrival_rate: float, service_rate: float, servers: int, t: float) -> float:
    """P(Wq > t) for M/M/c (FIFO)."""
    r = mmc(arrival_rate, service_rate, servers)
    if not r.stable:
        return 1.0
    return r.p_wait * math.exp(-(servers * service_rate - arrival_rate) * t)


def allen_cunneen_wq(arrival_rate: float, service_rate: float, servers: int, ca2: float, cs2: float) -> float:
    """G/G/c mean wait approximation from the M/M/c wait and squared coefficients of variation."""
    return mmc(arrival_rate, service_rate, servers).wq * (ca2 + cs2) / 2.0


def littles_law_error(area: float, total_time_in_queue: float) -> float:
    """Relative gap between L·T (area under the queue-length curve) and λ·W·T (sum of waits).

    Both sides are accumulated on the same horizon; a correct engine gives ~1e-12. Returns 0
    when nobody queued.
    """
    scale = max(abs(area), abs(total_time_in_queue))
    return 0.0 if scale == 0 else abs(area - total_time_in_queue) / scale
