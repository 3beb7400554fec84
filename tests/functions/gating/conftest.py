from tests.support.gating import gaps_endpoint, sandbox

__all__ = ["gaps_endpoint", "sandbox"]
