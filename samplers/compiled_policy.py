"""Compiled sweeps of a frozen move policy (:class:`samplers.pgmc.MovePolicy`) for pair targets in a periodic box.

Why: the torch kernels of :mod:`samplers.pgmc` spend ~1 ms per attempted move on small tensor operations and on a
fresh evaluation of all local energies; here an attempt is the work of a compiled Metropolis attempt
(:mod:`samplers.compiled`, whose cells, pair loop and generator are reused) plus a few exponentials. The chain is the
one of :class:`samplers.pgmc.PolicyDisplacements` and :class:`samplers.pgmc.PolicySwaps` in law (same proposals, same
Metropolis-Hastings ratios), not bit for bit.

Local energies e_i = sum_j u(r_ij) (the full pair sum, what ``target.local_energies`` gives for a pair target) are
kept per chain and updated move by move: :func:`samplers.compiled._sum` records every non-zero pair-energy change an
attempt computes with the other particle's index, and an accepted move adds those changes to the neighbours (dU to
the moved particle, du_i and du_j to swapped ones). A fresh evaluation costs about half a sweep, so
:class:`PolicyPairSweeps` takes the local energies from its caller, which keeps them between calls
(:class:`samplers.kernels.PolicySweeps`).

Biased swap choices p(i) ~ exp(c_s e_i) keep per-chain weights w_i = exp(c_s e_i - m_s) in the order of the species
lists (m_s a shift per species that keeps them in range; it is reset when a normalisation leaves [1e-250, 1e250]).
Each biased swap sums the weights of both species before the exchange (for the draw, a linear scan) and, if needed,
after it (with the swapped state's weights written in tentatively, restored if rejected): O(N_a + N_b) additions,
exact sums rather than running ones, so no cancellation. A ratio that overflows anyway (an energy jump of > 700 / c)
is rejected.

Early rejection: the sums after the exchange need a new weight, one exponential, for every neighbour of i and j of
species a or c, which cost a biased swap 0.6-0.8 us more than an unbiased one (KA2D, N = 44 or 1290). Most swaps are
rejected by far, and a lower bound of the new sums needs no exponential (exp(x) >= 1 + x for the neighbours' new
weights; :func:`_swap_upper_bound`). The uniform number of the test is drawn first and a swap whose ratio is below
it even with this bound is rejected at once; the others get the exact ratio (measured: barely more swaps than are
accepted, 1.04x at N = 44 and 1.01x at N = 1290). The test is the Metropolis-Hastings test of the exact ratio, only decided earlier.
"""

from __future__ import annotations

import math

import numba
import numpy as np

from samplers.compiled import (
    PairSweeps,
    _build,
    _cell_of,
    _exchange,
    _local_energies,
    _move_change,
    _relocate,
    _species_lists,
    _sum,
    _swap_change,
    _uniform,
    _usable,
    _wrapped,
)
from samplers.target import SamplerInputError

#: Rows of the (3, T) policy table: log scale a_s, energy slope b_s, swap bias c_s.
LOG_SCALE, SLOPE, BIAS = range(3)

#: Range of a species' weight sum outside which its weights are re-shifted.
_LOW, _HIGH = 1e-250, 1e250

#: The early rejection of a biased swap trusts its bound of a weight sum only down to this fraction of the sum before
#: the swap (below it the bound is a difference of nearly equal numbers, and its round-off could exceed the margin),
#: and adds this margin to the bound of the log ratio (far above its round-off, ~1e-11 at that fraction).
_BOUND_FRACTION, _BOUND_MARGIN = 1e-3, 1e-9

_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)

#: Twice the exponent below which exp underflows to 0 in float64 (exp(-746) == 0).
_UNDERFLOW = 2.0 * 746.0


