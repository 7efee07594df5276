"""The long reliability run: the figures of docs/reliability.md.

    PYTHONPATH=tests python fuzz/campaign.py [--out results.json] [--quick]
        [--damage-random 400] [--damage-crafted 200]
        [--fuzz-red 200000] [--fuzz-records 200000] [--fuzz-headers 50000] [--fuzz-session 5000]
        [--atheris-seconds 120] [--kill-points 300] [--readers 4] [--reader-seconds 30]
        [--neo 1] [--damage-only 0]

Runs, each isolated in child processes (a crash or hang is counted, never fatal):

* damage: every committed fixture, every oracle scenario mef_tools and mef3io can
  write (needs pymef, mef_tools, mef3io), and Writer sessions (plain and encrypted),
  each with the systematic cases of tests/test_damaged.py, random damage and crafted
  (CRC-consistent) values, read in raise and skip modes (support.damage, support.outcomes)
  and by MEF3RawIO and the SpikeInterface extractor with on_error="skip"
  (support.neo_outcomes; ``--neo 0`` leaves them out);
* fuzz: support.fuzz_targets with the random driver, then atheris (coverage-guided over
  the Python layers) for a fixed time per target;
* kill: SIGKILL kill-points over the scripted writes (support.kill_points);
* readers: reader processes racing an appender (support.racing_readers).

Prints a summary and writes every number to ``--out`` (JSON). The machinery lives in
tests/support/ (the ``support`` package, hence PYTHONPATH=tests; fuzz/README.md).
"""

import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import time

try:
    import support  # noqa: F401  (tests/support/)
except ImportError:
    sys.exit("fuzz/campaign.py needs tests/ on PYTHONPATH: PYTHONPATH=tests python fuzz/campaign.py (fuzz/README.md)")

from support.build_ours import build_writer_session  # noqa: E402
from support.child import child_env, last_json_line, module_command, run_module  # noqa: E402
from support.damage import generate_cases  # noqa: E402
from support.isolated import failures, run_isolated, tally  # noqa: E402
from support.paths import DATA_DIR, EXAMPLE_SESSION  # noqa: E402


def _sessions(base):
    out = [
        {"key": "fixture/plain (mef_tools)", "path": os.path.join(DATA_DIR, "plain.mefd")},
        {"key": "fixture/plain (mef3io)", "path": os.path.join(DATA_DIR, "plain_mef3io.mefd")},
        {"key": "fixture/encrypted (mef_tools)", "path": os.path.join(DATA_DIR, "encrypted.mefd"), "password": "pass2"},
        {"key": "fixture/encrypted (mef3io)", "path": os.path.join(DATA_DIR, "encrypted_mef3io.mefd"), "password": "pass2"},
        {"key": "fixture/example (meflib)", "path": EXAMPLE_SESSION},
        {"key": "writer/plain", "path": build_writer_session(os.path.join(base, "w.mefd"))},
        {"key": "writer/encrypted", "path": build_writer_session(os.path.join(base, "we.mefd"), "pw1", "pw2"),
         "password": "pw2"},
    ]
    try:
        from support.build_oracles import build_scenario
        from support.scenarios import SCENARIOS

        for name, sc in SCENARIOS.items():
            for writer in sc.writers:
                p = os.path.join(base, writer, name + ".mefd")
                try:
                    build_scenario(sc, p, writer)
                except Exception as exc:  # noqa: BLE001 - a scenario an oracle cannot write
                    print(f"  (skipped {writer}/{name}: {type(exc).__name__})", flush=True)
                    continue
                out.append({"key": f"{writer}/{name}", "path": p, "password": sc.read_password or ""})
    except ImportError as exc:  # pragma: no cover
        print(f"  (no oracle sessions: {exc})")
    return out


def damage(base, n_random, n_crafted, seed=1, neo=True):
    sessions = _sessions(base)
    rng = random.Random(seed)
    cases = []
    for s in sessions:
        cases += generate_cases(s["path"], s["key"], rng, n_random=n_random, crafted=n_crafted,
                                        systematic=True, encrypted=bool(s.get("password")))
    t = time.time()
    done = {"n": 0}

    def progress(rec):
        done["n"] += 1
        if done["n"] % 2000 == 0:
            print(f"  damage: {done['n']} cases, {time.time() - t:.0f} s", flush=True)

    # neo: every case is also read by MEF3RawIO and the SpikeInterface extractor with
    # on_error="skip" (support.neo_outcomes)
    results = run_isolated({"sessions": sessions, "cases": cases, "neo": neo}, timeout=120, workers=2,
                           progress=progress)
    by_origin, same_by = {}, {}
    for c, r in zip(cases, results):
        if r["raise"] == "same" and not c.get("fix_crc"):  # damage that changes nothing read
            k = f"{c['op']} .{c['file'].rsplit('.', 1)[-1]}"
            same_by[k] = same_by.get(k, 0) + 1
        origin = c["session"].split("/")[0] if "/" in c["session"] else c["session"]
        key = "crafted" if c.get("fix_crc") else "damaged"
        d = by_origin.setdefault(f"{origin} ({key})", {})
        o = r["raise"] if r["raise"].startswith("error") else r["raise"].split(":")[0]
        d[o] = d.get(o, 0) + 1
    return {
        "sessions": [s["key"] for s in sessions],
        "cases": len(cases),
        "seconds": round(time.time() - t, 1),
        "raise": tally(results, cases, "raise"),
        "skip": tally(results, cases, "skip"),
        "neo_skip": tally(results, cases, "neo"),
        "by_origin": by_origin,
        "same_by_damage": dict(sorted(same_by.items(), key=lambda kv: -kv[1])),
        "failures": failures(results, cases)[:20],
        "n_failures": len(failures(results, cases)),
    }


