"""Section "imports": where the start-up goes (`-X importtime`), for information; not on --quick.

pd-mcp (pre-loader off: the whole serving path) beside the bare SDK server,
spawn → `tools/list` answer, self import time summed per top-level package.
"""

from __future__ import annotations

from common import Commands, Context, Result, median, ms, table
from procs import Processes
from rpc import legacy_script
from spawn import Variant, run_once

TITLE = "5. Where the start-up goes (import time)"


def run(ctx: Context) -> Result:
    return Result(import_report(ctx.procs, ctx.cmd))


IMPORT_RUNS = 3


def import_profile(procs: Processes, argv: list[str], env: dict[str, str], name: str) -> dict[str, float]:
    """Self import time (s) per module while serving up to the tools/list answer (pre-loader off)."""
    env = {**env, "PYTHONPROFILEIMPORTTIME": "1", "PD_MCP_PRELOAD": "0"}
    log = procs.log_dir / f"{name}.log"
    log.unlink(missing_ok=True)
    run_once(procs, Variant(name, name, argv, env, legacy_script(), None))
    modules: dict[str, float] = {}
    for text in log.read_text(errors="replace").splitlines():
        if text.startswith("import time:") and "self [us]" not in text:
            self_us, _, module = text[len("import time:") :].split("|", 2)
            modules[module.strip()] = int(self_us) / 1e6
    return modules


def import_report(procs: Processes, cmd: Commands) -> str:
    runs: dict[str, list[dict[str, float]]] = {"pd": [], "bare": []}
    for _ in range(IMPORT_RUNS):  # interleaved
        runs["pd"].append(import_profile(procs, cmd.pd, cmd.pd_env, "importtime-pd"))
        runs["bare"].append(import_profile(procs, cmd.bare, cmd.env, "importtime-bare"))

    def per_package(profiles: list[dict[str, float]]) -> dict[str, float]:
        """Median over runs of each top-level package's summed self time."""
        sums: list[dict[str, float]] = []
        for modules in profiles:
            totals: dict[str, float] = {}
            for module, seconds in modules.items():
                package = module.split(".")[0]
                totals[package] = totals.get(package, 0.0) + seconds
            sums.append(totals)
        names = {name for totals in sums for name in totals}
        return {name: median([totals.get(name, 0.0) for totals in sums]) for name in names}

    pd, bare = per_package(runs["pd"]), per_package(runs["bare"])
    total_pd, total_bare = sum(pd.values()), sum(bare.values())
    top = sorted(pd, key=lambda k: -pd[k])[:12]
    rows = [[k, f"{pd[k] / total_pd:.0%}", ms(pd[k]), ms(bare.get(k, 0.0))] for k in top]
    rows.append(["all", "100%", ms(total_pd), ms(total_bare)])
    extra = sorted({m for r in runs["pd"] for m in r} - {m for r in runs["bare"] for m in r})
    extra_packages = sorted({m.split(".")[0] for m in extra})
    note = (
        f"Medians of {IMPORT_RUNS} interleaved runs each with PYTHONPROFILEIMPORTTIME=1 and "
        "PD_MCP_PRELOAD=0 (the whole serving path), spawn → tools/list answer; self import time summed "
        "per top-level package. The profiler inflates every figure: read the shares, not the times. "
        f"Modules pd-mcp imports that the bare server does not: {len(extra)}, in "
        f"{', '.join(extra_packages) or 'none'}."
    )
    return table(["package", "share of pd-mcp", "pd-mcp ms", "bare SDK ms"], rows) + "\n\n" + note
