"""Alarms over a constructed sequence of per-step records: thresholds checked by hand."""

from __future__ import annotations

import logging

import pytest

from evalsuite.errors import ConfigError
from evalsuite.results import provenance
from evalsuite.trainers.eval_alarms import check_alarms
from evalsuite.trainers.eval_steps import StepEvalResult, StepMetric
from evalsuite.trainers.settings import AlarmSettings


def _record(step: int, **values: float) -> StepEvalResult:
    metrics = [StepMetric(task="generate", metric=name.replace("__", "."), value=v) for name, v in values.items()]
    return StepEvalResult(provenance=provenance(), stage="grpo", step=step, model={}, runs={}, metrics=metrics, seconds=0.0)


def test_drop_from_start_fires_only_past_the_threshold(caplog):
    alarm = [AlarmSettings(metric="distinct_2.within", drop_from_start=0.1)]
    start = _record(0, distinct_2__within=0.80)
    assert check_alarms(alarm, start, None) == []  # the first evaluation is the reference
    assert check_alarms(alarm, _record(10, distinct_2__within=0.71), start) == []  # 0.09 below: not yet
    with caplog.at_level(logging.WARNING, logger="evalsuite.trainers.eval"):
        [event] = check_alarms(alarm, _record(20, distinct_2__within=0.55), start)
    assert (event.value, event.start, event.threshold, event.stop) == (0.55, 0.80, 0.1, False)
    assert "0.5500" in caplog.text and "0.8000" in caplog.text and "step 20" in caplog.text


def test_fixed_thresholds_and_rise():
    start = _record(0, self_bleu_4__across=0.2, length__within=30.0)
    later = _record(5, self_bleu_4__across=0.6, length__within=12.0)
    alarms = [AlarmSettings(metric="self_bleu_4.across", above=0.5, stop=True),
              AlarmSettings(metric="self_bleu_4.across", rise_from_start=0.5),  # 0.4 rise: no
              AlarmSettings(metric="length.within", below=15)]
    events = check_alarms(alarms, later, start)
    assert [(e.metric, e.rule, e.stop) for e in events] == [("self_bleu_4.across", "above", True), ("length.within", "below", False)]


def test_alarm_on_a_metric_no_task_reports_is_an_error():
    with pytest.raises(ConfigError, match="no eval task reports it"):
        check_alarms([AlarmSettings(metric="acc", below=0.3)], _record(0, distinct_2__within=0.5), None)
    both = _record(0, distinct_2__within=0.5)
    both.metrics.append(StepMetric(task="other", metric="distinct_2.within", value=0.4))
    with pytest.raises(ConfigError, match="several eval tasks"):
        check_alarms([AlarmSettings(metric="distinct_2.within", above=0.9)], both, None)