def _child(module, args, timeout):
    """Run ``support.<module>`` with ``args``; its JSON summary plus how the child ended."""
    t = time.time()
    try:
        p = run_module(module, *args, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"module": module, "args": args, "hang": True}
    summary = last_json_line(p.stdout)
    res = dict(summary or {})
    res.update(returncode=p.returncode, wall_seconds=round(time.time() - t, 1))
    if p.returncode < 0:
        res["crash_signal"] = -p.returncode
    if summary is None:
        res["stderr"] = p.stderr.decode()[-3000:]
    return res


def fuzz(counts, atheris_seconds):
    out = {}
    for name, n in counts.items():
        out[f"random/{name}"] = _child("fuzz_targets", ["random", name, "--n", n, "--seed", 99], timeout=7200)
        print(f"  fuzz random/{name}: {out[f'random/{name}'].get('executions')} executions, "
              f"{out[f'random/{name}'].get('n_failures')} failures", flush=True)
    if atheris_seconds:
        for name in counts:
            work = tempfile.mkdtemp(prefix="neo_mef3-atheris-")
            t = time.time()
            p = subprocess.run(module_command("fuzz_targets", "atheris", name, f"-max_total_time={atheris_seconds}",
                                              "-print_final_stats=1", f"-artifact_prefix={work}/"),
                               capture_output=True, env=child_env(), cwd=work, timeout=atheris_seconds * 3 + 120)
            err = p.stderr.decode()
            runs = [ln for ln in err.splitlines() if "stat::number_of_executed_units" in ln]
            cov = [ln for ln in err.splitlines() if ln.startswith("#") and "cov:" in ln]
            res = {"returncode": p.returncode, "seconds": round(time.time() - t, 1),
                   "executions": int(runs[-1].split(":")[-1]) if runs else None,
                   "last_status": cov[-1] if cov else None,
                   "crash_artifacts": sorted(os.listdir(work))}
            if p.returncode:
                res["stderr"] = err[-3000:]
            out[f"atheris/{name}"] = res
            print(f"  fuzz atheris/{name}: {res['executions']} executions, rc {p.returncode}", flush=True)
    return out


def main(argv):
    quick = "--quick" in argv
    argv = [a for a in argv if a != "--quick"]
    opts = dict(zip(argv[1::2], argv[2::2]))
    g = lambda k, d, q: int(opts.get(k, q if quick else d))  # noqa: E731
    out_path = opts.get("--out", "reliability-results.json")
    base = tempfile.mkdtemp(prefix="neo_mef3-campaign-")
    results = {"machine": {"python": sys.version.split()[0], "platform": platform.platform(),
                           "cpus": os.cpu_count()}, "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    print("damage campaign ...", flush=True)
    results["damage"] = damage(base, g("--damage-random", 400, 30), g("--damage-crafted", 200, 15),
                               neo=opts.get("--neo", "1") != "0")
    print(json.dumps({k: results["damage"][k] for k in ("cases", "raise", "skip", "neo_skip", "n_failures")}),
          flush=True)
    if opts.get("--damage-only") == "1":
        with open(out_path, "w") as f:
            json.dump(results, f, indent=1, default=str)
        return 1 if results["damage"]["n_failures"] else 0
    print("fuzzing ...", flush=True)
    results["fuzz"] = fuzz({"red": g("--fuzz-red", 200000, 2000), "records": g("--fuzz-records", 200000, 2000),
                            "headers": g("--fuzz-headers", 50000, 1000), "session": g("--fuzz-session", 5000, 100)},
                           g("--atheris-seconds", 120, 5))
    print("kill-points ...", flush=True)
    results["kill"] = _child("kill_points", ["--points", g("--kill-points", 300, 20), "--seed", 11, "--durable", 0.3],
                             timeout=7200)
    print(json.dumps({k: results["kill"].get(k) for k in ("kill_points", "by_state", "n_failures")}), flush=True)
    print("readers racing an appender ...", flush=True)
    results["readers"] = _child("racing_readers", ["--readers", g("--readers", 4, 2),
                                                   "--seconds", g("--reader-seconds", 30, 3), "--seed", 12], timeout=3600)
    print(json.dumps(results["readers"]), flush=True)
    results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    with open(out_path, "w") as f:
        json.dump(results, f, indent=1, default=str)
    bad = results["damage"]["n_failures"] + results["kill"].get("n_failures", 1) + results["readers"].get("n_failures", 1)
    bad += sum(1 for r in results["fuzz"].values() if r.get("n_failures") or r.get("returncode") or r.get("hang"))
    print(f"written {out_path}; {bad} failing part(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
