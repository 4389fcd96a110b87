"""Alarms on the evaluations during training: a threshold per metric, checked after every evaluation.

``drop_from_start``/``rise_from_start`` compare with the stage's first evaluation (step 0, or the earliest
record a resumed stage kept); ``above``/``below`` with a fixed value. A crossing is logged as a warning with
the numbers and recorded in the step's record; an alarm with ``stop: true`` also ends the stage.
"""

from __future__ import annotations

import logging

from evalsuite.errors import ConfigError
from evalsuite.trainers.eval_steps import AlarmEvent, StepEvalResult
from evalsuite.trainers.settings import AlarmSettings

log = logging.getLogger("evalsuite.trainers.eval")


def _crossed(rule: str, threshold: float, value: float, start: float | None) -> bool:
    if rule == "drop_from_start":
        return start is not None and value < start - threshold
    if rule == "rise_from_start":
        return start is not None and value > start + threshold
    if rule == "above":
        return value > threshold
    return value < threshold  # below


def check_alarms(alarms: list[AlarmSettings], record: StepEvalResult, first: StepEvalResult | None) -> list[AlarmEvent]:
    """The alarms ``record`` sets off; each is logged as a warning. ``first`` is the stage's first evaluation.

    An alarm on a metric no eval task reports is a ConfigError (a misspelt task would otherwise never fire).
    """
    events = []
    for alarm in alarms:
        found = record.value(alarm.metric, alarm.task)
        if found is None:
            reported = sorted({f"{m.task}:{m.metric}" for m in record.metrics})
            raise ConfigError(f"alarm on {alarm.metric!r}" + (f" (task {alarm.task!r})" if alarm.task else "")
                              + f": no eval task reports it; reported: {', '.join(reported)}")
        if found.value is None:
            continue
        reference = first.value(alarm.metric, found.task) if first is not None else None
        start = reference.value if reference is not None else None
        rule, threshold = alarm.rule()
        if not _crossed(rule, threshold, found.value, start):
            continue
        detail = f"{rule} {threshold:g}" + (f" (step {first.step}: {start:.4f})" if start is not None else "")
        message = (f"stage {record.stage!r} step {record.step}: {found.task} {alarm.metric} = {found.value:.4f} "
                   f"crossed {detail}" + ("; stopping the stage" if alarm.stop else ""))
        log.warning(message)
        events.append(AlarmEvent(task=found.task, metric=alarm.metric, rule=rule, threshold=threshold,
                                 value=found.value, start=start, stop=alarm.stop, message=message))
    return events
