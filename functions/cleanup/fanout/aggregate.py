"""The aggregation step: the Map's results read back from S3, one organization report (JSON and Markdown), one notice.

The results are in the format Step Functions documents ("ResultWriter (Map)", Step Functions Developer Guide): a
manifest.json under the ResultWriter's prefix and map run, whose ResultFiles list the SUCCEEDED, FAILED and PENDING
result files; each file is a JSON array of child execution records (Input and Output as JSON text, Status, and Error
and Cause for a failed one). Every planned scope (items.json) appears in the report exactly once: with its tally, as
failed (its child execution failed, with the error), or as missing (no record of it: the Map stopped first).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from functions.shared.audit import AuditRecord
from functions.shared.clients import client
from functions.shared.notify import Notice
from functions.shared.refusal import cap

from ..declared import FANOUT_REPORTS_PREFIX
from ..prices import PRICES_READ
from ..report import md, money
from .messages import FAILURES_KEPT, Item, Plan, ScopeStep, Tally

DUTY = "cleanup"
Key = tuple[str, str, str]  # account, region, kind
# A child execution's end without an answer (DescribeExecution's ExecutionStatus); a PENDING one has not ended.
ENDED_BADLY = ("FAILED", "TIMED_OUT", "ABORTED")


def key_of(item: Item) -> Key:
    return item.account, item.region, item.kind


@dataclass(frozen=True)
class Outcome:
    """A planned scope's end: its tally (answered), or why it has none (its execution failed, or it is missing)."""

    item: Item
    status: str
    tally: Tally

    def row(self) -> dict[str, Any]:
        return {"account": self.item.account, "region": self.item.region, "kind": self.item.kind,
                "status": self.status, **self.tally.model_dump(exclude={"pending"}),
                "pending": len(self.tally.pending)}  # fmt: skip


def _json(text: Any) -> Any:
    try:
        return json.loads(text) if isinstance(text, str) else text
    except ValueError:
        return None


def _item_of(record: Mapping[str, Any]) -> Item | None:
    given = _json(record.get("Input"))
    try:
        return ScopeStep.model_validate(given).item
    except ValidationError:
        return None


def outcomes(planned: Sequence[Item], records: Iterable[Mapping[str, Any]], missing_reason: str) -> list[Outcome]:
    """Each planned scope once, from the child execution records (a succeeded record wins over a failed one)."""
    found: dict[Key, Outcome] = {}
    for record in records:
        item = _item_of(record)
        if item is None:
            continue
        earlier = found.get(key_of(item))
        if record.get("Status") == "SUCCEEDED":
            answer = _json(record.get("Output")) or {}
            try:
                tally = Tally.model_validate(answer.get("tally"))
            except ValidationError:
                tally = Tally(reason="its answer could not be read")
            status = str(answer.get("status") or tally.status(item.dry_run))
            found[key_of(item)] = Outcome(item, status, tally)
        elif record.get("Status") in ENDED_BADLY and (earlier is None or earlier.status == "missing"):
            why = cap(f"{record.get('Error') or record.get('Status')}: {record.get('Cause') or ''}", 1000)
            found[key_of(item)] = Outcome(item, "failed", Tally(reason=f"its execution failed: {why}"))
    return [found.get(key_of(item)) or Outcome(item, "missing", Tally(reason=missing_reason)) for item in planned]


def _read(bucket: str, key: str) -> Any:
    return json.loads(client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())


def manifest_key(plan: Plan, map_output: Mapping[str, Any]) -> str | None:
    """The Map's manifest: named in its output, or (when the Map failed) found under the results prefix."""
    details = map_output.get("ResultWriterDetails") or {}
    if isinstance(details, dict) and details.get("Key"):
        return str(details["Key"])
    pages = client("s3").get_paginator("list_objects_v2").paginate(Bucket=plan.bucket, Prefix=plan.results_prefix)
    keys = [
        entry["Key"] for page in pages for entry in page.get("Contents", []) if entry["Key"].endswith("manifest.json")
    ]
    return keys[-1] if keys else None


