"""Where a frame's delay goes: the probe of a simulated or live meeting run (`run_meetings(..., probe=True)`,
`run_meetings_live(..., probe=True)`) split per frame into the same stages for both drivers.

Per frame and receiver (times on the run's clock, us):

* `sender_late`: the sender's frame tick against the frame's capture time (its RTP timestamp): a late
  timer or a loop busy with other work (0 in the simulator);
* `uplink`: sent -> the frame's last packet (RTP marker) arrives at the SFU (the centre's end of the
  sender's link; serialisation, propagation, the link process);
* `sfu`: that packet in -> its copy to this receiver out (the SFU hop; 0 in the simulator);
* `downlink`: copy out -> the frame complete at the receiver (its last packet's arrival; live, the
  kernel's receive timestamp unless the run said otherwise);
* `total`: capture -> complete, the summary's frame delay; `decode`: libvpx's time for the frame (wall clock,
  both drivers, reported apart: it is not part of the frame delay).
"""
from __future__ import annotations

import statistics

STAGES = ("sender_late", "uplink", "sfu", "downlink", "total", "decode")


def frame_stages(probe: dict) -> list[dict]:
    """One row per frame a receiver completed that every point saw: `receiver` (index), `ssrc`, the stages (ms)."""
    sent = {(int(ssrc), ts): (cap, at) for ssrc, rows in probe["sent"].items() for ts, cap, at in rows}
    f_in = {(ssrc, ts): t for ssrc, ts, t in probe["sfu_in"]}
    f_out = {(i, ssrc, ts): t for i, ssrc, ts, t in probe["sfu_out"]}
    rows = []
    for i, streams in probe["frames"].items():
        for ssrc, frames in streams.items():
            for ts, _first, complete, decode_us in frames:
                key = (int(ssrc), ts)
                if key not in sent or key not in f_in or (int(i), *key) not in f_out:
                    continue
                cap, at = sent[key]
                t_in, t_out = f_in[key], f_out[(int(i), *key)]
                rows.append({"receiver": int(i), "ssrc": int(ssrc), "ts": ts,
                             "sender_late": (at - cap) / 1000, "uplink": (t_in - at) / 1000,
                             "sfu": (t_out - t_in) / 1000, "downlink": (complete - t_out) / 1000,
                             "total": (complete - cap) / 1000, "decode": decode_us / 1000})
    return rows


def stage_medians(rows: list[dict], receivers: set[int] | None = None) -> dict[str, float]:
    """The median of each stage (ms) over the frames of `receivers` (all when None), and the frame count."""
    sel = [r for r in rows if receivers is None or r["receiver"] in receivers]
    out = {k: round(statistics.median(r[k] for r in sel), 3) if sel else float("nan") for k in STAGES}
    out["frames"] = len(sel)
    return out


def lateness_summary(probe: dict) -> dict[str, float]:
    """The receivers' loop lateness (loop time minus kernel receive time per datagram; live only), p50/p95 ms."""
    xs = sorted(probe.get("loop_lateness_us") or [])
    if not xs:
        return {"p50": 0.0, "p95": 0.0}
    return {"p50": xs[len(xs) // 2] / 1000, "p95": xs[int(0.95 * (len(xs) - 1))] / 1000}
