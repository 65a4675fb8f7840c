#!/usr/bin/env python3
"""Offline tests of infra/redrive_dead_letters.py: its parsing, and whole runs against a
stand-in `aws` that plays the stack (no account, no network).

  python3 -m unittest infra/test_redrive_dead_letters.py     (infra/check-deploy.sh runs it)
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import sys
import unittest
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import redrive_dead_letters as redrive  # noqa: E402

DATA = Path(__file__).resolve().parent / "testdata" / "dead-letters"
JOB_ITEM = json.loads((DATA / "job-item.json").read_text())
MESSAGE = json.loads((DATA / "message.json").read_text())
JOB_ID = JOB_ITEM["id"]["S"]
# Two hours after the batch: still in the stream.
SOON = dt.datetime(2026, 11, 22, 7, 0, tzinfo=dt.timezone.utc)
# Two days after: trimmed from the stream.
LATE = dt.datetime(2026, 11, 24, 5, 0, tzinfo=dt.timezone.utc)


def stream_record(sequence: str, event_name: str, pk: str, sk: str) -> dict:
    return {"eventID": sequence, "eventName": event_name, "eventSource": "aws:dynamodb",
            "dynamodb": {"Keys": {"pk": {"S": pk}, "sk": {"S": sk}}, "SequenceNumber": sequence,
                         "StreamViewType": "NEW_IMAGE"}}


# The shard as `get-records` shows it: one record before the batch, the batch's two (a
# job insert and the job's later update, which the filter would not have passed), one after.
SHARD = [
    stream_record("4815162342000000000001234566", "INSERT", "JOB#earlier", "JOB"),
    stream_record("4815162342000000000001234567", "INSERT", f"JOB#{JOB_ID}", "JOB"),
    stream_record("4815162342000000000001234568", "MODIFY", f"JOB#{JOB_ID}", "JOB"),
    stream_record("4815162342000000000001234569", "INSERT", "JOB#later", "JOB"),
]


class FakeAws:
    """Plays the stack: one dead letter, the shard above, the job in the table."""

    def __init__(self, worker_fails: bool = False):
        self.calls: list[list[str]] = []
        self.messages = [copy.deepcopy(MESSAGE)]
        self.jobs = {JOB_ID: copy.deepcopy(JOB_ITEM)}
        self.worker_fails = worker_fails
        self.invoked: list[dict] = []

    def __call__(self, args: list[str]) -> str:
        self.calls.append(args)
        assert args[-2:] == ["--output", "json"], args
        service, operation = args[0], args[1]
        value = lambda flag: args[args.index(flag) + 1]  # noqa: E731
        if (service, operation) == ("cloudformation", "describe-stacks"):
            return json.dumps([{"OutputKey": "JobDeadLetterQueueUrl", "OutputValue": "https://sqs/dlq"},
                               {"OutputKey": "CallsTableName", "OutputValue": "calls-table"}])
        if (service, operation) == ("sqs", "receive-message"):
            return json.dumps({"Messages": self.messages})
        if (service, operation) == ("sqs", "delete-message"):
            self.messages = [m for m in self.messages if m["ReceiptHandle"] != value("--receipt-handle")]
            return ""
        if (service, operation) == ("dynamodbstreams", "get-shard-iterator"):
            assert value("--shard-iterator-type") == "AT_SEQUENCE_NUMBER"
            start = [r["dynamodb"]["SequenceNumber"] for r in SHARD].index(value("--sequence-number"))
            return json.dumps({"ShardIterator": f"it-{start}"})
        if (service, operation) == ("dynamodbstreams", "get-records"):
            start = int(value("--shard-iterator").split("-")[1])
            # One record a page, as a slow shard may answer.
            page = SHARD[start:start + 1]
            following = f"it-{start + 1}" if start + 1 < len(SHARD) else None
            return json.dumps({"Records": page, "NextShardIterator": following})
        if (service, operation) == ("dynamodb", "get-item"):
            job_id = json.loads(value("--key"))["pk"]["S"].removeprefix("JOB#")
            item = self.jobs.get(job_id)
            return json.dumps({"Item": item} if item else {})
        if (service, operation) == ("dynamodb", "scan"):
            return json.dumps({"Items": [j for j in self.jobs.values() if j["status"]["S"] == "pending"]})
        if (service, operation) == ("lambda", "invoke"):
            # Waits out the worker's 120 s timeout rather than invoking it again.
            assert int(value("--cli-read-timeout")) > 120, args
            payload = value("--payload")
            event = json.loads(Path(payload.removeprefix("fileb://")).read_text())
            self.invoked.append(event)
            answer = {"batchItemFailures": []}
            for record in event["Records"]:
                job_id = record["dynamodb"]["NewImage"]["id"]["S"]
                if self.worker_fails:
                    answer["batchItemFailures"].append({"itemIdentifier": record["dynamodb"]["SequenceNumber"]})
                else:
                    self.jobs[job_id]["status"] = {"S": "done"}
            Path(args[args.index(payload) + 1]).write_text(json.dumps(answer))
            return json.dumps({"StatusCode": 200, "ExecutedVersion": "$LATEST"})
        raise AssertionError(f"unexpected aws call {args}")

    def operations(self) -> list[str]:
        return [f"{a[0]} {a[1]}" for a in self.calls]


def run(fake: FakeAws, redrive_them: bool, now: dt.datetime) -> tuple[int, list[str]]:
    lines: list[str] = []
    code = redrive.run(redrive.Aws("us-east-1", fake), "slack-calls", redrive_them, now, lines.append)
    return code, lines


class Parsing(unittest.TestCase):
    def test_a_dead_letter_names_its_stream_batch(self):
        batch = redrive.parse_message(MESSAGE)
        self.assertEqual(batch.condition, "RetryAttemptsExhausted")
        self.assertEqual(batch.invocations, 4)
        self.assertEqual(batch.shard_id, "shardId-00000001795319000000-5a7b9c1d")
        self.assertEqual((batch.start_sequence, batch.end_sequence),
                         ("4815162342000000000001234567", "4815162342000000000001234568"))
        self.assertEqual(batch.batch_size, 2)
        self.assertTrue(batch.stream_arn.endswith("/stream/2026-11-01T00:00:00.000"))
        self.assertEqual(batch.first_arrival, dt.datetime(2026, 11, 22, 5, 0, tzinfo=dt.timezone.utc))
        self.assertEqual(batch.receipt_handle, "AQEB-receipt-handle-of-the-dead-letter")

    def test_other_messages_are_refused(self):
        for body in ["not json", "{}", json.dumps({"DDBStreamBatchInfo": {"shardId": "s"}}),
                     json.dumps({"requestPayload": {"Records": []}})]:
            with self.subTest(body=body), self.assertRaises(redrive.Unreplayable):
                redrive.parse_message({"MessageId": "m", "ReceiptHandle": "r", "Body": body})

    def test_the_stream_is_read_only_within_its_retention(self):
        batch = redrive.parse_message(MESSAGE)
        self.assertTrue(batch.readable_from_stream(SOON))
        self.assertTrue(batch.readable_from_stream(batch.first_arrival + dt.timedelta(hours=23)))
        self.assertFalse(batch.readable_from_stream(batch.first_arrival + dt.timedelta(hours=23, minutes=31)))
        self.assertFalse(batch.readable_from_stream(LATE))

    def test_the_batchs_records_give_its_inserted_jobs(self):
        batch = redrive.parse_message(MESSAGE)
        kept, past_end = redrive.records_in_range(SHARD, batch)
        self.assertEqual([r["dynamodb"]["SequenceNumber"] for r in kept],
                         [batch.start_sequence, batch.end_sequence])
        self.assertTrue(past_end)
        self.assertEqual(redrive.job_ids_from_records(kept), [JOB_ID])
        self.assertEqual(redrive.job_ids_from_records([stream_record("1", "INSERT", "CALL#c", "CALL"),
                                                      stream_record("2", "INSERT", "JOB#x", "CALL"),
                                                      stream_record("3", "REMOVE", "JOB#x", "JOB")]), [])

    def test_the_worker_gets_the_job_as_the_stream_delivers_it(self):
        # The same file the worker's Rust test reads: both sides agree on the shape.
        expected = json.loads((DATA / "worker-event.json").read_text())
        event = redrive.worker_event([JOB_ITEM], redrive.parse_message(MESSAGE).stream_arn, "us-east-1",
                                     dt.datetime(2026, 11, 22, 6, 0, tzinfo=dt.timezone.utc))
        self.assertEqual(event, expected)


class Runs(unittest.TestCase):
    def test_listing_changes_nothing(self):
        fake = FakeAws()
        code, lines = run(fake, False, SOON)
        self.assertEqual(code, 0)
        self.assertIn(f"    {JOB_ID}: register_call, pending, 4 attempts", lines)
        self.assertTrue(any("RetryAttemptsExhausted after 4 invocation(s)" in line for line in lines), lines)
        self.assertFalse([op for op in fake.operations()
                          if op in ("sqs delete-message", "lambda invoke", "dynamodb scan")])
        self.assertEqual(len(fake.messages), 1)

    def test_redrive_within_a_day_reads_the_stream_runs_the_job_and_deletes_the_message(self):
        fake = FakeAws()
        code, lines = run(fake, True, SOON)
        self.assertEqual(code, 0, lines)
        self.assertEqual(len(fake.invoked), 1)
        records = fake.invoked[0]["Records"]
        self.assertEqual([r["dynamodb"]["NewImage"]["id"]["S"] for r in records], [JOB_ID])
        self.assertNotIn("dynamodb scan", fake.operations())
        self.assertEqual(fake.messages, [])
        self.assertIn(f"    {JOB_ID}: ran; now register_call, done, 4 attempts", lines)

    def test_redrive_after_a_day_takes_the_pending_jobs_from_the_table(self):
        fake = FakeAws()
        fake.jobs["other"] = dict(copy.deepcopy(JOB_ITEM), pk={"S": "JOB#other"}, id={"S": "other"})
        fake.jobs["finished"] = dict(copy.deepcopy(JOB_ITEM), pk={"S": "JOB#finished"},
                                     id={"S": "finished"}, status={"S": "done"})
        code, lines = run(fake, True, LATE)
        self.assertEqual(code, 0, lines)
        self.assertNotIn("dynamodbstreams get-records", fake.operations())
        self.assertIn("dynamodb scan", fake.operations())
        invoked = [r["dynamodb"]["NewImage"]["id"]["S"] for e in fake.invoked for r in e["Records"]]
        self.assertEqual(sorted(invoked), sorted([JOB_ID, "other"]))
        self.assertEqual(fake.messages, [])

    def test_a_job_reported_for_retry_keeps_its_message(self):
        fake = FakeAws(worker_fails=True)
        code, lines = run(fake, True, SOON)
        self.assertEqual(code, 1)
        self.assertEqual(len(fake.messages), 1)
        self.assertIn(f"    {JOB_ID}: reported for retry; now register_call, pending, 4 attempts", lines)

    def test_a_finished_job_is_left_alone(self):
        fake = FakeAws()
        fake.jobs[JOB_ID]["status"] = {"S": "failed"}
        code, lines = run(fake, True, SOON)
        self.assertEqual(code, 0)
        self.assertEqual(fake.invoked, [])
        self.assertIn(f"    {JOB_ID}: register_call, failed, 4 attempts, left alone", lines)
        self.assertEqual(fake.messages, [], "nothing left to do for it")


if __name__ == "__main__":
    unittest.main()
