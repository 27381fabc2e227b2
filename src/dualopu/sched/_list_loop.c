/* The list scheduler's event loop (`dualopu.sched.heuristic.run_list`) in C, for one or two
 * cores. It is the Python loop statement by statement: the same double operations in the same
 * order (compiled without FMA contraction or fast-math), the same heap order (positions are
 * distinct, so any min-heap pops the same sequence), the same fair-share rule as
 * `dualopu.sched.fluid.fair_speeds` for one or two demands. `tests/test_sched_native.py`
 * checks it bitwise against the Python loop. Loaded by `dualopu.sched.native`.
 *
 * Return: 0 finished, 1 stopped at the cutoff, 2 stalled (fewer tasks done than n). */
#include <math.h>
#include <stdint.h>

typedef int64_t i64;

static void hpush(i64 *h, i64 *len, i64 v) {
    i64 i = (*len)++;
    while (i > 0) {
        i64 p = (i - 1) / 2;
        if (h[p] <= v) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = v;
}

static i64 hpop(i64 *h, i64 *len) {
    i64 top = h[0];
    i64 n = --(*len);
    if (n > 0) {
        i64 last = h[n], i = 0;
        for (;;) {
            i64 c = 2 * i + 1;
            if (c >= n) break;
            if (c + 1 < n && h[c + 1] < h[c]) c++;
            if (h[c] >= last) break;
            h[i] = h[c];
            i = c;
        }
        h[i] = last;
    }
    return top;
}

/* fair_speeds for m = 1 or 2 demands (Python's sum starts from 0: 0 + d0 + d1). */
static void fair(const double *d, int m, double bw, double *out) {
    double s = 0.0;
    for (int i = 0; i < m; i++) s += d[i];
    if (s <= bw) {
        for (int i = 0; i < m; i++) out[i] = 1.0;
        return;
    }
    if (m == 2) {
        double a = d[0], b = d[1], half = bw / 2;
        if (a <= half) {
            out[0] = 1.0;
            out[1] = (bw - a) / b;
        } else if (b <= half) {
            out[0] = (bw - b) / a;
            out[1] = 1.0;
        } else {
            out[0] = half / a;
            out[1] = half / b;
        }
        return;
    }
    out[0] = 1.0;
    double share = bw / 1;
    if (!(d[0] <= share)) out[0] = share / d[0];
}

static double pmax0(double x) { return (0.0 > x) ? 0.0 : x; } /* Python's max(x, 0.0) */

#define KMAX 2

int dualopu_run_list(
    i64 n, i64 K, double bw, int contention,
    const double *dur, const double *rate, const i64 *co, const i64 *pos, const i64 *order,
    const i64 *sp, const i64 *si, i64 *indeg,
    const double *pdf, const double *prf, const i64 *first, const i64 *nextp,
    const double *crit, const uint8_t *slack, i64 look, int hold, double cutoff,
    double *start, double *end, i64 *heapbuf, i64 *zero, int *held_out) {
    if (K < 1 || K > KMAX) return 3;
    i64 hl[KMAX] = {0, 0}, zl = 0;
    i64 *H[KMAX];
    for (i64 k = 0; k < K; k++) H[k] = heapbuf + k * n;
    i64 run[KMAX], seg[KMAX];
    double since[KMAX], left[KMAX], spd[KMAX], endp[KMAX], cur[KMAX];
    for (i64 k = 0; k < K; k++) {
        run[k] = -1; seg[k] = 0; since[k] = 0.0; left[k] = 0.0; spd[k] = 1.0;
        endp[k] = INFINITY; cur[k] = 0.0;
    }
    for (i64 t = 0; t < n; t++) {
        start[t] = 0.0; end[t] = 0.0;
        if (indeg[t] == 0) {
            if (dur[t] > 0) hpush(H[co[t]], &hl[co[t]], pos[t]);
            else zero[zl++] = t;
        }
    }
    double now = 0.0;
    i64 done = 0;
    int slowed = 0, held = 0;
    i64 kept[64];
    if (look > 64) look = 64;
    if (look < 1) look = 1;

#define RELEASE(T)                                                      \
    for (i64 j_ = sp[T]; j_ < sp[(T) + 1]; j_++) {                      \
        i64 s_ = si[j_];                                                \
        if (--indeg[s_] == 0) {                                         \
            if (dur[s_] > 0) hpush(H[co[s_]], &hl[co[s_]], pos[s_]);    \
            else zero[zl++] = s_;                                       \
        }                                                               \
    }

    for (;;) {
        while (zl > 0) {
            i64 t = zero[--zl];
            start[t] = end[t] = now;
            done++;
            RELEASE(t);
        }
        for (i64 k = 0; k < K; k++) {
            if (run[k] >= 0 || hl[k] == 0) continue;
            i64 *h = H[k];
            i64 t;
            if (contention) {
                t = order[h[0]];
                double other = 0.0;
                for (i64 j = 0; j < K; j++)
                    if (run[j] >= 0) other += rate[run[j]];
                if (other == 0.0 || rate[t] + other <= bw) {
                    hpop(h, &hl[k]);
                } else { /* pick_slow */
                    i64 nk = 0, choice = -1;
                    while (hl[k] > 0 && nk < look) {
                        i64 p = hpop(h, &hl[k]);
                        i64 u = order[p];
                        if (rate[u] + other <= bw) { choice = u; break; }
                        kept[nk++] = p;
                    }
                    i64 from = 0;
                    if (choice < 0) {
                        i64 u = order[kept[0]];
                        int harm = 0;
                        if (hold && slack[k]) {
                            double dem[KMAX], nw[KMAX];
                            i64 act[KMAX];
                            int m = 0;
                            for (i64 j = 0; j < K; j++)
                                if (run[j] >= 0) { act[m] = j; dem[m] = rate[run[j]]; m++; }
                            dem[m] = rate[u];
                            fair(dem, m + 1, bw, nw);
                            for (int i = 0; i < m; i++)
                                if (nw[i] < spd[act[i]] - 1e-12 && crit[act[i]] > crit[k]) { harm = 1; break; }
                        }
                        if (harm) {
                            held = 1;
                            for (i64 i = 0; i < nk; i++) hpush(h, &hl[k], kept[i]);
                            continue;
                        }
                        choice = u;
                        from = 1;
                    }
                    for (i64 i = from; i < nk; i++) hpush(h, &hl[k], kept[i]);
                    t = choice;
                }
                i64 f = first[t];
                run[k] = t;
                start[t] = since[k] = now;
                spd[k] = 1.0;
                seg[k] = f; left[k] = pdf[f]; cur[k] = prf[f];
                endp[k] = now + pdf[f];
            } else {
                t = order[hpop(h, &hl[k])];
                run[k] = t;
                start[t] = since[k] = now;
                spd[k] = 1.0;
                left[k] = dur[t];
                endp[k] = now + dur[t];
            }
        }
        if (contention) {
            double tot = 0.0;
            for (i64 k = 0; k < K; k++)
                if (run[k] >= 0) tot += cur[k];
            if (tot <= bw) {
                if (slowed) {
                    for (i64 k = 0; k < K; k++)
                        if (run[k] >= 0 && spd[k] != 1.0) {
                            left[k] -= (now - since[k]) * spd[k];
                            since[k] = now; spd[k] = 1.0;
                            endp[k] = now + pmax0(left[k]);
                        }
                    slowed = 0;
                }
            } else {
                i64 act[KMAX];
                double dem[KMAX], s[KMAX];
                int m = 0;
                for (i64 k = 0; k < K; k++)
                    if (K == 2 || run[k] >= 0) { act[m] = k; dem[m] = cur[k]; m++; }
                fair(dem, m, bw, s);
                for (int i = 0; i < m; i++) {
                    i64 k = act[i];
                    if (s[i] != spd[k]) {
                        left[k] -= (now - since[k]) * spd[k];
                        since[k] = now; spd[k] = s[i];
                        endp[k] = now + pmax0(left[k]) / s[i];
                    }
                }
                slowed = 1;
            }
        }
        double nxt = endp[0];
        for (i64 k = 1; k < K; k++)
            if (endp[k] < nxt) nxt = endp[k];
        if (nxt == INFINITY) break;
        now = nxt;
        if (now >= cutoff) { *held_out = held; return 1; }
        for (i64 k = 0; k < K; k++) {
            if (endp[k] != now) continue;
            i64 t = run[k];
            if (contention) {
                i64 f = nextp[seg[k]];
                if (f >= 0) {
                    seg[k] = f; left[k] = pdf[f]; cur[k] = prf[f]; since[k] = now; spd[k] = 1.0;
                    endp[k] = now + pdf[f];
                    continue;
                }
            }
            end[t] = now;
            run[k] = -1; endp[k] = INFINITY;
            done++;
            RELEASE(t);
        }
    }
    *held_out = held;
    return done < n ? 2 : 0;
}