class PolicyPairSweeps(PairSweeps):
    """Compiled policy-guided sweeps of one pair table in one periodic box (the geometry and input checks of
    :class:`samplers.compiled.PairSweeps`); the chains' state and the policy are passed to every call.

    The policy is a (3, T) float64 table (rows :data:`LOG_SCALE`, :data:`SLOPE`, :data:`BIAS`; zeros where the policy
    has no slope or bias) and ``log_max``, the log of the cap of the displacement scale (at most a quarter of the
    smallest edge, where the wrapped Gaussian's three images are exact).
    """

    def local_energies(self, x: np.ndarray, types: np.ndarray) -> np.ndarray:
        """Local energies (B, N): each particle's pair energies with all others, in full."""
        return _local_energies(self._positions(x), self._species(types), self._geometry(), self.table)

    def _policy(self, policy, log_max):
        policy = np.ascontiguousarray(policy, dtype=np.float64)
        if policy.shape != (3, self.table.shape[0]) or not np.isfinite(policy).all():
            raise SamplerInputError(f"the policy table must be finite, of shape (3, {self.table.shape[0]}); got "
                             f"{policy.shape}.")
        if not float(log_max) <= math.log(float(self.box.min()) / 4) + 1e-12:
            raise SamplerInputError(f"the scale cap exp(log_max) = {math.exp(log_max):.4g} exceeds a quarter of the "
                             f"smallest box edge ({float(self.box.min()) / 4:.4g}).")
        return policy, float(log_max)

    def sweep(self, x, types, energy, local, policy, log_max: float, beta: float, p_swap: float, pairs,
              n_attempts: int, seed: int, move_counts, swap_counts) -> None:
        """``n_attempts`` policy-guided attempts per chain, in place: positions x (B, N, d) in [0, L), species
        (B, N), running energies (B,) and local energies (B, N) (kept up to date); ``pairs`` (P, 2) the swap pairs;
        ``move_counts`` (2, T) and ``swap_counts`` (2, P) tried and accepted counts, incremented."""
        policy, log_max = self._policy(policy, log_max)
        pairs = np.asarray(pairs, dtype=np.int64).reshape(-1, 2)
        sloped, biased = bool(policy[SLOPE].any()), bool(p_swap > 0 and policy[BIAS].any())
        _policy_sweep(self._positions(x), self._species(types), energy, local, self._geometry(), self.table, policy,
                      log_max, sloped, biased, float(beta), float(p_swap), pairs, int(n_attempts), np.uint64(seed),
                      move_counts, swap_counts)

    def move_log_ratio(self, x, types, chain: int, i: int, displacement, policy, log_max: float,
                       beta: float) -> tuple[float, float]:
        """dU and the log Metropolis-Hastings ratio of displacing particle i of one chain by ``displacement`` (d,),
        from fresh local energies: the sweeps' own computation, exposed to check it against the torch kernels."""
        policy, log_max = self._policy(policy, log_max)
        x, types = self._positions(x), self._species(types)
        local = self.local_energies(x[chain: chain + 1], types[chain: chain + 1])[0]
        return _one_move(x[chain], types[chain], local, int(i), np.asarray(displacement, np.float64),
                         self._geometry(), self.table, policy, log_max, float(beta))

    def swap_log_ratio(self, x, types, chain: int, i: int, j: int, policy,
                       beta: float) -> tuple[float, float, float]:
        """dU, the log Metropolis-Hastings ratio of exchanging the species of particles i and j of one chain with
        the policy's biased choice, and the upper bound of it that the sweeps test first (:func:`_swap_upper_bound`),
        from fresh local energies (as :meth:`move_log_ratio`)."""
        policy, _ = self._policy(policy, math.log(float(self.box.min()) / 4))
        x, types = self._positions(x), self._species(types)
        local = self.local_energies(x[chain: chain + 1], types[chain: chain + 1])[0]
        return _one_swap(x[chain], types[chain], local, int(i), int(j), self._geometry(), self.table, policy,
                         float(beta))


# -- proposal densities ---------------------------------------------------------------------------------------------
@numba.njit(cache=True)
def _gaussians(state, out):
    """Fill ``out`` with standard normal numbers: Marsaglia's polar method, both numbers of a pair used (one log
    and one square root per pair; Box-Muller's sine and cosine cost more)."""
    for k in range(0, out.shape[0], 2):
        r2 = 0.0
        while r2 >= 1.0 or r2 == 0.0:
            u, v = 2.0 * _uniform(state) - 1.0, 2.0 * _uniform(state) - 1.0
            r2 = u * u + v * v
        factor = math.sqrt(-2.0 * math.log(r2) / r2)
        out[k] = u * factor
        if k + 1 < out.shape[0]:
            out[k + 1] = v * factor


#: Floor of log sigma, shared with ``MovePolicy.log_sigma``: an energy-dependent scale must not underflow to 0,
#: where the proposal density (and, in training, the policy gradient) became NaN after an overlapping trial move.
LOG_MIN_SCALE = math.log(1e-3)


