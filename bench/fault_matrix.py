"""The fault matrix's figures: runs tests/volumes/test_faults.py (every seed action × every staged fault, against the
demo cloud over real HTTP) and sums what each case recorded — cases tried and passed, action calls the cloud
served, audit rows written, rows lost (an action call without a row, or a row left without a final outcome).

    .venv/bin/python bench/fault_matrix.py [extra pytest arguments, e.g. -k upload]
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


class Tally:
    def __init__(self) -> None:
        self.outcomes: Counter[str] = Counter()
        self.sums: Counter[str] = Counter()
        self.by_fault: Counter[str] = Counter()

    def pytest_runtest_logreport(self, report: Any) -> None:
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
            self.outcomes[report.outcome] += 1
            for key, value in report.user_properties:
                self.sums[key] += int(value)
            if report.when == "call":
                case = report.nodeid.rsplit("[", 1)[-1].rstrip("]")
                fault = next((f for f in FAULT_NAMES if case.endswith("-" + f)), "?")
                self.by_fault[fault] += 1


FAULT_NAMES = sorted(("400", "403", "404", "409", "413", "500", "503", "timeout", "dropped", "refused",
                      "refused-at-action", "expired-token", "401-at-action", "backend", "glance-down",
                      "nova-down"), key=len, reverse=True)


def main() -> int:
    tally = Tally()
    suite = str(ROOT / "tests" / "volumes" / "test_faults.py")
    code = pytest.main(["-q", "-p", "no:cacheprovider", suite, *sys.argv[1:]], plugins=[tally])
    tried = sum(tally.outcomes.values())
    print()
    print(f"fault matrix: {tried} cases tried, {tally.outcomes['passed']} passed, "
          f"{tally.outcomes['failed']} failed")
    print("cases per fault: " + ", ".join(f"{f} {n}" for f, n in sorted(tally.by_fault.items())))
    print(f"action calls served by the cloud: {tally.sums['action_calls']}; audit rows written: "
          f"{tally.sums['rows']}; rows lost: {tally.sums['rows_lost']}")
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
