"""conftest -- the `rbl` fixture: one rblcached per test, its log on failure.

The helpers themselves live in rbltest.py so that test files can import
them (`from rbltest import rev, BL, NOERROR`).  test_differential.py is
self-contained and uses none of this.
"""

import pytest

from rbltest import Rbl, stop_problem


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # keep each phase's report on the item so fixtures can see the outcome
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


@pytest.fixture
def rbl(request, tmp_path):
    """An Rbl in a fresh temp dir; started on first use, stopped (SIGTERM,
    then SIGKILL) after the test; its log printed when the test failed."""
    d = Rbl(tmp_path)
    rc = None
    try:
        yield d
    finally:
        rc = d.stop()
        rep = getattr(request.node, "rep_call", None)
        failed = rep is None or rep.failed
        if failed:
            print("----- rblcached log (%s) -----\n%s"
                  % (d.logpath, d.log()[-20000:]))
    # A clean SIGTERM exit and no sanitizer report: under `make asan` this
    # is where leaks and UB found during the case surface.
    if not failed:
        problem = stop_problem(rc, d.log())
        if problem:
            pytest.fail(problem, pytrace=False)
