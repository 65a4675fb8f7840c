#!/usr/bin/env python3
"""Lists and re-drives what the worker's dead-letter queue holds (infra/redrive-dead-letters.sh).

  infra/redrive-dead-letters.sh [--stack NAME] [--region REGION]           list
  infra/redrive-dead-letters.sh [--stack NAME] [--region REGION] --redrive  re-drive

When the worker gives up on a batch of the table's stream, Lambda sends the queue not the
records but where they were: `DDBStreamBatchInfo` (stream ARN, shard, first and last
sequence number, arrival times). The jobs themselves stay in the table. So:

- within 24 hours of the batch (the stream's retention), the batch's records are read
  back from the stream and give the job ids;
- later, the stream has trimmed them: every job still pending in the table is taken
  instead (a Scan, by the operator's credentials, never by a function).

Re-driving invokes the worker with each still-pending job as the stream would deliver it
(an INSERT record whose NewImage is the job as stored now); jobs are idempotent, and one
that is done or failed is left alone. A message is deleted once every job of it ran
without being reported for retry; otherwise it stays, to look at or re-drive again.

Needs the AWS CLI with credentials allowed to: describe the stack, receive and delete
messages on the queue, read the stream (GetShardIterator, GetRecords), GetItem and Scan
on the table, and invoke the worker. Python 3.9+, standard library only.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

# DynamoDB Streams keeps records 24 hours; leave a margin for the time this run takes.
STREAM_RETENTION = dt.timedelta(hours=23, minutes=30)
# The worker's stream batch size (template.yaml): invocations carry at most this many.
WORKER_BATCH = 10
JOB_SK = "JOB"
JOB_PK_PREFIX = "JOB#"
# Enough pages to cross a shard's worth of empty responses without looping forever.
MAX_GET_RECORDS_CALLS = 100


class Unreplayable(Exception):
    """A message that is not a stream batch, or a batch that can no longer be read."""


@dataclass(frozen=True)
class StreamBatch:
    """One dead letter: where the batch the worker gave up on was in the stream."""

    message_id: str
    receipt_handle: str
    condition: str
    invocations: int
    stream_arn: str
    shard_id: str
    start_sequence: str
    end_sequence: str
    first_arrival: dt.datetime
    last_arrival: dt.datetime
    batch_size: int

    def readable_from_stream(self, now: dt.datetime) -> bool:
        return now - self.first_arrival < STREAM_RETENTION


def _timestamp(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def parse_message(message: dict) -> StreamBatch:
    """An SQS message (as `aws sqs receive-message` lists it) -> the batch it names."""
    try:
        body = json.loads(message["Body"])
        info = body["DDBStreamBatchInfo"]
        context = body.get("requestContext", {})
        return StreamBatch(
            message_id=message["MessageId"],
            receipt_handle=message["ReceiptHandle"],
            condition=context.get("condition", "unknown"),
            invocations=int(context.get("approximateInvokeCount", 0)),
            stream_arn=info["streamArn"],
            shard_id=info["shardId"],
            start_sequence=info["startSequenceNumber"],
            end_sequence=info["endSequenceNumber"],
            first_arrival=_timestamp(info["approximateArrivalOfFirstRecord"]),
            last_arrival=_timestamp(info["approximateArrivalOfLastRecord"]),
            batch_size=int(info["batchSize"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise Unreplayable(f"not a DynamoDB stream batch record ({error!r})") from error


def job_ids_from_records(records: Iterable[dict]) -> list[str]:
    """The jobs the stream records inserted (what the worker was given), in order."""
    ids = []
    for record in records:
        keys = record.get("dynamodb", {}).get("Keys", {})
        pk = keys.get("pk", {}).get("S", "")
        if record.get("eventName") == "INSERT" and keys.get("sk", {}).get("S") == JOB_SK \
                and pk.startswith(JOB_PK_PREFIX):
            ids.append(pk[len(JOB_PK_PREFIX):])
    return ids


def records_in_range(records: Iterable[dict], batch: StreamBatch) -> tuple[list[dict], bool]:
    """The records of `batch` among `records`, and whether the batch's end was passed."""
    start, end = int(batch.start_sequence), int(batch.end_sequence)
    kept, past_end = [], False
    for record in records:
        sequence = int(record["dynamodb"]["SequenceNumber"])
        if sequence > end:
            past_end = True
        elif sequence >= start:
            kept.append(record)
    return kept, past_end


def job_status(item: dict) -> str:
    return item.get("status", {}).get("S", "unknown")


def describe_job(item: dict) -> str:
    kind = item.get("kind", {}).get("S", "?")
    attempts = item.get("attempts", {}).get("N", "0")
    return f"{kind}, {job_status(item)}, {attempts} attempts"


