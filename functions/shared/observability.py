"""Logger, Metrics and Tracer, set up once; the service name comes from POWERTOOLS_SERVICE_NAME."""

from aws_lambda_powertools import Logger, Metrics, Tracer

NAMESPACE = "Deckhand"

logger = Logger()
metrics = Metrics(namespace=NAMESPACE)
# Deckhand only calls AWS: patching botocore alone spares every cold start the other patches.
tracer = Tracer(patch_modules=("botocore",))
