"""Assets that read assets defined in a sibling module and in another file by reference."""

from barque import asset, asset_ref

from shop.sources import customers


@asset(inputs={"people": customers})
def gold_customers(people: list[dict]) -> list[str]:
    return [p["name"] for p in people if p["tier"] == "gold"]


@asset(inputs={"gold": gold_customers, "people": asset_ref("shop/sources.py:customers")})
def overview(gold: list[str], people: list[dict]) -> dict:
    return {"customers": len(people), "gold": gold}