def worker_event(items: list[dict], stream_arn: str, region: str, now: dt.datetime) -> dict:
    """The worker's input for `items` (jobs as stored): what the stream would deliver."""
    records = []
    for index, item in enumerate(items):
        records.append({
            "eventID": f"redrive-{index}",
            "eventName": "INSERT",
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": region,
            "eventSourceARN": stream_arn,
            "dynamodb": {
                "ApproximateCreationDateTime": int(now.timestamp()),
                "Keys": {"pk": item["pk"], "sk": item["sk"]},
                "NewImage": item,
                # The worker reports failures by this number; unique within the event.
                "SequenceNumber": str(index + 1),
                "SizeBytes": len(json.dumps(item)),
                "StreamViewType": "NEW_IMAGE",
            },
        })
    return {"Records": records}


class Aws:
    """`aws ... --output json`, with the region; tests pass a stand-in `run`."""

    def __init__(self, region: str | None, run: Callable[[list[str]], str] | None = None):
        self.region = region
        self._run = run or self._subprocess

    @staticmethod
    def _subprocess(args: list[str]) -> str:
        done = subprocess.run(["aws", *args], capture_output=True, text=True)
        if done.returncode != 0:
            raise RuntimeError(f"aws {' '.join(args[:2])} failed: {done.stderr.strip()}")
        return done.stdout

    def __call__(self, *args: str) -> dict:
        region = ["--region", self.region] if self.region else []
        out = self._run([*args, *region, "--output", "json"])
        return json.loads(out) if out.strip() else {}


@dataclass
class Stack:
    queue_url: str
    table: str
    worker: str


def find_stack(aws: Aws, stack: str) -> Stack:
    outputs = aws("cloudformation", "describe-stacks", "--stack-name", stack,
                  "--query", "Stacks[0].Outputs")
    values = {o["OutputKey"]: o["OutputValue"] for o in outputs or []}
    missing = {"JobDeadLetterQueueUrl", "CallsTableName"} - set(values)
    if missing:
        raise SystemExit(f"stack {stack} lacks outputs {sorted(missing)} (deployed? right region?)")
    # template.yaml names the worker "<stack>-worker".
    return Stack(values["JobDeadLetterQueueUrl"], values["CallsTableName"], f"{stack}-worker")


def receive_all(aws: Aws, queue_url: str, hold_seconds: int) -> list[dict]:
    """Every message in the queue, each held invisible to others for `hold_seconds`."""
    seen: dict[str, dict] = {}
    while True:
        answer = aws("sqs", "receive-message", "--queue-url", queue_url,
                     "--max-number-of-messages", "10", "--wait-time-seconds", "1",
                     "--visibility-timeout", str(hold_seconds), "--attribute-names", "All")
        fresh = [m for m in answer.get("Messages", []) if m["MessageId"] not in seen]
        if not fresh:
            return list(seen.values())
        seen.update((m["MessageId"], m) for m in fresh)


def read_batch(aws: Aws, batch: StreamBatch) -> list[dict]:
    """The batch's records, read back from the stream."""
    iterator = aws("dynamodbstreams", "get-shard-iterator", "--stream-arn", batch.stream_arn,
                   "--shard-id", batch.shard_id, "--shard-iterator-type", "AT_SEQUENCE_NUMBER",
                   "--sequence-number", batch.start_sequence).get("ShardIterator")
    kept: list[dict] = []
    for _ in range(MAX_GET_RECORDS_CALLS):
        if not iterator:
            break
        page = aws("dynamodbstreams", "get-records", "--shard-iterator", iterator)
        records, past_end = records_in_range(page.get("Records", []), batch)
        kept.extend(records)
        if past_end or any(r["dynamodb"]["SequenceNumber"] == batch.end_sequence for r in records):
            return kept
        iterator = page.get("NextShardIterator")
    if not kept:
        raise Unreplayable(f"no records of the batch in shard {batch.shard_id} (trimmed?)")
    return kept


def get_job(aws: Aws, table: str, job_id: str) -> dict | None:
    key = json.dumps({"pk": {"S": JOB_PK_PREFIX + job_id}, "sk": {"S": JOB_SK}})
    return aws("dynamodb", "get-item", "--table-name", table, "--key", key,
               "--consistent-read").get("Item")


def pending_jobs(aws: Aws, table: str) -> list[dict]:
    answer = aws("dynamodb", "scan", "--table-name", table,
                 "--filter-expression", "sk = :job AND #status = :pending",
                 "--expression-attribute-names", json.dumps({"#status": "status"}),
                 "--expression-attribute-values",
                 json.dumps({":job": {"S": JOB_SK}, ":pending": {"S": "pending"}}))
    return sorted(answer.get("Items", []), key=lambda i: int(i.get("created_at", {}).get("N", "0")))


