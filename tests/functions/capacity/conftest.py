from tests.functions.capacity.world import recorded, twin, world

__all__ = ["recorded", "twin", "world"]
