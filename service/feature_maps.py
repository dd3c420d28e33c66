"""The FeatureMaps RPC's engine side: one uploaded study in, voxel-wise feature maps out."""

import asyncio
import time

from .decode import decode_volume
from .errors import ProtocolError
from .events import StudyRequest
from .upload import IMAGE, MASK


class FeatureMapsRPC:
    """Engine part: FeatureMaps.

    Uses the engine's ``open``, ``pool``, ``metrics``, ``limits`` and ``scratch_dir``.
    """

    async def feature_maps(self, messages, deadline=None):
        """``(request_id, {feature name: SimpleITK.Image})`` of the one study in ``messages``."""
        study = None
        started = time.perf_counter()
        try:
            async for message in messages:
                if isinstance(message, StudyRequest):
                    if study is not None:
                        raise ProtocolError("FeatureMaps takes one study, but a second header arrived")
                    study, _ahead = self.open(message, deadline, predictions=False)
                    continue
                if study is None:
                    raise ProtocolError("chunk before any study header; send a StudyHeader first")
                study.upload.add(message)
            if study is None:
                raise ProtocolError("the stream ended without a study header")
            if not study.upload.complete:
                raise ProtocolError(
                    "the stream ended before the study's image and mask were complete "
                    f"({study.upload.progress()})"
                )
            self.metrics.queue_depth.inc()
            study.submitted = True
            future = self.pool.submit(self._compute_maps, study)

            def finished(done, study=study):
                if done.cancelled():
                    self.metrics.queue_depth.dec()
                study.release()

            future.add_done_callback(finished)
            try:
                maps = await asyncio.wrap_future(future)
            except asyncio.CancelledError:
                study.token.cancel()
                future.cancel()
                raise
        except Exception as exc:
            self._record_study("FeatureMaps", started, exc)
            raise
        finally:
            if study is not None and not study.submitted:
                study.release()
        self._record_study("FeatureMaps", started)
        return study.request_id, maps

    def _compute_maps(self, study):
        """Worker thread: decode the study and compute its feature maps."""
        from spinerad.voxel import feature_maps

        self.metrics.queue_depth.dec()
        self.metrics.workers_busy.inc()
        try:
            parts, limits, scratch = study.upload.parts, self.limits, self.scratch_dir
            image = decode_volume(study.request.image, parts[IMAGE].payload(), "image", limits, scratch)
            mask = decode_volume(study.request.mask, parts[MASK].payload(), "mask", limits, scratch)
            study.upload.release()
            return feature_maps(image, mask, params=study.params, label=study.label)
        finally:
            self.metrics.workers_busy.dec()
