"""gRPC inference service (spinerad.v1): streaming studies in, predictions out. Not built yet (issue 5)."""