@numba.njit(cache=True)
def _log_sigma(policy, s, e, log_max, sloped):
    """log sigma = a_s + b_s e of a particle of species s with local energy e, within [LOG_MIN_SCALE, log_max]."""
    value = policy[LOG_SCALE, s] + policy[SLOPE, s] * e if sloped else policy[LOG_SCALE, s]
    return max(min(value, log_max), LOG_MIN_SCALE)


@numba.njit(cache=True, error_model="numpy")
def _log_wrapped_gaussian(d, log_sigma, box):
    """log q of displacement d (d,) under the isotropic Gaussian of scale exp(log_sigma) wrapped into the box:
    images -1, 0, +1 of the minimum-image displacement per component, as ``MovePolicy.log_displacement_density``
    (NaN, as there, for a scale that underflows to 0: the move is then rejected)."""
    sigma = math.exp(log_sigma)
    total = 0.0
    for k in range(d.shape[0]):
        shifted = d[k] + 0.5 * box[k]
        m = shifted - box[k] * math.floor(shifted / box[k]) - 0.5 * box[k]
        nearest = -0.5 * (m / sigma) ** 2
        total += nearest
        # The nearer image lies (L^2 - 2 L |m|) / (2 sigma^2) below the minimum image in the exponent; past
        # _UNDERFLOW both image terms are exactly 0 in float64, so skipping them changes nothing.
        if box[k] * (box[k] - 2.0 * abs(m)) < _UNDERFLOW * sigma * sigma:
            total += math.log1p(math.exp(-0.5 * ((m - box[k]) / sigma) ** 2 - nearest)
                                + math.exp(-0.5 * ((m + box[k]) / sigma) ** 2 - nearest))
    return total - d.shape[0] * (log_sigma + _HALF_LOG_2PI)


@numba.njit(cache=True, error_model="numpy")
def _move_log_ratio(du, e, s, displacement, policy, log_max, sloped, beta, box):
    """log of the Metropolis-Hastings ratio of a displacement with energy change du of a particle of species s
    and local energy e: the backward scale uses its local energy at the new place, e + du."""
    if not math.isfinite(du):
        return -math.inf
    if not sloped:
        return -beta * du
    forward = _log_sigma(policy, s, e, log_max, True)
    backward = _log_sigma(policy, s, e + du, log_max, True)
    return (-beta * du + _log_wrapped_gaussian(displacement, backward, box)
            - _log_wrapped_gaussian(displacement, forward, box))


@numba.njit(cache=True)
def _accepted(state, log_ratio):
    """Metropolis-Hastings test; a NaN ratio is rejected."""
    return log_ratio >= 0.0 or _uniform(state) < math.exp(log_ratio)


# -- local energies and swap weights --------------------------------------------------------------------------------
@numba.njit(cache=True)
def _add_recorded(e, record):
    """Add the recorded changes to the local energies."""
    index, value, size = record
    for r in range(size[0]):
        e[index[r]] += value[r]


@numba.njit(cache=True)
def _weight(policy, s, e, shift):
    return math.exp(policy[BIAS, s] * e - shift[s])


@numba.njit(cache=True)
def _reweigh(weights, shift, e, tb, place, policy, record):
    """Weights of the recorded particles at their current local energies."""
    index, _, size = record
    for r in range(size[0]):
        k = index[r]
        weights[tb[k], place[k]] = _weight(policy, tb[k], e[k], shift)


@numba.njit(cache=True)
def _rebase(weights, shift, e, by_species, n_of, policy, s):
    """Shift species s's weights so that the largest is 1."""
    top = -math.inf
    for p in range(n_of[s]):
        top = max(top, policy[BIAS, s] * e[by_species[s, p]])
    shift[s] = top
    for p in range(n_of[s]):
        weights[s, p] = _weight(policy, s, e[by_species[s, p]], shift)


@numba.njit(cache=True, fastmath={"reassoc", "nsz"})
def _total(row, n):
    """Sum of row[:n] (reassociated, so vectorised)."""
    total = 0.0
    for p in range(n):
        total += row[p]
    return total


@numba.njit(cache=True)
def _normalisation(weights, shift, e, by_species, n_of, policy, s):
    """Sum of species s's weights, re-shifted first if it left the safe range."""
    z = _total(weights[s], n_of[s])
    if not _LOW < z < _HIGH:
        _rebase(weights, shift, e, by_species, n_of, policy, s)
        z = _total(weights[s], n_of[s])
    return z


