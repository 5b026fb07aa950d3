"""The software target: a Python SFU pipeline behind a real P4Runtime gRPC service."""
