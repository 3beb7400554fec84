"""Logger and Metrics, set up once; the service name comes from POWERTOOLS_SERVICE_NAME."""

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from .refusal import ignored

NAMESPACE = "Deckhand"

logger = Logger()
metrics = Metrics(namespace=NAMESPACE)


def ignored_and_counted(reason: str, *, by: str, metric: str) -> dict[str, Any]:
    """The `ignored` answer of an event that is not the function's, logged and counted under `metric`."""
    answer = ignored(reason)
    logger.info(f"{by} ignored an event", extra={"reason": answer["reason"]})
    metrics.add_metric(name=metric, unit=MetricUnit.Count, value=1)
    return answer
