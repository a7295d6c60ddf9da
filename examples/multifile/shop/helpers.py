"""Plain helpers: editing one re-runs the assets that call it, and nothing else."""


def normalize(name: str) -> str:
    return name.strip().title()
