"""Scale benchmark: a clinic-sized database, then the bot's start-up, memory and claim query.

1. **Fill.** 100,000 consented patients in follow-up (20 therapists), their needling
   sessions spread over the last 7 days, with the plans the real code writes: one patient
   per hour of those 7 days is enrolled, joins and consents through `care` (so the real
   planner decides every check-in, its due time, expiry and quiet-hours deferral), and
   each of these 168 templates is copied to ~600 patients with `executemany` (SQLite) or
   `COPY` (PostgreSQL). Rows that fell due before now are history, as a running bot
   would have left them (check-ins done and their rows sent, one exercise reminder sent
   a day); the rest is pending. About 1,000,000 outbox rows in all.
2. **Start.** A fresh interpreter (as `python -m bot` would be) against the fake Bot
   API: imports, the migration check, `build_app`, then `make_background(...)` and one
   `run_once()` (the sweeps and the first dispatcher tick). Nothing is due at that
   instant (the bot was running until now), so the tick is the cost of looking.
   Resident memory (VmRSS, and the peak VmHWM) is read from /proc after the tick.
3. **Claim.** In that process, `claim_due(limit=200)` as the dispatcher calls it, median
   of 9 after one warm-up, with the clock moved on: *schedule* (to when the first 5,000
   pending rows are due — a morning's check-ins falling due together) and *backlog* (two
   days on: the bot was down for two days). "finding" is the claim's SELECT alone.

    .venv/bin/python bench/scale.py                 # SQLite
    .venv/bin/python bench/scale.py --pg            # and PostgreSQL (TEST_DATABASE_URL)
    .venv/bin/python bench/scale.py --patients 5000 # a quick run
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

STARTED = time.monotonic()  # before the heavy imports: the child measures them
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TOKEN = "123456:TEST-TOKEN-0123456789abcdefghij"
ZONE = "Europe/Madrid"
FIRST_TG = 1_000_000
THERAPISTS = 20
SQLITE_TS = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores a (naive UTC) DATETIME in SQLite


# ------------------------------------------------------------------------------ templates


async def make_templates(now: datetime, days: int) -> list[dict[str, Any]]:
    """One patient per hour of `days`, planned by the real code at their consent time."""
    from zoneinfo import ZoneInfo

    from sqlmodel import select

    from care.enrollment import decide_consent, enroll, open_join_link
    from care.people import find_link
    from flows.loader import load_protocol
    from store.db import create_engine, session_factory
    from store.models import Checkin, NeedlingSession, OutboxMessage, Role, StaffMember
    from tests.support.dbutil import fresh_sqlite

    protocol = load_protocol()
    templates = []
    with tempfile.TemporaryDirectory(prefix="careloop-templates-") as tmp:
        async with fresh_sqlite(Path(tmp)) as url:
            engine = create_engine(url)
            sessions = session_factory(engine)
            async with sessions() as db:
                therapist = StaffMember(
                    tg_user_id=1, role=Role.THERAPIST, name="T", created_at=now - timedelta(days=90)
                )
                desk = StaffMember(
                    tg_user_id=2, role=Role.STAFF, name="S", created_at=now - timedelta(days=90)
                )
                db.add_all([therapist, desk])
                await db.commit()
                assert therapist.id is not None
                for hour in range(days * 24):
                    ended = now - timedelta(hours=hour, minutes=17)
                    consent_at = min(ended + timedelta(minutes=30), now)
                    made = await enroll(
                        db, staff=desk, display_name=f"Template {hour}",
                        therapist_id=therapist.id, session_ended_at=ended,
                        regions=["piriformis", "hamstrings"], baseline_pain=5, language="en",
                        now=consent_at - timedelta(minutes=10), link_ttl=timedelta(hours=72),
                    )
                    link = await find_link(db, made.token)
                    assert link is not None
                    joined = await open_join_link(
                        db, link, tg_user_id=100 + hour, language="en", now=consent_at
                    )
                    assert joined.patient is not None
                    await decide_consent(
                        db, protocol, patient=joined.patient, agree=True, text_version="v1",
                        default_tz=ZoneInfo(ZONE), now=consent_at,
                    )
                    patient = joined.patient
                    pid = patient.id

                    def dump(rows: Iterable[Any]) -> list[dict[str, Any]]:
                        return [r.model_dump() for r in rows]

                    templates.append({
                        "patient": patient.model_dump(),
                        "session": dump((await db.exec(
                            select(NeedlingSession).where(NeedlingSession.patient_id == pid)
                        )).all())[0],
                        "checkins": dump((await db.exec(
                            select(Checkin).where(Checkin.patient_id == pid)
                        )).all()),
                        "outbox": dump((await db.exec(
                            select(OutboxMessage).where(OutboxMessage.patient_id == pid)
                        )).all()),
                    })
            await engine.dispose()
    return [as_of(t, now) for t in templates]


def as_of(template: dict[str, Any], now: datetime) -> dict[str, Any]:
    """What a running bot would have left by `now`: what fell due is done and sent."""
    checkins = {c["id"]: dict(c) for c in template["checkins"]}
    outbox: list[dict[str, Any]] = []
    for row in template["outbox"]:
        row = dict(row)
        if row["kind"] == "exercise":
            due = row["due_at"]
            while due <= now:  # one reminder a day, sent
                outbox.append({**row, "due_at": due, "state": "sent", "sent_at": due,
                               "message_id": 1})
                due += timedelta(days=1)
            outbox.append({**row, "due_at": due})  # and the next one, pending
            continue
        if row["due_at"] <= now:
            row.update(state="sent", sent_at=row["due_at"], message_id=1)
            checkin = checkins[row["checkin_id"]]
            checkin.update(state="done", opened_at=row["due_at"], chat_message_id=1,
                           finished_at=row["due_at"] + timedelta(minutes=20))
            if checkin["key"] in ("weekly", "adherence"):  # rolling: the next one is pending
                follow = {**checkin, "id": -checkin["id"], "state": "scheduled",
                          "due_at": checkin["due_at"] + timedelta(days=7),
                          "expires_at": checkin["expires_at"] + timedelta(days=7),
                          "opened_at": None, "finished_at": None, "chat_message_id": None}
                checkins[follow["id"]] = follow
                outbox.append({**row, "checkin_id": follow["id"], "due_at": follow["due_at"],
                               "state": "pending", "sent_at": None, "message_id": None})
        outbox.append(row)
    return {**template, "checkins": list(checkins.values()), "outbox": outbox}


# ------------------------------------------------------------------------------ filling


def table_rows(
    templates: list[dict[str, Any]], patients: int, now: datetime
) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """(table, rows) in chunks: patients, sessions, check-ins, outbox rows."""
    checkin_id = 0
    chunk = 5000
    for start in range(0, patients, chunk):
        batch: dict[str, list[dict[str, Any]]] = {
            "patient": [], "needling_session": [], "checkin": [], "outbox": []
        }
        for i in range(start, min(start + chunk, patients)):
            t = templates[i % len(templates)]
            pid, tg = i + 1, FIRST_TG + i
            batch["patient"].append({**t["patient"], "id": pid, "tg_user_id": tg,
                                     "display_name": f"Patient {pid}",
                                     "therapist_id": 1 + i % THERAPISTS,
                                     "enrolled_by": THERAPISTS + 1})
            batch["needling_session"].append({**t["session"], "id": pid, "patient_id": pid,
                                              "recorded_by": THERAPISTS + 1})
            ids = {}
            for c in t["checkins"]:
                checkin_id += 1
                ids[c["id"]] = checkin_id
                batch["checkin"].append({**c, "id": checkin_id, "patient_id": pid,
                                         "session_id": pid})
            for row in t["outbox"]:
                out = {**row, "patient_id": pid, "chat_id": tg,
                       "checkin_id": ids.get(row["checkin_id"]) if row["checkin_id"] else None}
                out.pop("id", None)
                batch["outbox"].append(out)
        yield from batch.items()


def staff_rows(now: datetime) -> list[dict[str, Any]]:
    rows = [
        {"id": i + 1, "tg_user_id": 500 + i, "role": "therapist", "name": f"Therapist {i}",
         "language": "en", "timezone": None, "active": True, "created_at": now}
        for i in range(THERAPISTS)
    ]
    rows.append({"id": THERAPISTS + 1, "tg_user_id": 499, "role": "staff", "name": "Desk",
                 "language": "en", "timezone": None, "active": True, "created_at": now})
    return rows


def columns_of(table: str) -> list[str]:
    from sqlmodel import SQLModel

    import store.models  # noqa: F401  (registers the tables)

    return [c.name for c in SQLModel.metadata.tables[table].columns]


def sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None).strftime(SQLITE_TS)
    if isinstance(value, list | dict):
        return json.dumps(value)
    if isinstance(value, bool):
        return int(value)
    return value


def pg_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).replace(tzinfo=None)
    if isinstance(value, list | dict):
        return json.dumps(value)
    return value


def fill_sqlite(path: str, templates: list[dict[str, Any]], patients: int,
                now: datetime) -> dict[str, int]:
    counts: dict[str, int] = {}
    with sqlite3.connect(path) as con:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=OFF")

        def put(table: str, rows: list[dict[str, Any]]) -> None:
            cols = [c for c in columns_of(table) if not (table == "outbox" and c == "id")]
            con.executemany(
                f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                ([sqlite_value(r.get(c)) for c in cols] for r in rows),
            )
            counts[table] = counts.get(table, 0) + len(rows)

        put("staff_member", staff_rows(now))
        for table, rows in table_rows(templates, patients, now):
            put(table, rows)
        con.commit()
        con.execute("ANALYZE")
    return counts


async def fill_postgres(url: str, templates: list[dict[str, Any]], patients: int,
                        now: datetime) -> dict[str, int]:
    import asyncpg

    from tests.support.dbutil import _plain_dsn

    counts: dict[str, int] = {}
    con = await asyncpg.connect(_plain_dsn(url))
    try:
        async def put(table: str, rows: list[dict[str, Any]]) -> None:
            cols = [c for c in columns_of(table) if not (table == "outbox" and c == "id")]
            await con.copy_records_to_table(
                table, columns=cols, records=[[pg_value(r.get(c)) for c in cols] for r in rows]
            )
            counts[table] = counts.get(table, 0) + len(rows)

        await put("staff_member", staff_rows(now))
        for table, rows in table_rows(templates, patients, now):
            await put(table, rows)
        for table in ("staff_member", "patient", "needling_session", "checkin"):
            await con.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        await con.execute("VACUUM ANALYZE")
    finally:
        await con.close()
    return counts


# ------------------------------------------------------------------------------ the child


def memory() -> dict[str, float]:
    """This process's resident set now and at its peak, MiB (Linux /proc)."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields


