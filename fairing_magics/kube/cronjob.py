"""Scheduled runs as a ``batch/v1`` CronJob (pure), and the schedules Kubernetes accepts.

:func:`render_cronjob` wraps a rendered Job (:func:`.training.render_job`: the same image, pod
template, labels and Istio opt-out) into a CronJob:

- ``concurrencyPolicy: Forbid``: a run still going when the next one is due makes the controller
  skip that one, so a slow notebook never runs twice at once on the same storage;
- ``successfulJobsHistoryLimit``/``failedJobsHistoryLimit`` keep the last few Jobs (and so their
  pods and logs) for ``%fairing_jobs`` and ``kubectl logs``, and no more;
- ``startingDeadlineSeconds``: a run missed for longer (the controller was down) is skipped
  instead of started late; it also bounds how many missed times the controller counts;
- the Job's own ``ttlSecondsAfterFinished`` is dropped: the history limits decide.

:func:`validate_schedule` accepts what the API server accepts (``k8s.io/kubernetes`` validates
with robfig/cron's standard parser): five fields (minute, hour, day of month, month, day of
week) of numbers, ranges, lists, steps, ``*`` and ``?``, month and weekday names; or one of
``@yearly``, ``@annually``, ``@monthly``, ``@weekly``, ``@daily``, ``@midnight``, ``@hourly`` and
``@every <duration>``. A time zone goes in ``time_zone`` (``spec.timeZone``), never in the
schedule (``TZ=``/``CRON_TZ=`` there is refused since Kubernetes 1.27). Next run times come from
``croniter``.
"""

from __future__ import annotations

import datetime as dt
import re

from fairing_magics.errors import ConfigError
from fairing_magics.kube.api_resources import CRONJOB

DESCRIPTORS = {"@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
               "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
               "@hourly": "0 * * * *"}
_FIELDS = (("minute", 0, 59, ()), ("hour", 0, 23, ()), ("day of month", 1, 31, ()),
           ("month", 1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                             "nov", "dec")),
           ("day of week", 0, 6, ("sun", "mon", "tue", "wed", "thu", "fri", "sat")))
_EVERY = re.compile(r"^@every\s+((\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+)$")
HISTORY = (3, 1)  # successful, failed Jobs kept
STARTING_DEADLINE_SECONDS = 300


def _value(text: str, low: int, high: int, names: tuple[str, ...], what: str) -> int:
    if text.lower() in names:
        return names.index(text.lower()) + (1 if what == "month" else 0)
    if not text.isdigit():
        raise ValueError(f"{text!r} is not a number{' or a name' if names else ''} in the {what} field")
    number = int(text)
    if what == "day of week" and number == 7:  # robfig/cron does not take 7 for Sunday
        raise ValueError("7 is out of range for the day of week field (0-6, Sunday is 0)")
    if not low <= number <= high:
        raise ValueError(f"{number} is out of range for the {what} field ({low}-{high})")
    return number


def _check_field(text: str, low: int, high: int, names: tuple[str, ...], what: str) -> None:
    for part in text.split(","):
        if not part:
            raise ValueError(f"an empty list item in the {what} field")
        span, slash, step = part.partition("/")
        if slash and (not step.isdigit() or int(step) == 0):
            raise ValueError(f"step {step!r} in the {what} field must be a positive number")
        if span in ("*", "?"):
            if span == "?" and what not in ("day of month", "day of week"):
                raise ValueError(f"'?' is only allowed in the day fields, not the {what} field")
            continue
        start, dash, end = span.partition("-")
        first = _value(start, low, high, names, what)
        if dash:
            last = _value(end, low, high, names, what)
            if last < first:
                raise ValueError(f"range {span!r} in the {what} field runs backwards")


def validate_schedule(schedule: str) -> str:
    """``schedule`` trimmed when the API server accepts it; ConfigError saying why otherwise."""
    text = " ".join((schedule or "").split())
    example = "e.g. --schedule '0 6 * * *' (every day at 06:00) or '@hourly'"
    if not text:
        raise ConfigError(f"--schedule is empty: give a cron expression, {example}")
    if text.upper().startswith(("TZ=", "CRON_TZ=")):
        raise ConfigError(f"--schedule {schedule!r}: a time zone does not go in the schedule "
                          "(Kubernetes refuses TZ= there since 1.27); the schedule runs in the "
                          "cluster controller's time zone (usually UTC)")
    if text.startswith("@"):
        if text.lower() in DESCRIPTORS or _EVERY.match(text):
            return text
        raise ConfigError(f"--schedule {schedule!r} is not a cron expression: {text.split()[0]!r} is "
                          f"not one of {', '.join(DESCRIPTORS)} or @every <duration>; {example}")
    fields = text.split(" ")
    if len(fields) != 5:
        raise ConfigError(f"--schedule {schedule!r} is not a cron expression: it has {len(fields)} "
                          "field(s), Kubernetes takes 5 (minute hour day-of-month month "
                          f"day-of-week); {example}")
    for value, (what, low, high, names) in zip(fields, _FIELDS, strict=True):
        try:
            _check_field(value, low, high, names, what)
        except ValueError as exc:
            raise ConfigError(f"--schedule {schedule!r} is not a cron expression: {exc}; "
                              f"{example}") from None
    return text


def next_times(schedule: str, after: dt.datetime, count: int = 3) -> list[dt.datetime]:
    """The next ``count`` times ``schedule`` fires after ``after`` (aware datetimes)."""
    from croniter import croniter

    text = validate_schedule(schedule)
    every = _EVERY.match(text)
    if every:
        step = _duration_seconds(every.group(1))
        return [after + dt.timedelta(seconds=step * (i + 1)) for i in range(count)]
    expression = DESCRIPTORS.get(text.lower(), text).replace("?", "*")
    iterator = croniter(expression, after)
    return [iterator.get_next(dt.datetime) for _ in range(count)]


def _duration_seconds(text: str) -> float:
    units = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
    return sum(float(n) * units[u] for n, _, u in re.findall(r"(\d+(\.\d+)?)(ns|us|µs|ms|s|m|h)", text))


def render_cronjob(job: dict, schedule: str, *, history: tuple[int, int] = HISTORY,
                   starting_deadline: int | None = STARTING_DEADLINE_SECONDS,
                   time_zone: str = "", suspend: bool = False) -> dict:
    """A CronJob that creates ``job`` (a rendered Job dict) on ``schedule`` (see the module
    docstring). The CronJob carries the Job's name, namespace, labels and annotations."""
    spec = {key: value for key, value in job["spec"].items() if key != "ttlSecondsAfterFinished"}
    metadata = job["metadata"]
    template_meta = {key: metadata[key] for key in ("labels", "annotations") if key in metadata}
    cron_spec: dict = {
        "schedule": validate_schedule(schedule),
        "concurrencyPolicy": "Forbid",
        "successfulJobsHistoryLimit": history[0],
        "failedJobsHistoryLimit": history[1],
    }
    if starting_deadline is not None:
        cron_spec["startingDeadlineSeconds"] = starting_deadline
    if time_zone:
        cron_spec["timeZone"] = time_zone
    if suspend:
        cron_spec["suspend"] = True
    cron_spec["jobTemplate"] = {"metadata": template_meta, "spec": spec}
    return {"apiVersion": CRONJOB.api_version, "kind": CRONJOB.kind, "metadata": dict(metadata),
            "spec": cron_spec}
