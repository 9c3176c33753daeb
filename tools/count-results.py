#!/usr/bin/env python3
"""Counts test results from meson's JUnit logs (and the fuzz summary) and prints the one
closing line CI reads: "N passed, N failed" (", N skipped" when some were skipped).
Exits 1 when anything failed or when no test ran at all."""
import argparse
import sys
import xml.etree.ElementTree as ET


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("junit", nargs="+")
    ap.add_argument("--fuzz", help="file with one '<target> passed|failed' line per fuzzer")
    ap.add_argument("--runs-failed", type=int, default=0,
                    help="test runs that failed as a whole (a crash may leave no JUnit case)")
    args = ap.parse_args()
    passed = failed = skipped = 0
    for path in args.junit:
        try:
            tree = ET.parse(path)
        except (OSError, ET.ParseError) as e:
            print(f"count-results: cannot read {path}: {e}", file=sys.stderr)
            failed += 1
            continue
        for case in tree.iter("testcase"):
            if case.find("failure") is not None or case.find("error") is not None:
                failed += 1
                print(f"FAILED: {case.get('classname')} {case.get('name')}", file=sys.stderr)
            elif case.find("skipped") is not None or case.get("status") == "notrun":
                skipped += 1
            else:
                passed += 1
    if args.fuzz:
        with open(args.fuzz) as f:
            for line in f:
                if line.strip().endswith("passed"):
                    passed += 1
                elif line.strip():
                    failed += 1
    if args.runs_failed and not failed:
        failed = args.runs_failed
        print("count-results: a test run failed without a failed case in its JUnit log", file=sys.stderr)
    line = f"{passed} passed, {failed} failed"
    if skipped:
        line += f", {skipped} skipped"
    print(line)
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
