"""Tests of the gRPC service (spinerad.service)."""
