"""The smallest barque pipeline: two assets, one reading the other.

    barque run examples/quickstart/pipeline.py
"""

from barque import asset


@asset()
def numbers() -> list[int]:
    return [1, 2, 3, 4, 5]


@asset(inputs={"nums": numbers})
def summary(nums: list[int]) -> dict:
    return {"count": len(nums), "total": sum(nums), "mean": sum(nums) / len(nums)}
