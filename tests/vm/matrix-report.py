#!/usr/bin/env python3
"""matrix-report.py WORK KERNELS [TABLE]: the kernel matrix's summary.

WORK holds one directory per kernel (status; runner-N.log and console-N.log
of each VM the kernel's groups ran in, console-N-tryM.log of a run cut
short and resumed; reports/GROUP.json as GoogleTest wrote them, and
reports/GROUP.passed-before-resume, the tests of a group cut short that
passed before the guest stopped and were not run again). Prints, for every kernel that
failed, what failed: each failed test with the first lines of its failure
message (from the JSON report), and for a run cut short the test that was
still running (from the console, which the JSON of an unfinished group never
reaches). Then the table kernel x group x passed/failed/skipped/seconds, on
stdout and, when given, into TABLE. Exit status: the number of failed
kernels (capped at 1).
"""
import glob
import json
import os
import re
import sys

MESSAGE_LINES = 6  # enough for GoogleTest's "Expected/Which is" or an exception's text


def tests_of(report):
    return [t for s in report.get("testsuites", []) for t in s.get("testsuite", [])]


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None  # absent or cut short: the group did not finish


def passed_before_resume(rep, group):
    try:
        with open(os.path.join(rep, group + ".passed-before-resume")) as f:
            return sum(1 for line in f if line.strip())
    except OSError:
        return 0


def still_running(console):
    """The test GoogleTest started last and never ended, if any."""
    running = None
    for line in console:
        m = re.match(r"\[ RUN      \] (\S+)", line)
        if m:
            running = m.group(1)
        elif running and re.match(r"\[ +(OK|FAILED|SKIPPED) +\] " + re.escape(running), line):
            running = None
    return running


def consoles(kdir):
    """Every VM's console of one kernel: the shards' last runs and any cut short."""
    return sorted(glob.glob(os.path.join(kdir, "console-*.log")))


def explain_failure(k, kdir, groups, out):
    rc, secs = open(os.path.join(kdir, "status")).read().split()
    why = {"124": f"timed out after {secs} s", "125": "could not be fetched or booted",
           "126": "the guest kernel oopsed or panicked",
           "123": "the guest's clock leapt ahead of the host's, in every try"}.get(rc, f"exit {rc}")
    print(f"matrix: kernel {k} FAILED ({why}); what failed:", file=out)
    say = lambda text: print(f"matrix: {k}:   {text}", file=out)
    for runner in sorted(glob.glob(os.path.join(kdir, "runner-*.log"))):
        for line in open(runner, errors="replace"):
            if line.startswith("vm:") and "running:" not in line:
                say(line.rstrip())
    for g, report in groups:
        if report is None:
            continue
        for t in tests_of(report):
            for failure in t.get("failures", []):
                say(f"{t.get('classname', '?')}.{t['name']} (group {g}):")
                for line in failure.get("failure", "").splitlines()[:MESSAGE_LINES]:
                    say("    " + line)
    for console_path in consoles(kdir):
        console = open(console_path, errors="replace").read().splitlines()
        running = still_running(console)
        if running:
            say(f"{running}: still running when the run ended; its last console lines:")
            tail = console[-MESSAGE_LINES:]
            for line in tail:
                say("    " + line)
        for line in console:
            if re.search(r"Oops|BUG:|Kernel panic|^run-groups:", line):
                say(line)


def main():
    work, kernels = sys.argv[1], sys.argv[2].split(",")
    table = sys.argv[3] if len(sys.argv) > 3 else ""
    rows = ["| kernel | group | passed | failed | skipped | seconds |",
            "| --- | --- | ---: | ---: | ---: | ---: |"]
    failed = 0
    for k in kernels:
        kdir = os.path.join(work, k)
        rc, secs = open(os.path.join(kdir, "status")).read().split()
        rep = os.path.join(kdir, "reports")
        release_file = os.path.join(rep, "release")
        release = open(release_file).read().strip() if os.path.exists(release_file) else "?"
        names = sorted(f[:-5] for f in os.listdir(rep) if f.endswith(".json")) if os.path.isdir(rep) else []
        # A group cut short by the timeout wrote no report; run-groups.sh announced it on the console.
        for console_path in consoles(kdir):
            started = re.findall(r"^== group (\S+)", open(console_path, errors="replace").read(), re.M)
            names += [g for g in started if g not in names]
        groups = [(g, load(os.path.join(rep, g + ".json"))) for g in names]
        if rc != "0":
            failed += 1
            explain_failure(k, kdir, groups, sys.stderr)
        if not groups:
            rows.append(f"| {k} ({release}) | (none ran: exit {rc}) | 0 | - | - | {secs} |")
        for g, report in groups:
            if report is None:
                rows.append(f"| {k} ({release}) | {g} | (report unreadable: the run was cut short) | | | |")
                continue
            tests = tests_of(report)
            if g == "other" and not tests:
                continue  # every test is in a named group
            skipped = sum(1 for t in tests if t.get("result") == "SKIPPED")
            nfailed = sum(1 for t in tests if t.get("failures"))
            secs_g = float(report.get("time", "0s").rstrip("s"))
            before = passed_before_resume(rep, g)
            passed = f"{len(tests) - skipped - nfailed + before}" + (f" ({before} before a resumption)" if before else "")
            rows.append(f"| {k} ({release}) | {g} | {passed} | {nfailed} | {skipped} | {secs_g:.0f} |")
    text = "\n".join(rows)
    print(text)
    if table:
        with open(table, "w") as f:
            f.write(text + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
