// graphile-worker's drain, as taskmill bench measures its own: N no-op jobs enqueued in
// bulk beforehand, then one worker pool started and timed until every job's completion
// is committed (the jobs table is empty).
//   node graphile_drain.mjs URL RUNS fast|defaults [CONCURRENCY]
// fast:     the settings of graphile-worker's own performance test: a local queue of
//           500 jobs (refetch delay 10 ms) and completions/failures batched with delay 0;
// defaults: the local queue and the batching left off (their defaults).
// Prints one JSON line: {"peer":"graphile-worker","mode":...,"drain_runs_per_sec":...}.
import pg from "pg";
import { Logger, run } from "graphile-worker";

const [url, runsArg, mode = "fast", concArg = "24"] = process.argv.slice(2);
const runs = Number.parseInt(runsArg, 10);
const concurrency = Number.parseInt(concArg, 10);
if (!url || !(runs > 0) || !["fast", "defaults"].includes(mode) || !(concurrency > 0)) {
  console.error("usage: node graphile_drain.mjs URL RUNS fast|defaults [CONCURRENCY]");
  process.exit(2);
}

const worker =
  mode === "fast"
    ? {
        localQueue: { size: 500, refetchDelay: { durationMs: 10 } },
        completeJobBatchDelay: 0,
        failJobBatchDelay: 0,
      }
    : {};
// Quiet: the default logger prints a line per job; only errors are printed.
const logger = new Logger(() => (level, message) => {
  if (level === "error") console.error(message);
});

// Bulk enqueue in one statement per 10,000 jobs through add_jobs (the schema and its
// functions are installed by a first, empty start of the runner below).
async function enqueue(client) {
  for (let done = 0; done < runs; done += 10000) {
    const n = Math.min(10000, runs - done);
    await client.query(
      `select graphile_worker.add_jobs(array(
         select json_populate_record(null::graphile_worker.job_spec,
                                     json_build_object('identifier', 'noop', 'payload', '{}'::json))
         from generate_series(1, $1)))`,
      [n],
    );
  }
}

const pool = new pg.Pool({ connectionString: url, max: 2 });
const options = {
  connectionString: url,
  concurrency,
  maxPoolSize: concurrency + 1,
  noHandleSignals: true,
  pollInterval: 2000,
  logger,
  taskList: { noop: async () => {} },
  preset: { worker },
};

// A first start migrates the schema; stop it before enqueueing, so the drain starts cold.
{
  const r = await run(options);
  await r.stop();
}
const client = await pool.connect();
await client.query("delete from graphile_worker._private_jobs");
const e0 = Date.now();
await enqueue(client);
const enqueueSecs = (Date.now() - e0) / 1000;

let completed = 0;
let resolveDone;
const done = new Promise((r) => (resolveDone = r));
const t0 = process.hrtime.bigint();
const runner = await run(options);
runner.events.on("job:success", () => {
  if (++completed === runs) resolveDone();
});
await done;
// A job's success is signalled before its completion is written: the drain ends when the
// jobs table is empty (polled every 2 ms; by then it holds at most a batch).
const countLeft = async () =>
  (await client.query("select count(*)::int as n from graphile_worker._private_jobs")).rows[0].n;
const deadline = Date.now() + 30000;
let left = await countLeft();
while (left > 0 && Date.now() < deadline) {
  await new Promise((r) => setTimeout(r, 2));
  left = await countLeft();
}
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
await runner.stop();
client.release();
await pool.end();
if (left !== 0) {
  console.error(`error: ${left} jobs still in the table after the drain`);
  process.exit(3);
}
console.log(
  JSON.stringify({
    peer: "graphile-worker",
    mode,
    runs,
    concurrency,
    enqueue_runs_per_sec: runs / enqueueSecs,
    drain_runs_per_sec: runs / secs,
  }),
);
