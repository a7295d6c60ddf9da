"""A pipeline written for barca. barque runs it unchanged, with or without barca installed."""

from barca import Manual, asset, sensor, task


@sensor(freshness=Manual)
def inbox() -> tuple[bool, list[str]]:
    return True, ["a.csv", "b.csv"]


@asset(inputs={"files": inbox}, retries=2, retry_backoff=0.1)
def parsed(files: list[str]) -> dict:
    return {"files": len(files)}


@task(inputs={"_parsed": parsed})
def notify(_parsed) -> None:
    print("parsed everything")
