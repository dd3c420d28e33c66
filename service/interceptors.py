"""The two server interceptors: bearer-token auth, and exceptions -> status codes with RPC metrics.

:class:`StatusInterceptor` is the one place where an exception raised by a servicer becomes a gRPC status
(the table is :data:`spinerad.service.status.STATUS_BY_ERROR`); it also times every spinerad.v1 RPC by final
status and counts RPCs in flight. :class:`AuthInterceptor` refuses calls without the configured bearer
token, except the health service, which load balancers and kubelets probe without credentials.
"""

import hmac
import inspect
import logging
import time

import grpc

from . import status
from .errors import Unauthenticated

log = logging.getLogger("spinerad.service")

#: The RPCs this interceptor maps and times (health and reflection are left alone).
SERVICE_PREFIX = "/spinerad.v1."
HEALTH_PREFIX = "/grpc.health.v1.Health/"


def _rebuild(handler, **behaviours):
    """A method handler of the same kind and serializers with new behaviours."""
    kind = _kind(handler)
    factory = {
        "unary_unary": grpc.unary_unary_rpc_method_handler,
        "unary_stream": grpc.unary_stream_rpc_method_handler,
        "stream_unary": grpc.stream_unary_rpc_method_handler,
        "stream_stream": grpc.stream_stream_rpc_method_handler,
    }[kind]
    return factory(
        behaviours[kind],
        request_deserializer=handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )


def _kind(handler):
    if handler.request_streaming:
        return "stream_stream" if handler.response_streaming else "stream_unary"
    return "unary_stream" if handler.response_streaming else "unary_unary"


async def abort(context, exc):
    """End the call with the status of ``exc`` (logging unexpected errors with a reference)."""
    code, message, reference = status.describe(exc)
    if reference is not None:
        log.error("internal error (reference %s)", reference, exc_info=exc)
    await context.abort(grpc.StatusCode[code], message)


def _code_name(code):
    return code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"


def _ended_code(context):
    """Status of a call that ended without a response: deadline passed, aborted, or cancelled."""
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        return "DEADLINE_EXCEEDED"
    code = context.code()
    if isinstance(code, grpc.StatusCode) and code != grpc.StatusCode.OK:
        return code.name
    return "CANCELLED"


class StatusInterceptor(grpc.aio.ServerInterceptor):
    """Map exceptions of spinerad.v1 servicers to status codes; record latency by RPC and final status."""

    def __init__(self, metrics):
        self.metrics = metrics

    async def intercept_service(self, continuation, handler_call_details):
        """Wrap the spinerad.v1 method handlers; pass the others through."""
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or not method.startswith(SERVICE_PREFIX):
            return handler
        rpc = method.rsplit("/", 1)[-1]
        kind = _kind(handler)
        behaviour = getattr(handler, kind)
        metrics = self.metrics

        if handler.response_streaming:

            async def streaming(request, context):
                metrics.rpcs_in_flight.labels(rpc).inc()
                started, code = time.perf_counter(), "UNKNOWN"
                try:
                    async for response in behaviour(request, context):
                        yield response
                    code = "OK"
                except grpc.aio.AbortError:
                    code = _code_name(context.code())
                    raise
                except Exception as exc:
                    code = status.code_name(exc)
                    await abort(context, exc)
                except BaseException:  # cancelled, deadline, generator closed
                    code = _ended_code(context)
                    raise
                finally:
                    metrics.rpcs_in_flight.labels(rpc).dec()
                    metrics.rpc_seconds.labels(rpc, code).observe(time.perf_counter() - started)

            return _rebuild(handler, **{kind: streaming})

        async def unary(request, context):
            metrics.rpcs_in_flight.labels(rpc).inc()
            started, code = time.perf_counter(), "UNKNOWN"
            try:
                response = behaviour(request, context)
                if inspect.isawaitable(response):
                    response = await response
                code = "OK"
                return response
            except grpc.aio.AbortError:
                code = _code_name(context.code())
                raise
            except Exception as exc:
                code = status.code_name(exc)
                await abort(context, exc)
            except BaseException:
                code = _ended_code(context)
                raise
            finally:
                metrics.rpcs_in_flight.labels(rpc).dec()
                metrics.rpc_seconds.labels(rpc, code).observe(time.perf_counter() - started)

        return _rebuild(handler, **{kind: unary})


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Require ``authorization: Bearer <token>`` metadata on every call except health checks."""

    def __init__(self, tokens, metrics):
        self._tokens = tuple(t.encode() for t in tokens)
        self.metrics = metrics

    def _authorised(self, metadata):
        for key, value in metadata or ():
            if key == "authorization":
                text = value.decode() if isinstance(value, bytes) else value
                scheme, _, token = text.partition(" ")
                if scheme.lower() != "bearer":
                    return False
                supplied = token.strip().encode()
                # compare_digest against every token: timing does not reveal which prefix matched
                return any(hmac.compare_digest(supplied, t) for t in self._tokens)
        return False

    async def intercept_service(self, continuation, handler_call_details):
        """Pass authorised calls (and health checks) on; answer the others UNAUTHENTICATED."""
        handler = await continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(HEALTH_PREFIX):
            return handler
        if self._authorised(handler_call_details.invocation_metadata):
            return handler
        self.metrics.rejected.labels("unauthenticated").inc()
        error = Unauthenticated("missing or invalid bearer token (metadata 'authorization: Bearer <token>')")

        async def deny(request, context):
            await abort(context, error)

        return _rebuild(handler, **{_kind(handler): deny})
