"""Logger and Metrics, set up once; the service name comes from POWERTOOLS_SERVICE_NAME."""

from aws_lambda_powertools import Logger, Metrics

NAMESPACE = "Deckhand"

logger = Logger()
metrics = Metrics(namespace=NAMESPACE)
