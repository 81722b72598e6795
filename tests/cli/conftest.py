from tests.inspector.conftest import inspector

__all__ = ["inspector"]
