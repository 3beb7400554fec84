"""A run's report: what was found, marked, acted on, skipped and why, every failure, and the monthly saving.

Plain data first (`summarize`), then JSON and Markdown from it, written to S3 under
reports/YYYY/MM/DD/<run_id>.{json,md}, and a summary Notice for the topic.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from functions.shared.clients import client
from functions.shared.notify import Notice

from .engine import RunState, ScopeResult
from .prices import PRICES_READ, listed

DUTY = "cleanup"
MARKDOWN_ROWS = 50  # acted and marked resources listed per scope in the Markdown; the JSON lists them all


def status_of(state: RunState) -> str:
    if not state.finished:
        return "stopped"
    if any(result.failures or result.aborted for result in state.results):
        return "partial"
    return "planned" if state.dry_run else "done"


def kind_summary(results: Sequence[ScopeResult]) -> dict[str, Any]:
    """One kind's figures over its regions."""
    skipped: Counter[str] = Counter()
    for result in results:
        skipped.update(result.skipped)
    aborted = [f"{result.scope.region}: {result.aborted}" for result in results if result.aborted]
    return {
        "found": sum(result.found for result in results),
        "marked": sum(len(result.marked) for result in results),
        "acted": sum(len(result.acted) for result in results),
        "skipped": dict(sorted(skipped.items())),
        "failed": sum(len(result.failures) for result in results),
        "pending": sum(len(result.pending) for result in results),
        "aborted": "; ".join(aborted) or None,
        "monthly_usd": round(sum(result.monthly_usd for result in results), 2),
        "marked_monthly_usd": round(sum(result.marked_monthly_usd for result in results), 2),
    }


def summarize(state: RunState) -> dict[str, Any]:
    """The run's figures, by kind and in total (the handler's answer carries these)."""
    kinds = {
        kind: kind_summary([result for result in state.results if result.scope.kind == kind]) for kind in state.kinds
    }
    return {
        "status": status_of(state),
        "run_id": state.run_id,
        "dry_run": state.dry_run,
        "kinds": kinds,
        "total_monthly_usd": round(sum(summary["monthly_usd"] for summary in kinds.values()), 2),
        "total_marked_monthly_usd": round(sum(summary["marked_monthly_usd"] for summary in kinds.values()), 2),
        "failures": [failure.__dict__ for result in state.results for failure in result.failures],
    }


