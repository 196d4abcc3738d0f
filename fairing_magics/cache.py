"""Cached re-runs: a run whose inputs equal an earlier successful run's is not run again.

With ``--cache`` (or ``%fairing_config --cache on``) a run's inputs are summed up in one key
(:func:`cache_key`):

- the bundle digest: the cell and every captured definition, value, local module and
  ``--include`` file, the pinned requirements (``requirements.txt``), the Python version, the
  outputs asked for, and the runtime itself;
- the image digest (docker and kubernetes backends): the base image as resolved now and the
  dependency layer, so a moved base tag or a new wheel runs again;
- the backend and, on a cluster, the kind, workers, runtime, resources (``--cpu``, ``--memory``,
  ``--gpus``) and what the pods get (``--env``, node selector, tolerations, volumes, service
  account, AWS secret).

Not part of the key, so they never force a run: the run's ``--name``, ``--timeout``, the registry
it was pushed to, and anything the code reads that the capture cannot see (a file outside the
bundle, a URL, the clock): use ``--cache refresh`` then, which runs and records anew.

The cache lives in run storage (``--storage``: a folder or ``s3://``), so it is shared by every
kernel and machine that uses the same storage: ``cache/<key>.json`` names the run that
succeeded with those inputs. A hit replays that run's log into the panel (metrics found again in
its lines), loads its ``--outputs`` and ends the new run Succeeded with ``cached: same inputs as
run X (2 h ago)``; ``run.cached_from`` is X. Nothing is submitted. A run folder that is gone
from storage is a miss (the run goes ahead and becomes the entry).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from dataclasses import dataclass

from fairing_magics import events as ev
from fairing_magics.errors import ConfigError, FairingError

CACHE_FOLDER = "cache"
FORMAT = 1
_NOTICE_LINE = re.compile(r"^# (info|warning|error): ")


def check_cache(request) -> None:
    """``--cache`` (or the setting) needs run storage: refuse it without, before anything is
    made."""
    if request.cache == "off" or request.settings.storage:
        return
    if request.given.cache:
        raise ConfigError("--cache reuses runs kept in run storage, and none is set: "
                          "%fairing_config --storage DIR (or s3://BUCKET/PREFIX), or drop --cache")
    raise ConfigError("the cache setting is on (%fairing_config --cache on) and reuses runs kept "
                      "in run storage, and none is set: %fairing_config --storage DIR (or "
                      "s3://BUCKET/PREFIX), or %fairing_config --cache off")


def cache_key(bundle, image: str, backend: str, request) -> str:
    """The key of a run's inputs (see the module docstring), read from its request."""
    body = {
        "format": FORMAT,
        "bundle": bundle.digest,
        "image": image.split("@")[-1] if image else "",
        "backend": backend,
        "outputs": list(request.outputs),
        "env": sorted(dict(request.env).items()),
    }
    if backend == "kubernetes":
        body.update(kind=request.kind, workers=request.workers, runtime_ref=request.runtime_ref,
                    cpu=request.cpu, memory=request.memory, gpus=request.gpus,
                    node_selector=sorted(dict(request.node_selector).items()),
                    tolerations=list(request.tolerations), volumes=list(request.volumes),
                    service_account=request.service_account, aws_secret=request.aws_secret)
    text = json.dumps(body, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def format_ago(seconds: float) -> str:
    """``2 h``, ``5 min``, ``3 d``: how long ago, as people say it."""
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit}"
    return f"{max(0, int(seconds))} s"


@dataclass(frozen=True)
class CacheEntry:
    """An earlier successful run with the key's inputs."""

    key: str
    run: str
    finished_at: float
    backend: str
    image: str = ""


class RunCache:
    """The cache of one run storage (see the module docstring)."""

    def __init__(self, storage_uri: str):
        from fairing_magics.storage import storage_for

        self.uri = storage_uri
        self.storage = storage_for(storage_uri)

    def lookup(self, key: str) -> CacheEntry | None:
        data = self.storage.read_file(CACHE_FOLDER, f"{key}.json")
        if not data:
            return None
        try:
            body = json.loads(data)
            return CacheEntry(key, body["run"], float(body["finished_at"]), body.get("backend", ""),
                              body.get("image", ""))
        except (ValueError, KeyError, TypeError):
            return None

    def replay(self, entry: CacheEntry, run) -> bool:
        """End ``run`` as a replay of ``entry`` (its log, outputs); False when the earlier run's
        files are gone (the caller runs it then)."""
        from fairing_magics.storage import MissingRunFile

        try:
            log = self.storage.read_bytes(entry.run, "logs.txt").decode("utf-8", "replace")
            outputs = {}
            if run.requested_outputs:
                import cloudpickle

                outputs = cloudpickle.loads(self.storage.read_bytes(entry.run, "outputs.pkl"))
        except (MissingRunFile, FairingError) as exc:
            run.emit(ev.Notice(f"cache: run {entry.run} had the same inputs but its files are gone "
                               f"from storage ({exc}); running again", level="warning"))
            return False
        missing = [name for name in run.requested_outputs if name not in outputs]
        if missing:
            return False
        lines = tuple(line for line in log.splitlines() if not _NOTICE_LINE.match(line))
        if lines:
            run.emit(ev.LogLines(lines))
        for stage in run.stages_shown:
            if run.stages.get(stage, ("",))[0] not in ("done",):
                run.emit(ev.StageChanged(stage, "done", 0.0, "cached"))
        run.cached_from = entry.run
        summary = (f"cached: same inputs as run {entry.run} "
                   f"({format_ago(time.time() - entry.finished_at)} ago)")
        run.emit(ev.Notice(summary))
        run.finish(ev.SUCCEEDED, summary, outputs={k: outputs[k] for k in run.requested_outputs})
        return True

    def record_on_success(self, run, key: str, *, image: str = "") -> None:
        """When ``run`` succeeds, make it the entry of ``key``. (Its log is in storage by then:
        the run folder of a local storage, or copied to s3:// as the run ends, see
        :meth:`fairing_magics.run.Run.finish`.)"""
        def on_event(event) -> None:
            if not isinstance(event, ev.Finished) or event.phase != ev.SUCCEEDED:
                return
            try:
                body = {"format": FORMAT, "key": key, "run": run.name, "backend": run.backend,
                        "image": image, "finished_at": run.finished_at or time.time(),
                        "started_at": run.started_at, "outputs": list(run.requested_outputs)}
                self.storage.upload_files(CACHE_FOLDER, {f"{key}.json": json.dumps(body).encode()})
            except FairingError as exc:
                run.emit(ev.Notice(f"cache: run {run.name} could not be recorded for reuse: {exc}",
                                   level="warning"))

        run.subscribe(on_event)


def reuse_or_record(run, bundle, image: str, request) -> bool:
    """The pipeline's one call: with ``--cache on`` (the request's, which holds the setting when
    the flag was left out), end ``run`` from an earlier run with the same inputs (True: nothing
    more to do) or record it when it succeeds; with ``refresh``, record only. Off: nothing."""
    if request.cache == "off" or not request.settings.storage:
        return False
    cache = RunCache(request.settings.storage)
    key = cache_key(bundle, image, run.backend, request)
    if request.cache == "on":
        entry = cache.lookup(key)
        if entry is not None and entry.run != run.name and cache.replay(entry, run):
            return True
    cache.record_on_success(run, key, image=image)
    return False
