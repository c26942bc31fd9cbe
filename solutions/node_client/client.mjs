// Lab node_client: writing and querying with @influxdata/influxdb-client (reference solution).
//
// Contract (the grader calls these exported async functions in a child `node` process):
// - settings come from the environment: INFLUXDB_V2_URL, INFLUXDB_V2_ORG,
//   INFLUXDB_V2_BUCKET, INFLUXDB_V2_TOKEN;
// - the process ends as soon as a function's promise settles, without waiting for
//   timers or sockets: a function must leave nothing buffered behind it;
// - arguments arrive as JSON values, a Date for a time and a BigInt for an integer
//   larger than Number can hold exactly (a time in nanoseconds); a returned Date,
//   BigInt, number or string reaches the grader as it is.
// - the package is the version pinned in package.json (npm ci installs it); the
//   grader provides it, a submission brings no node_modules of its own.

import { InfluxDB, Point, flux } from "@influxdata/influxdb-client";

/** The client, organization and bucket of the environment. One client per call keeps
 * each function self-contained here; a long-running program makes one and reuses it. */
function connect() {
  const { INFLUXDB_V2_URL: url, INFLUXDB_V2_TOKEN: token } = process.env;
  return {
    influx: new InfluxDB({ url, token }),
    org: process.env.INFLUXDB_V2_ORG,
    bucket: process.env.INFLUXDB_V2_BUCKET,
  };
}

/** Write one reading as a Point in measurement "climate"; `when` is a Date.
 *
 * The write API's precision is what a Date is turned into: "ms" here, a Date's own.
 * A number given to timestamp() is taken as a count in that precision, so
 * when.getTime() with the default "ns" lands in January 1970.
 * floatField/intField fix the field types: JavaScript has one number type, and 21
 * written with intField is the integer 21i.
 * close() sends what is buffered and waits for the answer: without it the point
 * never leaves the process. */
export async function writeReading(device, room, temperature, humidity, when) {
  const { influx, org, bucket } = connect();
  const writer = influx.getWriteApi(org, bucket, "ms");
  writer.writePoint(
    new Point("climate")
      .tag("device", device)
      .tag("room", room)
      .floatField("temperature", temperature)
      .intField("humidity", humidity)
      .timestamp(when),
  );
  await writer.close();
}

/** Write line-protocol strings as given; `precision` ("s", "ms", "us" or "ns") says
 * what their timestamps count, and travels with the request. */
export async function writeLines(lines, precision) {
  const { influx, org, bucket } = connect();
  const writer = influx.getWriteApi(org, bucket, precision);
  writer.writeRecords(lines);
  await writer.close();
}

/** Write many readings through the batching writer; returns how many were handed over,
 * once InfluxDB has acknowledged every one of them.
 *
 * Each record is {measurement, tags, seq, value, time}: seq an integer field, value a
 * float field, time a BigInt of nanoseconds (Number(time) would round it to the
 * nearest 256 ns). `defaultTags` go on every point; a record's own tag of the same
 * name wins. The writer sends a request per `batchSize` points by itself; close()
 * sends the last, partial batch and waits for *its* answer only, so a batch that
 * left earlier may still be on its way: writeSuccess counts what was acknowledged,
 * and the function waits for all of it (writeFailed: the first failure ends it). */
export async function writeMany(records, batchSize, defaultTags) {
  const { influx, org, bucket } = connect();
  let acknowledged = 0;
  let failure;
  let wake = () => {};
  const writer = influx.getWriteApi(org, bucket, "ns", {
    batchSize,
    flushInterval: 0, // only full batches and close() send
    defaultTags,
    writeSuccess(lines) {
      acknowledged += lines.length;
      wake();
    },
    writeFailed(error) {
      failure = error;
      wake();
    },
  });
  for (const record of records) {
    const point = new Point(record.measurement)
      .intField("seq", record.seq)
      .floatField("value", record.value)
      .timestamp(record.time);
    for (const [key, value] of Object.entries(record.tags)) point.tag(key, value);
    writer.writePoint(point);
  }
  await writer.close();
  while (acknowledged < records.length && failure === undefined) {
    await new Promise((resolve) => (wake = resolve));
  }
  if (failure !== undefined) throw failure;
  return records.length;
}

/** Values of one field in [start, stop) as {time, value, <tag>: <value>...}, by time.
 *
 * The flux`` template turns each value into a Flux literal (a string quoted and
 * escaped, a Date a time), so no name can break the query. `time` is the server's
 * RFC 3339 string, exact to the nanosecond; group() then sort() orders the rows of
 * every series by time on the server (such strings do not sort as text: "05Z" and
 * "05.5Z" of the same second, for one). */
export async function queryRows(measurement, field, start, stop) {
  const { influx, org, bucket } = connect();
  const query = flux`from(bucket: ${bucket})
    |> range(start: ${start}, stop: ${stop})
    |> filter(fn: (r) => r._measurement == ${measurement} and r._field == ${field})
    |> group()
    |> sort(columns: ["_time"])`;
  const rows = await influx.getQueryApi(org).collectRows(query);
  const notTags = new Set(["result", "table", "_start", "_stop", "_time", "_value"]);
  return rows.map((row) => {
    const tags = Object.entries(row).filter(
      ([key]) => !notTags.has(key) && key !== "_field" && key !== "_measurement",
    );
    return { time: row._time, value: row._value, ...Object.fromEntries(tags) };
  });
}

/** The mean of `field` over every series whose tag `tag` equals `tagValue`, since
 * `start`; null when no value matches. The tag key goes in as a string literal too
 * (r["key"] is Flux for r.key), so even a key with quotes in it is only data. */
export async function meanByTag(measurement, field, tag, tagValue, start) {
  const { influx, org, bucket } = connect();
  const query = flux`from(bucket: ${bucket})
    |> range(start: ${start})
    |> filter(fn: (r) => r._measurement == ${measurement} and r._field == ${field})
    |> filter(fn: (r) => r[${tag}] == ${tagValue})
    |> group()
    |> mean()`;
  const rows = await influx.getQueryApi(org).collectRows(query);
  return rows.length && rows[0]._value !== null ? rows[0]._value : null;
}

/** How many values of `field` since `start` are above `threshold`, in every series.
 *
 * iterateRows() streams the rows as they arrive instead of collecting them all. */
export async function countAbove(measurement, field, threshold, start) {
  const { influx, org, bucket } = connect();
  const query = flux`from(bucket: ${bucket})
    |> range(start: ${start})
    |> filter(fn: (r) => r._measurement == ${measurement} and r._field == ${field})
    |> filter(fn: (r) => r._value > ${threshold})`;
  let count = 0;
  for await (const { values, tableMeta } of influx.getQueryApi(org).iterateRows(query)) {
    if (tableMeta.get(values, "_value") !== null) count += 1;
  }
  return count;
}
