#!/usr/bin/env python3
"""Throughput guard: measures a set of figures and fails when one drops below the recorded
baseline (bench/baseline.json) by more than its margin.

Figures are ratios measured in one run wherever possible, so a busy or slower machine moves
both sides together:
  roundtrip_vs_smtp       round trips/s over SMTP sends/s, `mailprobe load` vs the built-in server
  roundtrip_tls_vs_plain  round trips/s with TLS on both legs over plain round trips/s
  smtp_vs_smtp_source     our SMTP sends/s (built-in server) over Postfix smtp-source into smtp-sink
  imap|pop3|smtp_parser_vs_memchr   parser speed over a memchr scan of the same bytes
Absolute rates (sends/s, round trips/s) are printed and kept in the baseline for the record;
they are compared only with --absolute, because other work on the machine moves them.

  bench/compare.py --build build-rel               # the full set (about a minute)
  bench/compare.py --build build-rel --record      # write the measured figures as the baseline
  bench/compare.py --build build-asan --short --sanitized   # what `meson test` runs

--short runs smaller counts and only the figures marked short in the baseline, with the
baseline's wider short_margin; --sanitized also drops the parser ratios, since a sanitizer
slows our parser but not libc's memchr.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def load_json(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600).stdout
    return json.loads(out)


def load_rate(mailprobe, args):
    doc = load_json([mailprobe, "load"] + args + ["--builtin", "--format", "json"])
    r = doc["result"]
    if r["failed"]:
        raise RuntimeError(f"load {' '.join(args)}: {r['failed']} failed: {r['first_error_by_stage']}")
    return r["per_second"]


def best(n, f):
    return max(f() for _ in range(n))


def smtp_source_rate(count, sessions, size):
    sink = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
    source = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
    if not (os.access(sink, os.X_OK) and os.access(source, os.X_OK)):
        return None
    port = 20000 + os.getpid() % 20000
    with tempfile.TemporaryDirectory() as work:
        as_user = ["-u", "nobody"] if os.geteuid() == 0 else []   # smtp-sink refuses to run as root
        proc = subprocess.Popen([sink] + as_user + [f"127.0.0.1:{port}", "1024"], cwd=work,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.3)
            start = time.monotonic()
            subprocess.run([source, "-s", str(sessions), "-m", str(count), "-l", str(size),
                            "-f", "sender@load.test", "-t", "load@load.test", f"127.0.0.1:{port}"],
                           check=True, timeout=600, stdout=subprocess.DEVNULL)
            return count / (time.monotonic() - start)
        finally:
            proc.terminate()
            proc.wait()


def bench_counter(program, filt, counter):
    doc = load_json([program, f"--benchmark_filter={filt}", "--benchmark_format=json",
                     "--benchmark_min_time=0.2"])
    for b in doc["benchmarks"]:
        if counter in b:
            return b[counter]
    raise RuntimeError(f"{program}: no {counter} in {filt}")


def measure(build, short, sanitized):
    mailprobe = os.path.join(build, "tools", "mailprobe", "mailprobe")
    n = 1 if short else 2
    smtp_count, rt_count = (1500, 600) if short else (10000, 4000)
    fig = {}
    smtp = best(n, lambda: load_rate(mailprobe, ["smtp", "--concurrency", "20", "--count", str(smtp_count)]))
    rt = best(n, lambda: load_rate(mailprobe, ["roundtrip", "--concurrency", "20", "--count", str(rt_count)]))
    fig["smtp_per_s"] = smtp
    fig["roundtrip_per_s"] = rt
    fig["roundtrip_vs_smtp"] = rt / smtp
    if not short:
        tls = best(n, lambda: load_rate(mailprobe, ["roundtrip", "--concurrency", "20", "--count", str(rt_count // 4),
                                                    "--smtp-tls", "starttls", "--fetch-tls", "implicit"]))
        fig["roundtrip_tls_per_s"] = tls
        fig["roundtrip_tls_vs_plain"] = tls / rt
        # Paired rounds, Postfix then ours back to back, so both see the same neighbours;
        # the best pair's ratio is the figure.
        pairs = []
        for _ in range(n):
            postfix = smtp_source_rate(smtp_count, 20, 1024)
            if not postfix:
                break
            ours = load_rate(mailprobe, ["smtp", "--concurrency", "20", "--count", str(smtp_count)])
            pairs.append((ours / postfix, postfix))
        if pairs:
            ratio, postfix = max(pairs)
            fig["smtp_source_per_s"] = postfix
            fig["smtp_vs_smtp_source"] = ratio
    if not sanitized:
        benches = os.path.join(build, "bench")
        fig["imap_parser_vs_memchr"] = bench_counter(os.path.join(benches, "imap_parser_bench"),
                                                     "BM_summary", "ours_vs_memchr")
        fig["pop3_parser_vs_memchr"] = bench_counter(os.path.join(benches, "pop3_parser_bench"),
                                                     "BM_pop3_uidl_vs_memchr/depth:0", "ratio")
        fig["smtp_parser_vs_memchr"] = 1 / bench_counter(os.path.join(benches, "smtp_parser_bench"),
                                                         "BM_reply_parser_ehlo_stream", "memchr_ratio")
    return fig


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", required=True, help="the meson build folder")
    ap.add_argument("--baseline", default=os.path.join(HERE, "baseline.json"))
    ap.add_argument("--short", action="store_true", help="small counts, short figures, short margin")
    ap.add_argument("--sanitized", action="store_true", help="the build has sanitizers: no parser ratios")
    ap.add_argument("--absolute", action="store_true", help="also compare absolute rates")
    ap.add_argument("--record", action="store_true", help="write the figures as the new baseline")
    a = ap.parse_args()

    with open(a.baseline) as f:
        base = json.load(f)
    fig = measure(a.build, a.short, a.sanitized)
    if a.record:
        for name, value in fig.items():
            entry = base["figures"].setdefault(name, {})
            entry["value"] = round(value, 4)
        with open(a.baseline, "w") as f:
            json.dump(base, f, indent=2)
            f.write("\n")
        print(f"recorded {len(fig)} figures in {a.baseline}")
        return 0

    margin = base["short_margin"] if a.short else base["margin"]
    failed = 0
    print(f"{'figure':28} {'measured':>12} {'baseline':>12} {'floor':>12}")
    for name, value in fig.items():
        entry = base["figures"].get(name)
        compared = entry is not None and (entry.get("ratio", False) or a.absolute) \
            and (entry.get("short", False) or not a.short)
        if not compared:
            print(f"{name:28} {value:12.3f} {'(not compared)':>12}")
            continue
        floor = entry["value"] * (1 - margin)
        verdict = "ok" if value >= floor else "DROPPED"
        failed += value < floor
        print(f"{name:28} {value:12.3f} {entry['value']:12.3f} {floor:12.3f}  {verdict}")
    print(f"{'FAIL' if failed else 'ok'}: {failed} figure(s) below baseline by more than {margin:.0%}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
