"""Logger, Metrics and Tracer, set up once; the service name comes from POWERTOOLS_SERVICE_NAME."""

from aws_lambda_powertools import Logger, Metrics, Tracer

NAMESPACE = "Deckhand"

logger = Logger()
metrics = Metrics(namespace=NAMESPACE)
tracer = Tracer()