def invoke_worker(aws: Aws, worker: str, event: dict) -> set[str]:
    """Runs the worker on `event`; the sequence numbers it reported for retry."""
    with tempfile.TemporaryDirectory() as tmp:
        payload, out = Path(tmp, "event.json"), Path(tmp, "answer.json")
        payload.write_text(json.dumps(event))
        # The worker may run up to its 120 s timeout: wait longer than the CLI's default
        # 60 s, which would otherwise invoke it a second time.
        meta = aws("lambda", "invoke", "--function-name", worker, "--cli-read-timeout", "180",
                   "--payload", f"fileb://{payload}", str(out))
        answer = json.loads(out.read_text() or "{}")
    if meta.get("FunctionError"):
        return {r["dynamodb"]["SequenceNumber"] for r in event["Records"]}
    return {f.get("itemIdentifier") for f in answer.get("batchItemFailures", [])}


def redrive_items(aws: Aws, stack: Stack, items: list[dict], stream_arn: str,
                  now: dt.datetime, say: Callable[[str], None]) -> bool:
    """Re-drives the pending ones of `items`, a worker batch at a time; True if none failed."""
    pending = [i for i in items if job_status(i) == "pending"]
    for item in items:
        if job_status(item) != "pending":
            say(f"    {item['pk']['S'][len(JOB_PK_PREFIX):]}: {describe_job(item)}, left alone")
    ok = True
    for start in range(0, len(pending), WORKER_BATCH):
        chunk = pending[start:start + WORKER_BATCH]
        failed = invoke_worker(aws, stack.worker, worker_event(chunk, stream_arn, aws.region or "", now))
        for index, item in enumerate(chunk):
            job_id = item["pk"]["S"][len(JOB_PK_PREFIX):]
            after = get_job(aws, stack.table, job_id) or item
            verdict = "reported for retry" if str(index + 1) in failed else "ran"
            say(f"    {job_id}: {verdict}; now {describe_job(after)}")
            ok &= str(index + 1) not in failed
    return ok


def run(aws: Aws, stack_name: str, redrive: bool, now: dt.datetime,
        say: Callable[[str], None] = print) -> int:
    stack = find_stack(aws, stack_name)
    # Listing holds messages briefly; re-driving long enough to run their jobs.
    hold = 900 if redrive else 30
    messages = receive_all(aws, stack.queue_url, hold_seconds=hold)
    say(f"{len(messages)} message(s) in {stack.queue_url} (hidden from other readers for {hold} s)")
    unreadable: list[StreamBatch] = []
    problems = 0
    for message in messages:
        try:
            batch = parse_message(message)
        except Unreplayable as error:
            say(f"- {message.get('MessageId')}: {error}; left in the queue")
            problems += 1
            continue
        age = now - batch.first_arrival
        say(f"- {batch.message_id}: {batch.condition} after {batch.invocations} invocation(s); "
            f"{batch.batch_size} record(s) of shard {batch.shard_id}, sequence "
            f"{batch.start_sequence}..{batch.end_sequence}, first {batch.first_arrival:%Y-%m-%dT%H:%M:%SZ} "
            f"({age.total_seconds() / 3600:.1f} h ago)")
        if not batch.readable_from_stream(now):
            say("    past the stream's 24 h: its jobs are among the table's pending jobs")
            unreadable.append(batch)
            continue
        try:
            job_ids = job_ids_from_records(read_batch(aws, batch))
        except Unreplayable as error:
            say(f"    {error}: its jobs are among the table's pending jobs")
            unreadable.append(batch)
            continue
        items = [item for job_id in job_ids if (item := get_job(aws, stack.table, job_id))]
        if not redrive:
            for item in items:
                say(f"    {item['pk']['S'][len(JOB_PK_PREFIX):]}: {describe_job(item)}")
            continue
        if redrive_items(aws, stack, items, batch.stream_arn, now, say):
            aws("sqs", "delete-message", "--queue-url", stack.queue_url,
                "--receipt-handle", batch.receipt_handle)
            say("    re-driven; message deleted")
        else:
            problems += 1
    if unreadable:
        items = pending_jobs(aws, stack.table)
        say(f"{len(items)} job(s) pending in {stack.table} (for the {len(unreadable)} message(s) past the stream)")
        if not redrive:
            for item in items:
                say(f"    {item['pk']['S'][len(JOB_PK_PREFIX):]}: {describe_job(item)}")
        elif redrive_items(aws, stack, items, unreadable[0].stream_arn, now, say):
            for batch in unreadable:
                aws("sqs", "delete-message", "--queue-url", stack.queue_url,
                    "--receipt-handle", batch.receipt_handle)
            say(f"    re-driven; {len(unreadable)} message(s) deleted")
        else:
            problems += 1
    if not redrive and messages:
        say("Run again with --redrive to re-drive them.")
    return 1 if problems else 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stack", default="slack-calls")
    parser.add_argument("--region")
    parser.add_argument("--redrive", action="store_true", help="re-drive, then delete what succeeded")
    args = parser.parse_args(argv)
    now = dt.datetime.now(dt.timezone.utc)
    return run(Aws(args.region), args.stack, args.redrive, now)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