async def child() -> None:
    """A fresh interpreter: start the bot's app as `python -m bot` does, then measure."""
    import statistics

    from sqlmodel import col, select

    from bot.app import build_app
    from bot.background import make_background
    from bot.config import load_settings
    from store import outbox
    from store.migrate import upgrade_async
    from store.models import OutboxMessage, OutboxState

    imported = time.monotonic()
    settings = load_settings(os.environ)
    await upgrade_async(settings.database_url)
    migrated = time.monotonic()
    app = await build_app(settings)
    built = time.monotonic()
    background = make_background(app.bot, app.sessions, app.protocol, settings, app.clock)
    await background.run_once()
    ticked = time.monotonic()
    rss = memory()
    claims: dict[str, Any] = {}
    async with app.sessions() as db:  # the instant by which 5,000 pending rows are due
        fifth = (
            await db.exec(
                select(OutboxMessage.due_at)
                .where(OutboxMessage.state == OutboxState.PENDING)
                .order_by(col(OutboxMessage.due_at))
                .offset(4999)
                .limit(1)
            )
        ).one()
    shapes = (("schedule", fifth), ("backlog", app.clock.now() + timedelta(days=2)))
    for shape, at in shapes:
        timings, finds, sizes = [], [], []
        for i in range(10):
            async with app.sessions() as db:
                t = time.perf_counter()
                await db.exec(outbox.due_ids(at, 200))
                found = time.perf_counter()
                await db.rollback()
                t2 = time.perf_counter()
                claimed = await outbox.claim_due(db, now=at, limit=200, worker=f"bench{i}")
                took = time.perf_counter() - t2
            if i:  # the first one warms the connection and the caches
                timings.append(took * 1000)
                finds.append((found - t) * 1000)
                sizes.append(len(claimed))
        async with app.sessions() as db:
            due = await db.exec(outbox.due_ids(at, 10**7))
            claims[shape] = {
                "median_ms": statistics.median(timings), "max_ms": max(timings),
                "find_ms": statistics.median(finds), "claimed": min(sizes),
                "due": len(due.all()),
            }
    await app.close()
    print(json.dumps({
        "import_s": imported - STARTED, "migrate_s": migrated - imported,
        "build_s": built - migrated, "tick_s": ticked - built,
        "start_s": ticked - imported, "rss_mib": rss["VmRSS"], "hwm_mib": rss["VmHWM"],
        "claims": claims,
    }))