def records(plan: Plan, map_output: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    key = manifest_key(plan, map_output)
    if key is None:
        return
    manifest = _read(plan.bucket, key)
    for status in ("SUCCEEDED", "FAILED", "PENDING"):
        for entry in manifest.get("ResultFiles", {}).get(status, []):
            yield from _read(plan.bucket, entry["Key"])


def planned_items(plan: Plan) -> list[Item]:
    return [Item.model_validate(item) for item in _read(plan.bucket, plan.items_key)]


FIGURES = ("found", "marked", "acted", "failed")


def totals(rows: Iterable[Outcome]) -> dict[str, Any]:
    rows = list(rows)
    figures: dict[str, Any] = {name: sum(getattr(row.tally, name) for row in rows) for name in FIGURES}
    figures["monthly_usd"] = round(sum(row.tally.monthly_usd for row in rows), 2)
    figures["marked_monthly_usd"] = round(sum(row.tally.marked_monthly_usd for row in rows), 2)
    figures["scopes"] = len(rows)
    figures["failed_scopes"] = sum(1 for row in rows if row.status in ("failed", "missing"))
    return figures


def failed_accounts(rows: Sequence[Outcome]) -> list[dict[str, str]]:
    """Accounts (or an account's regions) whose scopes could not run, each with the first reason: a whole account
    once when all its scopes failed for one reason."""
    by_account: dict[str, list[Outcome]] = {}
    for row in rows:
        by_account.setdefault(row.item.account, []).append(row)
    listed: list[dict[str, str]] = []
    for account, scopes in by_account.items():
        failed = [row for row in scopes if row.tally.reason]
        if not failed:
            continue
        if len(failed) == len(scopes) and len({row.tally.reason for row in failed}) == 1:
            listed.append({"account": account, "reason": str(failed[0].tally.reason)})
            continue
        for region in dict.fromkeys(row.item.region for row in failed):
            reason = next(str(row.tally.reason) for row in failed if row.item.region == region)
            listed.append({"account": account, "region": region, "reason": reason})
    return listed


@dataclass(frozen=True)
class OrganizationReport:
    plan: Plan
    rows: list[Outcome]
    written_at: datetime
    map_error: str | None = None

    @property
    def status(self) -> str:
        if self.map_error or any(row.status in ("failed", "missing", "partial", "aborted") for row in self.rows):
            return "partial"
        return "planned" if self.plan.dry_run else "done"

    def keys(self) -> tuple[str, str]:
        base = f"{FANOUT_REPORTS_PREFIX}{self.plan.run_id}"
        return f"{base}.json", f"{base}.md"

    def per_account(self) -> dict[str, dict[str, Any]]:
        accounts: dict[str, dict[str, Any]] = {}
        for account in dict.fromkeys(row.item.account for row in self.rows):
            mine = [row for row in self.rows if row.item.account == account]
            accounts[account] = totals(mine)
        return accounts

    def answer(self, addresses: Mapping[str, str]) -> dict[str, Any]:
        everything = totals(self.rows)
        return {
            "status": self.status,
            "run_id": self.plan.run_id,
            "action": self.plan.action,
            "dry_run": self.plan.dry_run,
            "report": dict(addresses),
            "failed_accounts": failed_accounts(self.rows),
            "accounts": self.per_account(),
            "missing": sum(1 for row in self.rows if row.status == "missing"),
            "total_monthly_usd": everything["monthly_usd"],
            "total_marked_monthly_usd": everything["marked_monthly_usd"],
            "changed": not self.plan.dry_run and bool(everything["acted"] or everything["marked"]),
        }

    def document(self) -> dict[str, Any]:
        return {
            **self.answer({}),
            "started_at": self.plan.started_at,
            "written_at": self.written_at.isoformat(),
            "regions": self.plan.regions,
            "kinds": self.plan.kinds,
            "prices_read": PRICES_READ.isoformat(),
            "map_error": self.map_error,
            "totals": totals(self.rows),
            "scopes": [row.row() for row in self.rows],
        }

    def markdown(self) -> str:
        plan, everything = self.plan, totals(self.rows)
        would = "would be " if plan.dry_run else ""
        lines = [
            f"# Deckhand organization cleanup {plan.action} {plan.run_id}: {self.status}",
            "",
            f"- {len(plan.accounts)} account(s), regions {', '.join(plan.regions)}, kinds {', '.join(plan.kinds)}: "
            f"{plan.scopes} scope(s); started {plan.started_at}, written {self.written_at.isoformat()}.",
            "- Dry run: nothing was changed."
            if plan.dry_run
            else "- Real run: marked resources were tagged, acted ones changed or removed.",
            f"- Estimated monthly saving {would}acted on: {money(everything['monthly_usd'])}; of resources marked for "
            f"later: {money(everything['marked_monthly_usd'])} (list prices read {PRICES_READ.isoformat()}).",
        ]
        if self.map_error:
            lines.append(f"- The Map stopped early: {md(self.map_error)}")
        lines += ["", "| account | region | kind | status | found | marked | acted | skipped | failed | saving/month |",
                  "|---|---|---|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
        lines += [
            f"| {row.item.account} | {row.item.region} | {row.item.kind} | {row.status} | {row.tally.found} | "
            f"{row.tally.marked} | {row.tally.acted} | {sum(row.tally.skipped.values())} | {row.tally.failed} | "
            f"{money(row.tally.monthly_usd)} |"
            for row in self.rows
        ]
        skipped = [(row, why, count) for row in self.rows for why, count in row.tally.skipped.items()]
        if skipped:
            lines += [
                "",
                "## Skipped, and why",
                "",
                "| account | region | kind | reason | count |",
                "|---|---|---|---|---:|",
            ]
            lines += [
                f"| {r.item.account} | {r.item.region} | {r.item.kind} | {md(why)} | {n} |" for r, why, n in skipped
            ]
        failed = failed_accounts(self.rows)
        if failed:
            lines += ["", "## Failed accounts", ""]
            lines += [f"- {entry['account']}{' ' + entry['region'] if 'region' in entry else ''}: {md(entry['reason'])}"
                      for entry in failed]  # fmt: skip
        failures = [(row, failure) for row in self.rows for failure in row.tally.failures[:FAILURES_KEPT]]
        if failures:
            lines += [
                "",
                "## Failures",
                "",
                "| account | region | kind | id | action | error |",
                "|---|---|---|---|---|---|",
            ]
            lines += [
                f"| {r.item.account} | {r.item.region} | {r.item.kind} | {md(f.id or '(whole scope)')} | {f.action} | "
                f"{md(f.error)} |"
                for r, f in failures
            ]
        return "\n".join(lines) + "\n"

    def write(self) -> dict[str, str]:
        json_key, markdown_key = self.keys()
        s3, bucket = client("s3"), self.plan.bucket
        body = json.dumps(self.document(), indent=1, default=str).encode()
        s3.put_object(Bucket=bucket, Key=json_key, Body=body, ContentType="application/json")
        s3.put_object(Bucket=bucket, Key=markdown_key, Body=self.markdown().encode(), ContentType="text/markdown")
        return {"json": f"s3://{bucket}/{json_key}", "markdown": f"s3://{bucket}/{markdown_key}"}

    def notice(self, addresses: Mapping[str, str]) -> Notice:
        plan, everything, failed = self.plan, totals(self.rows), failed_accounts(self.rows)
        verb = "to act on" if plan.dry_run else "acted on"
        headline = (
            f"organization {plan.action}: {everything['acted']} {verb} ({money(everything['monthly_usd'])}/month), "
            f"{everything['marked']} marked, in {len(plan.accounts)} account(s)"
        )
        problems = f"{len(failed)} account(s) or region(s) failed" if failed else ""
        return Notice(
            duty=DUTY,
            severity="warning" if problems or self.map_error else "info",
            subject=headline + (f"; {problems}" if problems else ""),
            what=f"Cleanup {plan.action} {plan.run_id} over {', '.join(plan.kinds)} in {', '.join(plan.regions)} "
            f"of {len(plan.accounts)} account(s): {headline}" + (f"; {problems}" if problems else "") + ".",
            why=f"Report: {addresses['markdown']} (JSON: {addresses['json']}).",
            next_step="Read the failed accounts in the report (a member role missing or denied is named there), fix "
            "them, then run again."
            if failed
            else 'To act, start a run with {"action": "run", "kinds": [...], "dry_run": false}.'
            if plan.dry_run
            else "Marked resources are acted on by a later run once their due date has come.",
        )

    def audit_record(self, addresses: Mapping[str, str]) -> AuditRecord:
        everything = totals(self.rows)
        return AuditRecord(
            duty=DUTY,
            action=self.plan.action,
            subject=f"cleanup/organization/{self.plan.run_id}",
            outcome=self.status,
            reason=cap(
                self.map_error or "; ".join(f"{e['account']}: {e['reason']}" for e in failed_accounts(self.rows)), 500
            ),
            dry_run=self.plan.dry_run,
            at=self.written_at,
            inputs={"run_id": self.plan.run_id, "accounts": len(self.plan.accounts), "scopes": self.plan.scopes},
            after={**everything, "report": dict(addresses)},
            correlation_id=self.plan.run_id,
        )


def map_error(map_output: Mapping[str, Any]) -> str | None:
    if "Error" not in map_output:
        return None
    return cap(f"{map_output.get('Error')}: {map_output.get('Cause') or ''}", 1000)


def aggregate(plan: Plan, map_output: Mapping[str, Any], *, now: datetime) -> OrganizationReport:
    error = map_error(map_output)
    missing = f"no result for it: the Map stopped first ({error})" if error else "no result for it in the Map's results"
    rows = outcomes(planned_items(plan), records(plan, map_output), missing)
    return OrganizationReport(plan, rows, now, error)
