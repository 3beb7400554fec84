"""SSM: the public Powertools layer and its reserved parameter (moto refuses `/aws/` writes), and the tags of a
parameter from CloudFormation, which moto reads in the API's shape."""

from __future__ import annotations

import base64
import io
import zipfile
from typing import Any

from moto.awslambda.utils import get_backend as lambda_backend
from moto.ssm.models import Parameter, ssm_backends

from sandbox.gaps.cloudformation import convert_tags
from sandbox.gaps.common import utc_now

POWERTOOLS_ACCOUNT = "017000801446"


def _cloudformation_tags(tags: Any) -> Any:
    return [{"Key": key, "Value": value} for key, value in tags.items()] if isinstance(tags, dict) else tags


def patch() -> None:
    """A tagged parameter deploys (the CDK app tags everything); applies once per process."""
    convert_tags(Parameter, _cloudformation_tags)


def seed_powertools(version: str, account: str, region: str, runtime: str = "python3.14") -> str:
    """Publish the Powertools layer and write `/aws/service/powertools/...` (moto refuses `/aws/` writes).

    moto resolves a layer ARN by name and version only, in the caller's account, so the layer lives in
    `account` while the parameter holds the ARN of the real publisher account.
    """
    name = f"/aws/service/powertools/python/arm64/{runtime}/{version}"
    ssm = ssm_backends[account][region]
    existing = ssm.get_parameter(name)
    if existing is not None:
        return str(existing.value)
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("python/aws_lambda_powertools/__init__.py", f'__version__ = "{version}"\n')
    layer = lambda_backend(account, region).publish_layer_version(
        {
            "LayerName": f"AWSLambdaPowertoolsPythonV3-{runtime.replace('.', '')}-arm64",
            "Content": {"ZipFile": base64.b64encode(archive.getvalue()).decode()},
            "Description": f"Powertools for AWS Lambda (Python) V3 [arm64] {version}",
            "CompatibleRuntimes": [runtime],
            "CompatibleArchitectures": ["arm64"],
            "LicenseInfo": "MIT-0",
        }
    )
    arn = f"arn:aws:lambda:{region}:{POWERTOOLS_ACCOUNT}:layer:{layer.name}:{layer.version}"
    ssm._parameters[name].append(
        Parameter(  # type: ignore[abstract]
            account_id=account,
            name=name,
            value=arn,
            parameter_type="String",
            description=None,
            allowed_pattern=None,
            keyid=None,
            last_modified_date=utc_now().replace(tzinfo=None),
            version=1,
            data_type="text",
        )
    )
    return arn