async def measure(url: str, fake_url: str) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BOT_", "TELEGRAM_"))}
    env.update(BOT_TOKEN=TOKEN, TELEGRAM_API_URL=fake_url, DATABASE_URL=url,
               CLINIC_PHONE="+34 900 000 000", EMERGENCY_NUMBER="112",
               CLINIC_TIMEZONE=ZONE, LOG_LEVEL="WARNING", PYTHONPATH=str(ROOT))
    spawned = time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--child", env=env, cwd=str(ROOT),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"child failed ({proc.returncode}):\n{err.decode()[-3000:]}")
    result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    result["wall_s"] = time.monotonic() - spawned
    return result


# ------------------------------------------------------------------------------ main


async def run(backend: str, patients: int, days: int) -> dict[str, Any]:
    from tests.fakebot import FakeBotAPI
    from tests.support.dbutil import bench_database

    now = datetime.now(UTC)
    t0 = time.monotonic()
    templates = await make_templates(now, days)
    t1 = time.monotonic()
    async with bench_database(backend) as url:
        if backend == "sqlite":
            path = url.split("///", 1)[1]
            counts = await asyncio.to_thread(fill_sqlite, path, templates, patients, now)
            size = sum(p.stat().st_size for p in Path(path).parent.glob("*.db*")) / 2**20
        else:
            counts = await fill_postgres(url, templates, patients, now)
            size = 0.0
        t2 = time.monotonic()
        fake = FakeBotAPI(token=TOKEN)
        await fake.start()
        try:
            result = await measure(url, fake.url)
        finally:
            await fake.stop()
    pending = sum(1 for t in templates for r in t["outbox"] if r["state"] == "pending")
    return {"backend": backend, "counts": counts, "templates_s": t1 - t0, "fill_s": t2 - t1,
            "db_mib": size, "pending_share": pending / sum(len(t["outbox"]) for t in templates),
            **result}


