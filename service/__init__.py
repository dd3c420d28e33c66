"""gRPC inference service (spinerad.v1): studies streamed in, features and marker predictions streamed out.

The layers, from the wire inwards:

- ``spinerad.v1`` (generated from ``protos/spinerad/v1`` by :mod:`~spinerad.service.codegen`): messages.
- :mod:`~spinerad.service.server`: lifecycle (health, reflection, TLS, metrics endpoint, SIGTERM drain).
- :mod:`~spinerad.service.interceptors`: bearer-token auth; exceptions -> status codes, RPC metrics.
- :mod:`~spinerad.service.servicers` + :mod:`~spinerad.service.convert`: thin proto <-> domain mapping.
- :mod:`~spinerad.service.engine`: the data plane (lifecycle, the Analyze/ExtractFeatures stream loops); no
  protobuf. Its parts: :mod:`~spinerad.service.events` (what goes in and comes out),
  :mod:`~spinerad.service.admission` (header checks, admission), :mod:`~spinerad.service.streams` (reading a
  stream within the upload timeouts and the drain), :mod:`~spinerad.service.execution` (a study on a
  worker), :mod:`~spinerad.service.replay` (the replay cache), :mod:`~spinerad.service.feature_maps`.
- :mod:`~spinerad.service.decode`, :mod:`~spinerad.service.upload`, :mod:`~spinerad.service.pool`: volume
  decoding, chunk reassembly, admission and cancellation.
- :mod:`~spinerad.service.client`: the Python client (``spinerad analyze`` uses it);
  :mod:`~spinerad.service.client_study`: the volumes and studies it uploads.
- :mod:`~spinerad.service.processes`: ``spinerad serve --processes N`` (one port, one /metrics).

``spinerad serve`` and ``spinerad analyze`` are the command-line faces (:mod:`~spinerad.service.commands`).
"""
