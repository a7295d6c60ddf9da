"""A pipeline whose middle step fails: its dependant is skipped, the independent branch finishes.

    barque run examples/failing/pipeline.py     # exit code 1, the error in the summary
"""

from barque import asset


@asset()
def source() -> dict:
    return {"rows": 3}


@asset(inputs={"data": source}, retries=2, retry_backoff=0.05)
def broken(data: dict) -> dict:
    raise ValueError(f"cannot load {data['rows']} rows: the upstream schema changed")


@asset(inputs={"data": broken})
def downstream(data: dict) -> dict:
    return data


@asset(inputs={"data": source})
def independent(data: dict) -> int:
    return data["rows"] * 2
