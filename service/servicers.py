"""The thin spinerad.v1 servicer: unpack the proto, call the engine, pack the proto (errors: interceptor)."""

import time

from spinerad.v1 import service_pb2_grpc

from . import convert


def _deadline(context):
    """The call's deadline on the ``time.monotonic()`` clock, or None."""
    remaining = context.time_remaining()
    return None if remaining is None else time.monotonic() + remaining


class InferenceServicer(service_pb2_grpc.InferenceServiceServicer):
    """spinerad.v1.InferenceService over an :class:`~spinerad.service.engine.Engine`."""

    def __init__(self, engine):
        self.engine = engine

    async def Analyze(self, request_iterator, context):  # noqa: D102 - documented in the .proto
        events = self.engine.analyze(convert.uploads(request_iterator), _deadline(context), context.cancelled)
        async for event in events:
            yield convert.event(event)

    async def ExtractFeatures(self, request_iterator, context):  # noqa: D102
        result = await self.engine.extract_features(
            convert.uploads(request_iterator), _deadline(context), context.cancelled
        )
        return convert.features_response(result)

    async def ListModels(self, request, context):  # noqa: D102
        return convert.list_models_response(*self.engine.list_models())

    async def GetModelCard(self, request, context):  # noqa: D102
        return convert.model_card(request.task, self.engine.card(request.task))

    async def FeatureMaps(self, request_iterator, context):  # noqa: D102
        uploads = convert.uploads(request_iterator)
        request_id, maps = await self.engine.feature_maps(uploads, _deadline(context))
        for name, image in maps.items():
            for chunk in convert.map_chunks(request_id, name, image):
                yield chunk
