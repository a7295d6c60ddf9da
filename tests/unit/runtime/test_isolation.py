"""Each step receives exactly the stored value of its inputs and starts in the same process state.

Real: the `barque` CLI in a child process with one forked worker (so every step shares it),
a local-folder store in a temp folder.
"""

from __future__ import annotations

from pathlib import Path

from .clirun import barque, pipeline, run_ok, step_records


def _values(tmp_path: Path, run_id: str) -> dict[str, object]:
    from barque import artifacts, trust
    from barque.store import open_store

    store = open_store(str(tmp_path / ".barque"))
    out = {}
    for sid, rec in step_records(tmp_path / ".barque", run_id).items():
        out[sid.split(":")[1]] = artifacts.read_value(store, artifacts.ArtifactRef.from_dict(rec["artifact"]), allowed=trust.AUTOMATIC)
    return out


def test_a_step_appending_to_its_input_does_not_change_what_a_sibling_receives(tmp_path: Path) -> None:
    pipeline(
        tmp_path,
        """
        from barque import asset

        @asset()
        def base() -> list:
            return [1, 2]

        @asset(inputs={"xs": base})
        def grows(xs: list) -> int:
            xs.append(99)
            return len(xs)

        @asset(inputs={"xs": base})
        def sibling(xs: list) -> list:
            return xs

        @asset(inputs={"a": grows, "b": sibling})
        def both(a: int, b: list) -> list:
            return [a, b]
        """,
    )
    summary = run_ok("pipeline.py", "--workers", "1", cwd=tmp_path)
    assert summary["final_output"] == [3, [1, 2]]
    assert _values(tmp_path, summary["run_id"])["sibling"] == [1, 2]


def test_a_step_mutating_a_nested_input_does_not_reach_a_later_step_of_the_same_stream(tmp_path: Path) -> None:
    pipeline(
        tmp_path,
        """
        from barque import asset

        @asset()
        def base() -> dict:
            return {"rows": [1]}

        @asset(inputs={"d": base})
        def first(d: dict) -> int:
            d["rows"].append(2)
            d["extra"] = True
            return len(d["rows"])

        @asset(inputs={"d": base, "_after": first})
        def second(d: dict, _after: None) -> dict:
            return d
        """,
    )
    summary = run_ok("pipeline.py", "--workers", "1", cwd=tmp_path)
    assert summary["final_output"] == {"rows": [1]}


def test_a_step_changing_the_working_directory_does_not_move_the_next_step(tmp_path: Path) -> None:
    pipeline(
        tmp_path,
        """
        from barque import asset
        import os

        @asset()
        def wanders() -> int:
            os.chdir("/")
            return 1

        @asset(inputs={"_after": wanders})
        def where(_after: None) -> str:
            return os.getcwd()
        """,
    )
    summary = run_ok("pipeline.py", "--workers", "1", cwd=tmp_path)
    assert summary["final_output"] == str(tmp_path.resolve())


def test_a_step_changing_the_environment_does_not_reach_the_next_step(tmp_path: Path) -> None:
    pipeline(
        tmp_path,
        """
        from barque import asset
        import os

        @asset()
        def sets() -> int:
            os.environ["BARQUE_TEST_LEAK"] = "leaked"
            os.environ.pop("HOME", None)
            return 1

        @asset(inputs={"_after": sets})
        def reads(_after: None) -> list:
            return [os.environ.get("BARQUE_TEST_LEAK"), "HOME" in os.environ]
        """,
    )
    summary = run_ok("pipeline.py", "--workers", "1", cwd=tmp_path, env={"HOME": str(tmp_path)})
    assert summary["final_output"] == [None, True]


def test_a_step_installing_a_signal_handler_does_not_leave_it_for_the_next_step(tmp_path: Path) -> None:
    pipeline(
        tmp_path,
        """
        from barque import asset
        import signal

        BEFORE = signal.getsignal(signal.SIGTERM)  # a worker's own handler

        @asset()
        def installs() -> int:
            signal.signal(signal.SIGUSR1, lambda *a: None)
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            return 1

        @asset(inputs={"_after": installs})
        def looks(_after: None) -> list:
            return [signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL, signal.getsignal(signal.SIGTERM) is BEFORE]
        """,
    )
    summary = run_ok("pipeline.py", "--workers", "1", cwd=tmp_path)
    assert summary["final_output"] == [True, True]


def test_a_step_changing_argv_umask_and_sys_path_does_not_reach_the_next_step(tmp_path: Path) -> None:
    pipeline(
        tmp_path,
        """
        from barque import asset
        import os, sys

        @asset()
        def meddles() -> int:
            sys.argv[:] = ["meddled"]
            sys.path.insert(0, "/nowhere")
            os.umask(0o777)
            return 1

        @asset(inputs={"_after": meddles})
        def looks(_after: None) -> list:
            mask = os.umask(0o022)
            os.umask(mask)
            return [sys.argv != ["meddled"], "/nowhere" not in sys.path, mask != 0o777]
        """,
    )
    summary = run_ok("pipeline.py", "--workers", "1", cwd=tmp_path)
    assert summary["final_output"] == [True, True, True]


def test_a_failed_attempt_that_changed_directory_does_not_move_its_retry(tmp_path: Path) -> None:
    pipeline(
        tmp_path,
        """
        from barque import asset
        import os

        @asset(retries=2, retry_backoff=0)
        def flaky() -> str:
            here = os.getcwd()
            if os.path.exists("first-done"):
                return here
            open("first-done", "w").close()
            os.chdir("/")
            raise RuntimeError("first attempt fails")
        """,
    )
    summary = run_ok("pipeline.py", "--workers", "1", cwd=tmp_path)
    assert summary["final_output"] == str(tmp_path.resolve())


def test_isolation_keeps_imported_modules_between_steps_of_a_worker(tmp_path: Path) -> None:
    pipeline(
        tmp_path,
        """
        from barque import asset
        import os

        IMPORTED_IN = os.getpid()

        @asset()
        def one() -> int:
            return IMPORTED_IN

        @asset(inputs={"_after": one})
        def two(_after: None) -> bool:
            import sys
            return sys.modules[__name__].IMPORTED_IN == IMPORTED_IN
        """,
    )
    summary = run_ok("pipeline.py", "--workers", "1", cwd=tmp_path)
    assert summary["final_output"] is True
