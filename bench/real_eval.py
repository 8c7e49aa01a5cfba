"""The engine on real customers' messages: `expertise evaluate` on the shared real set.

Run from the repository root::

    python bench/real_eval.py                 # the development half
    python bench/real_eval.py --half held     # the held-out half (final figures only)
    python bench/real_eval.py --half both --json
    python bench/real_eval.py --labels all    # shared labels plus the team's (docs/labelling.md)
    python bench/real_eval.py --labels tests --half all   # the test draws (see below)
    python bench/real_eval.py --labels external --half all   # the external test sets
    python bench/real_eval.py --labels external2 --half all

The real set (``../shared/real/``: 2,320 messages customers wrote to support accounts, 300 of
them labelled with a topic or ``none`` and a level or ``unclear``) is licensed for evaluation
and analysis only, so nothing of it is copied into the repository: this script joins the
labels to the messages in a temporary folder, adds each labelled customer's other messages as
their history (unlabelled), and runs ``expertise evaluate --data`` on it. Only figures are
printed (and written with ``--out``).

The set is split once by customer: a customer is in the development half when
``sha256("expertise-real-split:" + customer_id)`` is even, else in the held-out half. A
customer's messages within 24 hours of each other form one conversation (the file has no
thread ids); the addressed account is the ``product`` column.

``--labels`` picks the labels: ``shared`` (the default, so that figures stay comparable with
earlier runs) is ``labelled.csv`` of the real set; ``team`` is ``bench/real_labels_team.csv``,
400 more messages the team labelled by hand (ids and labels only, see docs/labelling.md);
``all`` is both, a message labelled in both keeping its shared label. The split by customer is
the same for every choice.

``external`` is ``bench/real_labels_external.csv``: 1,124 messages of another public
collection (tweets to US carriers, 2015), labelled blind by the team when every message of the
shared set had been used; their text is read from ``../extra_real/messages.csv`` (or
``--shared``), never from the repository. ``external2`` is ``bench/real_labels_external2.csv``,
697 tweets to telecom accounts from another sample of the Kaggle corpus, text in
``../extra_real3/``. Score them with ``--half all`` (docs/labelling.md, "External test sets").

``fresh`` is ``bench/real_labels_fresh.csv``: 600 further messages the team labelled blind
(the next draw of docs/labelling.md) once the held-out half had been looked at twice, and
``fresh2`` (``bench/real_labels_fresh2.csv``) the 600 after those, ``fresh3`` the last 420
messages of the file; ``tests`` is all three. They are the test sets: scored with ``--half
all`` (every customer, no split) for a round's final figures, never for choosing anything.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SHARED = ROOT.parent / "shared" / "real"
#: The team's own labels: message_id, topic, level, labeller (no message text).
TEAM_LABELS = ROOT / "bench" / "real_labels_team.csv"
#: The test draws: labelled after the held-out half was spent (ids and labels only).
FRESH_LABELS = {"fresh": (ROOT / "bench" / "real_labels_fresh.csv",),
                "fresh2": (ROOT / "bench" / "real_labels_fresh2.csv",),
                "fresh3": (ROOT / "bench" / "real_labels_fresh3.csv",)}
FRESH_LABELS["tests"] = FRESH_LABELS["fresh"] + FRESH_LABELS["fresh2"] + FRESH_LABELS["fresh3"]
#: External test sets, labelled blind by the team (docs/labelling.md, "External test sets"):
#: name -> (labels, the folder outside the repository that holds their messages.csv).
#: ``external``: 1,124 tweets to US carriers (2015) from another public collection;
#: ``external2``: tweets to telecom accounts from a sample of the Kaggle corpus (2017) that
#: the shared set does not hold.
EXTERNAL = {"external": (ROOT / "bench" / "real_labels_external.csv", ROOT.parent / "extra_real"),
            "external2": (ROOT / "bench" / "real_labels_external2.csv",
                          ROOT.parent / "extra_real3")}
LABEL_SETS = ("shared", "team", "all", *FRESH_LABELS, *EXTERNAL)
#: Messages of one customer this close together belong to one conversation.
CONVERSATION_GAP_HOURS = 24.0


def half_of(customer_id: str) -> str:
    digest = hashlib.sha256(("expertise-real-split:" + customer_id).encode()).hexdigest()
    return "dev" if int(digest, 16) % 2 == 0 else "held"


def _when(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _read_labels(path: Path, by_id: dict[str, dict]) -> dict[str, dict]:
    with path.open(encoding="utf-8", newline="") as handle:
        labels = {row["message_id"]: row for row in csv.DictReader(handle)}
    missing = [k for k in labels if k not in by_id]
    if missing:
        raise SystemExit(f"{path}: {len(missing)} labelled ids not in messages.csv")
    return labels


def load_labels(shared: Path, which: str, by_id: dict[str, dict],
                team: Path = TEAM_LABELS) -> dict[str, dict]:
    """The labels to score, by message id: shared, team, or all (shared wins over team)."""
    if which not in LABEL_SETS:
        raise SystemExit(f"--labels must be one of {', '.join(LABEL_SETS)}, not {which!r}")
    labels: dict[str, dict] = {}
    if which in EXTERNAL:
        return _read_labels(EXTERNAL[which][0], by_id)
    if which in FRESH_LABELS:
        for path in FRESH_LABELS[which]:
            labels.update(_read_labels(path, by_id))
        return labels
    if which in ("team", "all"):
        labels.update(_read_labels(team, by_id))
    if which in ("shared", "all"):
        labels.update(_read_labels(shared / "labelled.csv", by_id))
    return labels


def build(shared: Path, half: str, out: Path, labels_from: str = "shared",
          team: Path = TEAM_LABELS) -> dict[str, int]:
    """Write the evaluation CSV of one half (or both) to `out`; return its counts."""
    if not (shared / "messages.csv").is_file():
        raise SystemExit(f"{shared / 'messages.csv'}: no such file; point --shared at the "
                         "folder that holds the messages (docs/labelling.md says where they "
                         "come from)")
    with (shared / "messages.csv").open(encoding="utf-8", newline="") as handle:
        messages = list(csv.DictReader(handle))
    by_id = {m["message_id"]: m for m in messages}
    labels = load_labels(shared, labels_from, by_id, team)
    wanted = {by_id[k]["customer_id"] for k in labels}
    wanted = {c for c in wanted if half in ("both", "all") or half_of(c) == half}
    rows = sorted((m for m in messages if m["customer_id"] in wanted),
                  key=lambda m: (m["customer_id"], m["created_at"], m["message_id"]))
    conversation, last, count = {}, {}, {}
    for m in rows:
        cid, when = m["customer_id"], _when(m["created_at"])
        gap = (when - last[cid]).total_seconds() / 3600 if cid in last else None
        if gap is None or gap > CONVERSATION_GAP_HOURS:
            count[cid] = count.get(cid, 0) + 1
        last[cid] = when
        conversation[m["message_id"]] = f"{cid}#{count[cid]}"
    fields = ["ticket_id", "customer_id", "created_at", "channel", "subject", "body",
              "expertise_level", "topic", "role", "product", "conversation_id"]
    judged = 0
    with out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for m in rows:
            label = labels.get(m["message_id"])
            judged += label is not None
            writer.writerow({
                "ticket_id": m["message_id"], "customer_id": m["customer_id"],
                "created_at": m["created_at"], "channel": "chat", "subject": "",
                "body": m["body"], "expertise_level": label["level"] if label else "",
                "topic": label["topic"] if label else "",
                "role": "current" if label else "history", "product": m["brand"],
                "conversation_id": conversation[m["message_id"]],
            })
    return {"customers": len(wanted), "messages": len(rows), "labelled": judged}


def evaluate(path: Path, model: str | None) -> dict:
    command = [sys.executable, "-m", "expertise", "evaluate", "--data", str(path), "--json"]
    if model:
        command += ["--model", model, "--trust"]
    done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=ROOT)
    if done.returncode:
        raise SystemExit(f"expertise evaluate failed:\n{done.stderr}")
    return json.loads(done.stdout)


def summary(report: dict) -> dict:
    res = next(iter(report["sets"].values()))
    out = dict(res.get("open") or {})
    if "topic" in res:
        out["topic_top1"], out["topic_top3"] = res["topic"]["top1"], res["topic"]["top3"]
    hist = (res.get("history") or {}).get("all")
    if hist:
        out["history_customers"] = hist["n"]
        out["history_accuracy"] = hist["accuracy"]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--shared", type=Path, default=DEFAULT_SHARED,
                        help="The folder holding messages.csv and labelled.csv.")
    parser.add_argument("--half", choices=("dev", "held", "both", "all"), default="dev",
                        help="dev, held, both (each reported), or all (one set, no split).")
    parser.add_argument("--labels", choices=LABEL_SETS, default="shared",
                        help="Which labels to score: the real set's (default), the team's "
                             "(bench/real_labels_team.csv), or all (shared wins on overlap).")
    parser.add_argument("--team-labels", type=Path, default=TEAM_LABELS,
                        help="The team's label file (default: %(default)s).")
    parser.add_argument("--model", help="A bundle folder (default: the current model).")
    parser.add_argument("--json", action="store_true", help="Print the whole report as JSON.")
    parser.add_argument("--out", type=Path, help="Also write the figures (JSON) here.")
    args = parser.parse_args(argv)
    if args.labels in EXTERNAL and args.shared == DEFAULT_SHARED:
        args.shared = EXTERNAL[args.labels][1]
    halves = ("dev", "held") if args.half == "both" else (args.half,)
    results = {}
    with tempfile.TemporaryDirectory(prefix="expertise-real-") as tmp:
        for half in halves:
            path = Path(tmp) / f"real_{half}.csv"
            counts = build(args.shared, half, path, args.labels, args.team_labels)
            report = evaluate(path, args.model)
            results[half] = {"labels": args.labels, "counts": counts,
                             "figures": summary(report),
                             **({"report": report} if args.json else {})}
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for half, res in results.items():
            print(f"== {half} half, {args.labels} labels: {res['counts']}")
            for key, value in res["figures"].items():
                print(f"  {key:32} {value}")
    if args.out:
        args.out.write_text(json.dumps({h: {k: v for k, v in r.items() if k != "report"}
                                        for h, r in results.items()}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
