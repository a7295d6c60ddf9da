"""Source assets, imported by the other modules of the package."""

from barque import asset

from .helpers import normalize


@asset()
def customers() -> list[dict]:
    return [{"name": normalize(" Ada "), "tier": "gold"}, {"name": normalize("grace "), "tier": "silver"}]
