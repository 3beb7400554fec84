from tests.functions.capacity.world import recorded, world

__all__ = ["recorded", "world"]
