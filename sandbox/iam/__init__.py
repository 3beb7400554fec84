"""AWS's authorizer, played by the sandbox: every request a deployed function makes is evaluated like AWS would.

- `simulator`: the decision, from @cloud-copilot/iam-simulate in one Node process.
- `model`: what is decided: an API call (`Call`) and the IAM requests AWS makes of it (`IamRequest`).
"""