def report(r: dict[str, Any]) -> None:
    c = r["counts"]
    print(
        f"{r['backend']}: {c['patient']:,} patients, {c['checkin']:,} check-ins, "
        f"{c['outbox']:,} outbox rows (~{r['pending_share']:.0%} pending) "
        f"[templates {r['templates_s']:.0f} s, fill {r['fill_s']:.0f} s"
        + (f", file {r['db_mib']:.0f} MiB" if r["db_mib"] else "") + "]",
    )
    verdict_rss = "meets" if r["hwm_mib"] <= 300 else "MISSES"
    print(
        f"  start: imports {r['import_s']:.2f} s, migration check {r['migrate_s']:.2f} s, "
        f"build_app {r['build_s']:.2f} s, sweeps + first tick {r['tick_s']:.2f} s "
        f"→ build_app + first tick {r['build_s'] + r['tick_s']:.2f} s "
        f"(process spawn to end of measurements {r['wall_s']:.1f} s)"
    )
    print(f"  memory after the first tick: RSS {r['rss_mib']:.0f} MiB, peak {r['hwm_mib']:.0f} "
          f"MiB — {verdict_rss} the 300 MB target")
    for shape, m in r["claims"].items():
        verdict = "meets" if m["median_ms"] <= 20 else "MISSES"
        print(
            f"  claim_due(200), {shape} ({m['due']:,} due): median {m['median_ms']:.1f} ms "
            f"(max {m['max_ms']:.1f}), finding alone {m['find_ms']:.1f} ms — {verdict} 20 ms",
            flush=True,
        )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=7, help="sessions spread over these days")
    parser.add_argument("--pg", action="store_true", help="also PostgreSQL (TEST_DATABASE_URL)")
    parser.add_argument("--pg-only", action="store_true")
    args = parser.parse_args()
    backends = ["postgresql"] if args.pg_only else ["sqlite"] + (["postgresql"] if args.pg else [])
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}", flush=True)
    for backend in backends:
        report(await run(backend, args.patients, args.days))


if __name__ == "__main__":
    asyncio.run(child() if "--child" in sys.argv[1:] else main())