@numba.njit(cache=True)
def _draw(row, n, target):
    """Index p < n at which the running sum of row first exceeds ``target`` (the last positive weight if round-off
    leaves it short). Blocks of 16 are summed first (vectorised), 3x faster than a scan of single weights."""
    acc = 0.0
    start = 0
    while start + 16 <= n:
        block = _total(row[start:], 16)
        if acc + block > target:
            break
        acc += block
        start += 16
    last = start
    for p in range(start, n):
        if row[p] > 0.0:
            acc += row[p]
            last = p
            if acc > target:
                return p
    while last > 0 and row[last] == 0.0:  # round-off left the target beyond the sum: the last positive weight
        last -= 1
    return last


@numba.njit(cache=True)
def _swap_log_ratio(e, weights, shift, tb, place, n_of, pending, saved, i, j, du_i, du_j, za, zc, policy, biased,
                    beta, record):
    """log Metropolis-Hastings ratio of exchanging the species a of i and c of j, whose pair energies change by
    du_i and du_j (the others' changes in ``record``); za and zc are the weight sums of a and c.

    With a biased choice the weights of species a and c in the swapped state are written in tentatively (j's in
    i's place of list a, i's in j's place of list c, the neighbours' at their new local energies e + pending; the
    old ones in ``saved``): :func:`_swap_commit` completes them, :func:`_swap_undo` restores them."""
    du = du_i + du_j
    if not math.isfinite(du):
        return -math.inf
    if not biased:
        return -beta * du
    a, c = tb[i], tb[j]
    index, value, size = record
    for r in range(size[0]):
        pending[index[r]] += value[r]
    for r in range(size[0]):
        k = index[r]
        if tb[k] == a or tb[k] == c:
            saved[r] = weights[tb[k], place[k]]
            weights[tb[k], place[k]] = _weight(policy, tb[k], e[k] + pending[k], shift)
    saved[size[0]], saved[size[0] + 1] = weights[a, place[i]], weights[c, place[j]]
    weights[a, place[i]] = _weight(policy, a, e[j] + du_j, shift)
    weights[c, place[j]] = _weight(policy, c, e[i] + du_i, shift)
    forward = policy[BIAS, a] * e[i] - math.log(za) + policy[BIAS, c] * e[j] - math.log(zc)
    backward = (policy[BIAS, a] * (e[j] + du_j) - math.log(_total(weights[a], n_of[a]))
                + policy[BIAS, c] * (e[i] + du_i) - math.log(_total(weights[c], n_of[c])))
    return -beta * du + backward - forward


@numba.njit(cache=True)
def _swap_upper_bound(e, weights, shift, tb, place, i, j, du_i, du_j, za, zc, policy, beta, record):
    """An upper bound of the log ratio of :func:`_swap_log_ratio` without the neighbours' new weights: each new sum is
    bounded below through exp(x) >= 1 + x, so a neighbour k of species s whose local energy changes by d_k counts
    w_k (1 + c_s d_k) instead of w_k exp(c_s d_k). Being linear in d_k, the bound adds up over the record's terms, and
    a particle recorded twice (near i and j) needs no merging (+inf when the bound is not trustworthy)."""
    a, c = tb[i], tb[j]
    index, value, size = record
    gain_a = gain_c = 0.0
    for r in range(size[0]):
        k = index[r]
        if tb[k] == a:
            gain_a += weights[a, place[k]] * value[r]
        elif tb[k] == c:
            gain_c += weights[c, place[k]] * value[r]
    gain_a *= policy[BIAS, a]
    gain_c *= policy[BIAS, c]
    new_j, new_i = policy[BIAS, a] * (e[j] + du_j), policy[BIAS, c] * (e[i] + du_i)
    low_a = za - weights[a, place[i]] + gain_a + math.exp(new_j - shift[a])
    low_c = zc - weights[c, place[j]] + gain_c + math.exp(new_i - shift[c])
    if not (low_a > _BOUND_FRACTION * za and low_c > _BOUND_FRACTION * zc):
        return math.inf
    forward = policy[BIAS, a] * e[i] - math.log(za) + policy[BIAS, c] * e[j] - math.log(zc)
    backward = new_j - math.log(low_a) + new_i - math.log(low_c)
    return -beta * (du_i + du_j) + backward - forward + _BOUND_MARGIN