@dataclass(frozen=True)
class Report:
    state: RunState
    written_at: datetime

    @property
    def summary(self) -> dict[str, Any]:
        return summarize(self.state)

    def keys(self) -> tuple[str, str]:
        started = datetime.fromisoformat(self.state.started_at)
        base = f"reports/{started:%Y/%m/%d}/{self.state.run_id}"
        return f"{base}.json", f"{base}.md"

    def document(self) -> dict[str, Any]:
        state = self.state
        return {
            **self.summary,
            "action": state.action,
            "account": state.account,
            "regions": state.regions,
            "started_at": state.started_at,
            "written_at": self.written_at.isoformat(),
            "invocations": state.invocations,
            "prices_read": PRICES_READ.isoformat(),
            "regions_priced_as_us_east_1": [region for region in state.regions if not listed(region)],
            "scopes": [
                {**result.to_json(), "monthly_usd": result.monthly_usd, "marked_monthly_usd": result.marked_monthly_usd}
                for result in state.results
            ],
            "not_started": [{"region": region, "kind": kind} for region, kind in state.todo],
        }

    def markdown(self) -> str:
        state, summary = self.state, self.summary
        would = "would be " if state.dry_run else ""
        lines = [
            f"# Deckhand cleanup {state.action} {state.run_id}: {summary['status']}",
            "",
            f"- Account {state.account}, regions {', '.join(state.regions)}; started {state.started_at}, "
            f"written {self.written_at.isoformat()} ({state.invocations} invocation(s)).",
            "- Dry run: nothing was changed; the figures are what a real run would do."
            if state.dry_run
            else "- Real run: marked resources were tagged, acted ones changed or removed.",
            f"- Estimated monthly saving {would}acted on: {money(summary['total_monthly_usd'])}; "
            f"of resources marked for later: {money(summary['total_marked_monthly_usd'])} "
            f"(list prices read {PRICES_READ.isoformat()}).",
            "",
            "| kind | found | marked | acted | skipped | failed | aborted | saving/month |",
            "|---|---:|---:|---:|---:|---:|---|---:|",
        ]
        for kind, figures in summary["kinds"].items():
            lines.append(
                f"| {kind} | {figures['found']} | {figures['marked']} | {figures['acted']} | "
                f"{sum(figures['skipped'].values())} | {figures['failed']} | {'yes' if figures['aborted'] else ''} | "
                f"{money(figures['monthly_usd'])} |"
            )
        lines += self._aborted(summary) + self._skipped(summary) + self._failures() + self._resources()
        if state.todo or any(result.pending for result in state.results):
            lines += [
                "",
                "## Not done yet",
                "",
                "The run stopped before its time ran out; the next invocation resumes it.",
            ]
        return "\n".join(lines) + "\n"

    def _aborted(self, summary: dict[str, Any]) -> list[str]:
        aborted = [(kind, figures["aborted"]) for kind, figures in summary["kinds"].items() if figures["aborted"]]
        return (
            ["", "## Aborted by the blast-radius cap", ""] + [f"- {kind}: {why}" for kind, why in aborted]
            if aborted
            else []
        )

    def _skipped(self, summary: dict[str, Any]) -> list[str]:
        rows = [
            f"| {kind} | {md(reason)} | {count} |"
            for kind, figures in summary["kinds"].items()
            for reason, count in figures["skipped"].items()
        ]
        return ["", "## Skipped, and why", "", "| kind | reason | count |", "|---|---|---:|", *rows] if rows else []

    def _failures(self) -> list[str]:
        failures = [failure for result in self.state.results for failure in result.failures]
        rows = [
            f"| {f.kind} | {f.region} | {md(f.id or '(whole scope)')} | {f.action} | {md(f.error)} |" for f in failures
        ]
        header = ["", "## Failures", "", "| kind | region | id | action | error |", "|---|---|---|---|---|"]
        return header + rows if rows else []

    def _resources(self) -> list[str]:
        lines: list[str] = []
        verb = "Would act on" if self.state.dry_run else "Acted on"
        for result in self.state.results:
            for title, items in ((verb, result.acted), ("Marked", result.marked)):
                if not items:
                    continue
                lines += ["", f"## {title}: {result.scope.kind} in {result.scope.region}", ""]
                lines += [
                    f"- {md(item.id)} {md(item.name)}: {item.action}, {money(item.monthly_usd)}/month ({md(item.why)})"
                    + (f", due {item.due}" if title == "Marked" else "")
                    for item in items[:MARKDOWN_ROWS]
                ]
                if len(items) > MARKDOWN_ROWS:
                    lines.append(f"- ... and {len(items) - MARKDOWN_ROWS} more (see the JSON report)")
        return lines

    def write(self, bucket: str) -> dict[str, str]:
        """Put both forms in the bucket; their s3:// addresses."""
        json_key, markdown_key = self.keys()
        s3 = client("s3")
        body = json.dumps(self.document(), indent=1, default=str)
        s3.put_object(Bucket=bucket, Key=json_key, Body=body.encode(), ContentType="application/json")
        s3.put_object(Bucket=bucket, Key=markdown_key, Body=self.markdown().encode(), ContentType="text/markdown")
        return {"json": f"s3://{bucket}/{json_key}", "markdown": f"s3://{bucket}/{markdown_key}"}

    def notice(self, addresses: dict[str, str]) -> Notice:
        summary, state = self.summary, self.state
        acted = sum(figures["acted"] for figures in summary["kinds"].values())
        marked = sum(figures["marked"] for figures in summary["kinds"].values())
        failed = len(summary["failures"])
        aborted = [kind for kind, figures in summary["kinds"].items() if figures["aborted"]]
        if state.dry_run:
            headline = f"plan: {acted} to act on ({money(summary['total_monthly_usd'])}/month), {marked} to mark"
        else:
            headline = f"{acted} acted on ({money(summary['total_monthly_usd'])}/month saved), {marked} marked"
        problems = ", ".join(
            part
            for part in (f"{failed} failed" if failed else "", f"aborted: {', '.join(aborted)}" if aborted else "")
            if part
        )
        next_step = (
            'To act, invoke the cleanup function with {"action": "run", "kinds": [...], "dry_run": false}.'
            if state.dry_run
            else "Marked resources are acted on by a later run once their due date has come, unless tagged "
            "with the protect tag meanwhile."
        )
        if problems:
            next_step = (
                f"Read the failures and aborted kinds in the report, fix or raise the caps, then run again. {next_step}"
            )
        return Notice(
            duty=DUTY,
            severity="warning" if problems else "info",
            subject=headline + (f"; {problems}" if problems else ""),
            what=f"Cleanup {state.action} {state.run_id} over {', '.join(state.kinds)} in {', '.join(state.regions)}: "
            f"{headline}" + (f"; {problems}" if problems else "") + ".",
            why="Stale resources cost money; each was checked against the protect tag, its owner, what uses it, its "
            f"age and its mark. Report: {addresses['markdown']} (JSON: {addresses['json']}).",
            next_step=next_step,
        )


def money(usd: float) -> str:
    return f"${usd:,.2f}"


def md(text: str) -> str:
    """Text safe inside a Markdown table cell."""
    return " ".join(str(text).split()).replace("|", "\\|")
