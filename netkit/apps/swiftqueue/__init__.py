"""SwiftQueue: per-packet L4S queue selection from a transformer latency predictor (see docs/swiftqueue.md)."""