@numba.njit(cache=True)
def _swap_accepted(state, e, weights, shift, tb, place, n_of, pending, saved, i, j, du_i, du_j, za, zc, policy,
                   biased, beta, record):
    """Metropolis-Hastings test of a swap (:func:`_swap_log_ratio`); a biased one is first tested against
    :func:`_swap_upper_bound`. An accepted biased swap leaves its tentative weights written for
    :func:`_swap_commit`; a rejected one leaves the weights as they were."""
    if not math.isfinite(du_i + du_j):
        return False
    if not biased:
        return _accepted(state, -beta * (du_i + du_j))
    u = _uniform(state)
    if u >= math.exp(_swap_upper_bound(e, weights, shift, tb, place, i, j, du_i, du_j, za, zc, policy, beta,
                                       record)):
        return False
    log_ratio = _swap_log_ratio(e, weights, shift, tb, place, n_of, pending, saved, i, j, du_i, du_j, za, zc,
                                policy, biased, beta, record)
    if u < math.exp(log_ratio):
        return True
    _swap_undo(weights, tb, place, pending, saved, i, j, record)
    return False


@numba.njit(cache=True)
def _swap_commit(e, weights, shift, tb, place, pending, policy, i, j, du_i, du_j, biased, record):
    """Local energies (and the weights of the other species) of an accepted swap, before the exchange itself."""
    e[i] += du_i
    e[j] += du_j
    if not biased:
        _add_recorded(e, record)
        return
    a, c = tb[i], tb[j]
    index, _, size = record
    for r in range(size[0]):
        k = index[r]
        e[k] += pending[k]
        pending[k] = 0.0
        if tb[k] != a and tb[k] != c:
            weights[tb[k], place[k]] = _weight(policy, tb[k], e[k], shift)


@numba.njit(cache=True)
def _swap_undo(weights, tb, place, pending, saved, i, j, record):
    """Restore the weights of a rejected biased swap, newest first (a particle recorded twice gets its first saved
    value back last)."""
    a, c = tb[i], tb[j]
    index, _, size = record
    weights[a, place[i]], weights[c, place[j]] = saved[size[0]], saved[size[0] + 1]
    for r in range(size[0] - 1, -1, -1):
        k = index[r]
        pending[k] = 0.0
        if tb[k] == a or tb[k] == c:
            weights[tb[k], place[k]] = saved[r]


@numba.njit(cache=True)
def _chain_record(n):
    """An empty record (:func:`samplers.compiled._note`) for the attempts of a chain of n particles."""
    return np.empty(2 * n, np.int64), np.empty(2 * n), np.zeros(1, np.int64)


