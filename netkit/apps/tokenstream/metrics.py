"""Token-streaming metrics (definitions in docs/tokenstream.md).

For token i: g_i is when the server generated it, r_i when the client rendered it.
D = min_i (r_i - g_i) over rendered tokens is the run's best-case delivery delay
(propagation plus serialisation), and e_i = g_i + D is when token i could have been
shown had nothing been lost or queued. The client is *stalled* at time t when some
token with e_i <= t < r_i is generated but not yet renderable; the stall time is the
measure of the union of the intervals [e_i, r_i), which for in-order rendering is
sum_i max(0, r_i - max(e_i, r_{i-1})). The stall ratio divides it by the rendering
time r_last - e_first.

**Tokens that never arrive** are charged, so losing a token never looks better than
delivering it: an undelivered token counts as rendered at the *response's end*
T_end = max(latest render, e_last + G), G being the response's mean generation gap
(so a lost last token still costs one token slot). From the first undelivered token
on, the text on screen has a hole, and the client is stalled until T_end. A response
of which nothing is rendered has stall ratio 1. ``complete`` (every token rendered)
and ``delivered_fraction`` are reported beside the stall ratio; ``stall_ratio_rendered``
is the ratio over the rendered tokens alone (what the metric was before; it flatters
schemes that lose tokens and is kept only for comparison).
"""
from __future__ import annotations

import math

import numpy as np


def response_end_us(gen_us: list[int], render_us: list[int | None]) -> int | None:
    """T_end: when an undelivered token is taken to be rendered (None if nothing was rendered)."""
    rendered = [(g, r) for g, r in zip(gen_us, render_us) if r is not None]
    if not rendered:
        return None
    d = min(r - g for g, r in rendered)
    gap = (gen_us[-1] - gen_us[0]) // (len(gen_us) - 1) if len(gen_us) > 1 else 0
    return max(max(r for _, r in rendered), gen_us[-1] + d + gap)


def stall_time_us(gen_us: list[int], render_us: list[int | None], charge_missing: bool = True,
                  ) -> tuple[int, int, int]:
    """(stall µs, rendering time µs, D µs), tokens taken in index order.

    With ``charge_missing`` (the default) undelivered tokens count as rendered at
    :func:`response_end_us`; without it they are left out (``stall_ratio_rendered``).
    """
    pairs = [(g, r) for g, r in zip(gen_us, render_us) if r is not None]
    if not pairs:
        return 0, 0, 0
    d = min(r - g for g, r in pairs)
    if charge_missing and len(pairs) < len(gen_us):
        end = response_end_us(gen_us, render_us)
        pairs = [(g, end if r is None else r) for g, r in zip(gen_us, render_us)]
    stall = 0
    prev_r = None
    for g, r in pairs:
        start = g + d if prev_r is None else max(g + d, prev_r)
        if r > start:
            stall += r - start
        prev_r = r if prev_r is None else max(prev_r, r)
    span = max(prev_r - (pairs[0][0] + d), 0)
    return stall, span, d


def token_metrics(gen_us: list[int], render_us: list[int | None], token_bytes: int, bytes_sent: int,
                  request_us: int = 0) -> dict:
    """Stall ratio, completeness, TTFT, per-token delay percentiles, bytes overhead and delivery of one response.

    `request_us` is when the request reached the server (the schedule's time zero);
    `bytes_sent` counts the IP bytes of every data packet the server sent.
    """
    stall, span, d = stall_time_us(gen_us, render_us)
    stall_r, span_r, _ = stall_time_us(gen_us, render_us, charge_missing=False)
    delays = np.array([r - g for g, r in zip(gen_us, render_us) if r is not None], dtype=np.float64) / 1000
    rendered = [r for r in render_us if r is not None]
    pct = (lambda q: float(np.percentile(delays, q))) if len(delays) else (lambda q: math.nan)
    nothing = bool(gen_us) and not rendered
    return {
        "tokens": len(gen_us),
        "rendered": len(rendered),
        "delivered_fraction": len(rendered) / len(gen_us) if gen_us else 0.0,
        "complete": float(len(rendered) == len(gen_us)),
        "stall_ratio": 1.0 if nothing else (stall / span if span else 0.0),
        "stall_ratio_rendered": 1.0 if nothing else (stall_r / span_r if span_r else 0.0),
        "stall_ms": stall / 1000,
        "render_span_ms": span / 1000,
        "base_delay_ms": d / 1000,
        "ttft_ms": (min(rendered) - request_us) / 1000 if rendered else math.nan,
        "token_delay_ms_p50": pct(50),
        "token_delay_ms_p95": pct(95),
        "token_delay_ms_p99": pct(99),
        "token_delay_ms_mean": float(delays.mean()) if len(delays) else math.nan,
        "bytes_overhead": bytes_sent / token_bytes if token_bytes else math.nan,
    }
