"""PyTorch peer of bench/matmul-worker.ts: float32 C = A @ B, same protocol.

    python3 bench/peers/matmul.py --sizes 256,512,1024 --threads 2

Prints one JSON figure line per size on stdout, notes on stderr. Debian's
PyTorch runs matmul in OpenBLAS, whose thread pool `torch.set_num_threads` does
not limit: OPENBLAS_NUM_THREADS and OMP_NUM_THREADS are set to the same count
before torch (and OpenBLAS) load, here and by the caller (bench/child.ts, peerEnv).

Protocol (bench/measure.ts): warm-up runs, then timed runs until at least
--min-reps runs and --min-seconds of timed work; the figure is the median. If
other processes kept more than 0.2 cores busy meanwhile (bench/contention.ts),
the timed runs are done again once the machine is quiet, up to 3 attempts.
"""

import argparse
import json
import os
import statistics
import sys
import time

SEED = 20240601
TICKS_PER_SECOND = 100  # Linux USER_HZ


def cpu_sample():
    """(wall, machine busy CPU-seconds incl. steal, this process's CPU-seconds), or None without /proc."""
    try:
        with open("/proc/stat") as f:
            cpu = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (cpu + [0] * 8)[:8]
    t = os.times()
    return time.perf_counter(), (user + nice + system + irq + softirq + steal) / TICKS_PER_SECOND, t.user + t.system


def other_cores(start, end):
    """Average cores that other processes kept busy between two samples."""
    if start is None or end is None or end[0] <= start[0]:
        return None
    return max(0.0, (end[1] - start[1]) - (end[2] - start[2])) / (end[0] - start[0])


def wait_for_quiet(max_other_cores, timeout_seconds=30.0):
    deadline = time.perf_counter() + timeout_seconds
    while True:
        start = cpu_sample()
        time.sleep(0.5)
        others = other_cores(start, cpu_sample())
        if others is None or others <= max_other_cores or time.perf_counter() >= deadline:
            return


def measure(
    run, warmup=3, min_reps=5, min_seconds=1.0, max_reps=10_000, max_other_cores=0.2, attempts=3, quiet_seconds=30.0
):
    """Returns (median seconds, best seconds, reps, other cores or None, attempts).

    STEPWISE_BENCH_CLOCK=cpu (as in bench/measure.ts): time by this process's CPU time
    (all threads) and make one attempt."""
    clock = time.perf_counter
    if os.environ.get("STEPWISE_BENCH_CLOCK", "wall") == "cpu":
        clock = time.process_time
        attempts = 1
    for _ in range(warmup):
        run()
    kept = None
    for attempt in range(1, attempts + 1):
        if attempt > 1:
            wait_for_quiet(max_other_cores, quiet_seconds)
        start = cpu_sample()
        times = []
        total = 0.0
        while len(times) < max_reps and (len(times) < min_reps or total < min_seconds):
            t0 = clock()
            run()
            dt = clock() - t0
            times.append(dt)
            total += dt
        others = other_cores(start, cpu_sample())
        if kept is None or (others or 0.0) < (kept[3] or 0.0):
            kept = (statistics.median(times), min(times), len(times), others)
        if others is None or others <= max_other_cores:
            break
    return (*kept, attempt)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="256,512,1024")
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--min-seconds", type=float, default=1.0)
    parser.add_argument("--min-reps", type=int, default=5)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    os.environ["OPENBLAS_NUM_THREADS"] = str(args.threads)
    os.environ["OMP_NUM_THREADS"] = str(args.threads)
    import torch  # noqa: PLC0415 (after the thread-count variables, which OpenBLAS reads when it loads)

    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(SEED)
    for n in sizes:
        a = torch.rand(n, n, dtype=torch.float32, generator=generator)  # [n, n]
        b = torch.rand(n, n, dtype=torch.float32, generator=generator)  # [n, n]
        med, best, reps, others, attempts = measure(
            lambda: torch.matmul(a, b), min_reps=args.min_reps, min_seconds=args.min_seconds
        )
        gflops = lambda s: 2 * n**3 / s / 1e9  # noqa: E731
        figure = {
            "bench": "matmul",
            "impl": "pytorch",
            "params": {"size": n, "threads": args.threads},
            "value": gflops(med),
            "unit": "GFLOP/s",
        }
        print(json.dumps(figure), flush=True)
        note = "" if others is None else f", others used {others:.2f} cores"
        note += f" after {attempts} attempts" if attempts > 1 else ""
        print(
            f"size={n} threads={args.threads} (torch {torch.__version__}, get_num_threads={torch.get_num_threads()}): "
            f"median {med * 1e3:.2f} ms over {reps} reps (best {gflops(best):.1f} GFLOP/s{note})",
            file=sys.stderr,
            flush=True,
        )


if __name__ == "__main__":
    main()
