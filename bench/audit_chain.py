"""The audit hash chain's cost on batch ingest: POST /api/v1/actions batches of 1,000, with and without the chain.

    python -m bench audit_chain --pairs 20 --batch 1000

Each pair stores one batch through the API's write path (events.actions.report_actions inside a transaction,
as run_idempotent runs it) with the chain on, and one with `chain()` replaced by a no-op; the order inside a
pair alternates so that drift (a checkpoint, another process) falls on both sides. Reports the medians of
each side, the median of the paired ratios, the rows stored and the load average before and after.
Also reported: the time spent inside chain() itself (lock the head, hash, sign, save the head), which the load
of a shared machine disturbs less than the paired totals. BENCH_WIDE_OFF=1 gives the unchained rows placeholder
hashes of full width, to separate the chain's work from the wider rows. The batch of *activity events*
(POST /api/v1/events, `bench api`) does not touch the chain at all.
"""

import os
import statistics
import time


def add_arguments(parser):
    parser.add_argument("--pairs", type=int, default=20, help="paired runs (default 20)")
    parser.add_argument("--batch", type=int, default=1000, help="actions per batch (default 1,000, the API's limit)")
    parser.add_argument("--preload", type=int, default=100_000,
                        help="audit entries already in the project's chain before measuring (default 100,000)")


def run(args):
    from unittest import mock

    from django.db import transaction

    from bench.common import machine_line
    from events import actions
    from events.models import AuditChain, ProjectAction
    from events.models import audit as chain_module
    from projects.audit import Actor, acting_as
    from projects.models import Project

    project, _ = Project.objects.get_or_create(slug="bench-audit-chain", defaults={"name": "Bench: audit chain"})
    items = [{"action_type": "deployment", "action_details": f"Deployed build {n}", "status": "success",
              "environment": "production"} for n in range(args.batch)]
    reporter = Actor(type="api_key", label="API key “bench” (ah_bench000_…)", key_prefix="bench000",
                     address="127.0.0.1", user_agent="bench", request_id="bench")
    have = ProjectAction.objects.filter(project=project).count()
    with acting_as(reporter):
        while have < args.preload:
            with transaction.atomic():
                actions.report_actions(project, items)
            have += len(items)

        def batch():
            start = time.perf_counter()
            with transaction.atomic():
                actions.report_actions(project, items)
            return (time.perf_counter() - start) * 1000

        def unchained(objs, using="default"):
            if os.environ.get("BENCH_WIDE_OFF") == "1":  # same row width as chained rows, no chain work
                for n, obj in enumerate(objs):
                    obj.sequence, obj.prev_hash, obj.entry_hash = n + 1, bytes(32), b"\xff" * 32

        real_chain, inside = chain_module.chain, []

        def timed_chain(objs, using="default"):
            start = time.perf_counter()
            try:
                return real_chain(objs, using=using)
            finally:
                inside.append((time.perf_counter() - start) * 1000)

        for _ in range(3):  # warm-up, both ways
            batch()
            with mock.patch.object(chain_module, "chain", unchained):
                batch()
        load_before = os.getloadavg()
        on, off = [], []
        for pair in range(args.pairs):
            for chained in ((True, False) if pair % 2 == 0 else (False, True)):
                if chained:
                    with mock.patch.object(chain_module, "chain", timed_chain):
                        on.append(batch())
                else:
                    with mock.patch.object(chain_module, "chain", unchained):
                        off.append(batch())
        load_after = os.getloadavg()
    ratios = [a / b for a, b in zip(on, off, strict=True)]
    rows = ProjectAction.objects.filter(project=project).count()
    print(machine_line())
    print(f"batch of {args.batch:,} actions, {args.pairs} pairs, project chain of {rows:,} entries after the runs")
    print(f"  chain on : median {statistics.median(on):8.1f} ms   ({args.batch / statistics.median(on) * 1000:,.0f} actions/s)")
    print(f"  chain off: median {statistics.median(off):8.1f} ms   ({args.batch / statistics.median(off) * 1000:,.0f} actions/s)")
    print(f"  paired ratio on/off: median {statistics.median(ratios):.3f} "
          f"(min {min(ratios):.3f}, max {max(ratios):.3f}) → chain cost {100 * (statistics.median(ratios) - 1):+.1f} %")
    print(f"  inside chain() (lock the head, hash, sign, save the head): median {statistics.median(inside):.1f} ms "
          f"= {100 * statistics.median(inside) / statistics.median(on):.1f} % of a chained batch")
    print(f"  load average before {load_before[0]:.2f} {load_before[1]:.2f}, after {load_after[0]:.2f} {load_after[1]:.2f}")
    # The unchained rows have no place in the chain: remove the bench project so the next run starts clean.
    if os.environ.get("BENCH_KEEP") != "1":
        AuditChain.objects.filter(chain=project.pk).delete()
        project.delete()