# -- sweeps ---------------------------------------------------------------------------------------------------------
@numba.njit(cache=True)
def _policy_sweep(x, types, energy, local, geometry, table, policy, log_max, sloped, biased, beta, p_swap, pairs,
                  n_attempts, seed, move_counts, swap_counts):
    n_conf, n, dim = x.shape
    n_types = table.shape[0]
    box, inv_box = geometry[0], geometry[1]
    state = np.array([seed], dtype=np.uint64)
    displacement, new = np.empty(dim), np.empty(dim)
    record = _chain_record(n)
    pending, saved = np.zeros(n), np.empty(2 * n + 2)
    weights, shift = np.ones((n_types, n)), np.zeros(n_types)
    for b in range(n_conf):
        xb, tb, e = x[b], types[b], local[b]
        members, count, cell, slot = _build(xb, geometry)
        by_species, n_of, place = _species_lists(tb, n_types)
        usable, n_usable = _usable(pairs, n_of)
        if biased:
            for s in range(n_types):
                _rebase(weights, shift, e, by_species, n_of, policy, s)
        for _ in range(n_attempts):
            record[2][0] = 0
            if p_swap > 0.0 and _uniform(state) < p_swap:
                k = usable[int(_uniform(state) * n_usable)]
                a, c = pairs[k, 0], pairs[k, 1]
                za = zc = 1.0
                if biased:
                    za = _normalisation(weights, shift, e, by_species, n_of, policy, a)
                    zc = _normalisation(weights, shift, e, by_species, n_of, policy, c)
                    i = by_species[a, _draw(weights[a], n_of[a], _uniform(state) * za)]
                    j = by_species[c, _draw(weights[c], n_of[c], _uniform(state) * zc)]
                else:
                    i = by_species[a, int(_uniform(state) * n_of[a])]
                    j = by_species[c, int(_uniform(state) * n_of[c])]
                du_i, du_j = _swap_change(xb, tb, i, j, cell, members, count, geometry, table, record)
                swap_counts[0, k] += 1
                if _swap_accepted(state, e, weights, shift, tb, place, n_of, pending, saved, i, j, du_i, du_j, za,
                                  zc, policy, biased, beta, record):
                    _swap_commit(e, weights, shift, tb, place, pending, policy, i, j, du_i, du_j, biased, record)
                    _exchange(i, j, tb, by_species, place)
                    energy[b] += du_i + du_j
                    swap_counts[1, k] += 1
            else:
                i = int(_uniform(state) * n)
                s = tb[i]
                sigma = math.exp(_log_sigma(policy, s, e[i], log_max, sloped))
                _gaussians(state, displacement)
                for d in range(dim):
                    displacement[d] *= sigma
                    new[d] = _wrapped(xb[i, d] + displacement[d], box[d], inv_box[d])
                old_cell, new_cell = cell[i], _cell_of(new, geometry)
                if new_cell == old_cell:
                    du = _sum(xb, tb, new, s, xb[i], s, old_cell, i, -1, members, count, geometry, table, record)
                else:
                    du = _sum(xb, tb, new, s, new, -1, new_cell, i, -1, members, count, geometry, table, record)
                    start = record[2][0]
                    du -= _sum(xb, tb, xb[i], s, new, -1, old_cell, i, -1, members, count, geometry, table, record)
                    for r in range(start, record[2][0]):
                        record[1][r] = -record[1][r]
                move_counts[0, s] += 1
                if _accepted(state, _move_log_ratio(du, e[i], s, displacement, policy, log_max, sloped, beta, box)):
                    xb[i] = new
                    energy[b] += du
                    e[i] += du
                    _add_recorded(e, record)
                    if biased:
                        _reweigh(weights, shift, e, tb, place, policy, record)
                        weights[s, place[i]] = _weight(policy, s, e[i], shift)
                    move_counts[1, s] += 1
                    if new_cell != old_cell:
                        members = _relocate(i, new_cell, members, count, cell, slot)


@numba.njit(cache=True)
def _one_move(xb, tb, e, i, displacement, geometry, table, policy, log_max, beta):
    """dU and log ratio of one displacement of one chain (:meth:`PolicyPairSweeps.move_log_ratio`)."""
    box, inv_box = geometry[0], geometry[1]
    members, count, cell, _ = _build(xb, geometry)
    new = np.empty(xb.shape[1])
    for d in range(xb.shape[1]):
        new[d] = _wrapped(xb[i, d] + displacement[d], box[d], inv_box[d])
    du, _, _ = _move_change(xb, tb, i, new, cell, members, count, geometry, table)
    return du, _move_log_ratio(du, e[i], tb[i], displacement, policy, log_max, True, beta, box)


@numba.njit(cache=True)
def _one_swap(xb, tb, e, i, j, geometry, table, policy, beta):
    """dU, log ratio and its upper bound of one biased swap of one chain (:meth:`PolicyPairSweeps.swap_log_ratio`)."""
    n, n_types = xb.shape[0], table.shape[0]
    members, count, cell, _ = _build(xb, geometry)
    by_species, n_of, place = _species_lists(tb, n_types)
    weights, shift = np.ones((n_types, n)), np.zeros(n_types)
    for s in range(n_types):
        _rebase(weights, shift, e, by_species, n_of, policy, s)
    record = _chain_record(n)
    du_i, du_j = _swap_change(xb, tb, i, j, cell, members, count, geometry, table, record)
    za, zc = _total(weights[tb[i]], n_of[tb[i]]), _total(weights[tb[j]], n_of[tb[j]])
    bound = _swap_upper_bound(e, weights, shift, tb, place, i, j, du_i, du_j, za, zc, policy, beta, record)
    return du_i + du_j, _swap_log_ratio(e, weights, shift, tb, place, n_of, np.zeros(n), np.empty(2 * n + 2), i, j,
                                        du_i, du_j, za, zc, policy, True, beta, record), bound
