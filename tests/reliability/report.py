"""The reliability report (make reliability; LONG=1 for the long form).

Runs the fault suite (tests/reliability: Kafka faults on the mock cluster,
the real broker stopped mid-stream, kill -9 cycles, partners answering
garbage), each fault recording its counts, then fuzzes every libFuzzer
target for a bounded time, and prints one table:

    fault | acknowledged | delivered | dead-lettered | duplicates | lost
    fuzz target | executions | crashes

Exits non-zero when a test failed, anything acknowledged was lost, or a
fuzz target crashed. The fuzz targets must have been built with clang
(make fuzz-build in build-fuzz; the Makefile target does that first).
"""
import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def run_faults(report_path, kill_cycles, pytest_args):
    env = dict(os.environ, PLACEHUB_RELIABILITY_REPORT=report_path,
               PLACEHUB_KILL_CYCLES=str(kill_cycles))
    command = [sys.executable, "-m", "pytest", "-q", os.path.join(REPO, "tests", "reliability")]
    return subprocess.run(command + pytest_args, env=env, cwd=REPO).returncode


def run_fuzz(fuzz_dir, seconds, work_dir):
    """Fuzzes each target for `seconds`; returns [(name, executions, crashes)]."""
    results = []
    for binary in sorted(glob.glob(os.path.join(fuzz_dir, "fuzz_*"))):
        name = os.path.basename(binary)[len("fuzz_"):]
        corpus = os.path.join(work_dir, "corpus", name)
        os.makedirs(corpus, exist_ok=True)
        for seed in glob.glob(os.path.join(REPO, "tests", "fuzz", "corpus", name, "*")):
            shutil.copy(seed, corpus)
        print(f"== fuzz_{name} for {seconds} s", flush=True)
        result = subprocess.run(
            # One allocation over 128 MB is a crash: no input of a few bytes
            # may make a parser reserve memory it has not seen data for.
            [binary, f"-max_total_time={seconds}", "-print_final_stats=1",
             "-malloc_limit_mb=128", "-rss_limit_mb=1024",
             f"-artifact_prefix={work_dir}/crash-{name}-", corpus],
            cwd=REPO, capture_output=True, text=True, errors="replace")
        found = re.findall(r"stat::number_of_executed_units: (\d+)", result.stderr)
        executions = int(found[-1]) if found else 0
        crashes = 0 if result.returncode == 0 else 1
        if crashes:
            print("\n".join(result.stderr.splitlines()[-40:]))
        results.append((name, executions, crashes))
    return results


def print_table(faults, fuzz):
    headers = ("fault", "acknowledged", "delivered", "dead-lettered", "duplicates", "lost")
    keys = ("acknowledged", "delivered", "dead_lettered", "duplicates", "lost")
    rows = [(f["fault"],) + tuple(str(f[k]) for k in keys) for f in faults]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
              for i, h in enumerate(headers)]
    line = "  ".join(h.ljust(widths[0]) if i == 0 else h.rjust(widths[i])
                     for i, h in enumerate(headers))
    print("\n" + line + "\n" + "-" * len(line))
    for row in rows:
        print("  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i])
                        for i, c in enumerate(row)))
    if fuzz:
        width = max(len("fuzz target"), *(len(n) for n, _, _ in fuzz))
        line = f"{'fuzz target'.ljust(width)}  {'executions':>12}  {'crashes':>7}"
        print("\n" + line + "\n" + "-" * len(line))
        for name, executions, crashes in fuzz:
            print(f"{name.ljust(width)}  {executions:>12}  {crashes:>7}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long", action="store_true",
                        help="21 kill -9 cycles and 300 s per fuzz target")
    parser.add_argument("--fuzz-seconds", type=int, default=None)
    parser.add_argument("--kill-cycles", type=int, default=None)
    parser.add_argument("--fuzz-dir", default=os.path.join(REPO, "build-fuzz", "fuzz"))
    parser.add_argument("--no-fuzz", action="store_true")
    parser.add_argument("pytest_args", nargs="*", help="passed to pytest (after --)")
    args = parser.parse_args()
    kill_cycles = args.kill_cycles or (21 if args.long else 3)
    fuzz_seconds = args.fuzz_seconds or (300 if args.long else 10)

    work_dir = tempfile.mkdtemp(prefix="placehub-reliability-")
    report_path = os.path.join(work_dir, "faults.jsonl")
    open(report_path, "w").close()
    tests_rc = run_faults(report_path, kill_cycles, args.pytest_args)
    with open(report_path) as f:
        faults = [json.loads(line) for line in f if line.strip()]
    fuzz = []
    if not args.no_fuzz:
        if not glob.glob(os.path.join(args.fuzz_dir, "fuzz_*")):
            print(f"no fuzz targets in {args.fuzz_dir}: make fuzz-build first", file=sys.stderr)
            return 2
        fuzz = run_fuzz(args.fuzz_dir, fuzz_seconds, work_dir)

    print_table(faults, fuzz)
    lost = sum(f["lost"] for f in faults)
    crashes = sum(c for _, _, c in fuzz)
    problems = []
    if tests_rc != 0:
        problems.append(f"the fault suite failed (pytest exit {tests_rc})")
    if not faults:
        problems.append("no fault recorded any counts")
    if lost:
        problems.append(f"{lost} acknowledged events lost")
    if crashes:
        problems.append(f"{crashes} fuzz targets crashed (inputs in {work_dir})")
    print("\n" + ("FAILED: " + "; ".join(problems) if problems else
                  f"OK: {len(faults)} faults, 0 lost; {len(fuzz)} fuzz targets, 0 crashes"))
    if not problems:
        shutil.rmtree(work_dir, ignore_errors=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
