"""``FeedImportWorkflow``: one scheduled run of the drop-folder import.

A Temporal Schedule (``whereabouts.feed.schedule``) starts one after each registration session
on weekdays; the run asks an activity whether today is a school day (the directory's calendar:
bank holidays, school holidays and INSET days are not) and, if it is, has another take every
feed waiting in the drop folder and feed it. Its return value and memo are the run's report in
the Web UI: file names and counts, the rejects files, never a pupil (no names, no UPNs).
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from whereabouts.activities.feed_import import FeedImportActivities
    from whereabouts.feed.drop import DropImportInput, DropImportResult, totals

IMPORT_TIMEOUT = timedelta(minutes=30)  # a county's morning feed is a few MB
IMPORT_HEARTBEAT = timedelta(minutes=5)  # one heartbeat per file taken
RETRY = RetryPolicy(initial_interval=timedelta(seconds=10), maximum_attempts=5)


@workflow.defn(name="FeedImportWorkflow")
class FeedImportWorkflow:
    @workflow.run
    async def run(self, inp: DropImportInput) -> DropImportResult:
        answer = await workflow.execute_activity_method(
            FeedImportActivities.school_day,
            inp,
            start_to_close_timeout=timedelta(minutes=1),
            retry_policy=RETRY,
            summary="is today a school day?",
        )
        if inp.only_school_days and answer.why_not:
            result = DropImportResult(folder=inp.folder, day=answer.day, skipped=answer.why_not)
            return self._report(result)
        workflow.set_current_details(f"importing the feeds in {inp.folder}")
        files = await workflow.execute_activity_method(
            FeedImportActivities.import_drop_folder,
            inp,
            start_to_close_timeout=IMPORT_TIMEOUT,
            heartbeat_timeout=IMPORT_HEARTBEAT,
            retry_policy=RETRY,
            summary=f"take and feed the files in {inp.folder}",
        )
        result = DropImportResult(folder=inp.folder, day=answer.day, files=files, totals=totals(files))
        return self._report(result)

    def _report(self, result: DropImportResult) -> DropImportResult:
        summary = result.summary()
        workflow.upsert_memo(
            {
                "summary": summary,
                "day": result.day.isoformat(),
                "skipped": result.skipped or "",
                "files": [f.name for f in result.files],
                "rejects_files": [f.rejects_file for f in result.files if f.rejects_file],
                "reports": [f.report_file for f in result.files],
                "totals": result.totals,
            }
        )
        workflow.set_current_details(summary)
        return result
