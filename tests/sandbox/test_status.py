"""`python -m sandbox status`: what a running sandbox holds."""

from sandbox import status


def test_status_of_an_empty_sandbox(endpoint: str) -> None:
    report = status.status(endpoint)

    assert report["audit"] == []
    assert report["pipelines"] == {"jobs": [], "approvals": [], "executions": []}
    # A server without the sandbox's routes (moto's own 404 behind them) is reported, not raised.
    assert "HTTP Error 404" in status.sandbox_state(f"{endpoint}/not-the-sandbox")["error"]
