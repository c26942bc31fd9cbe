// Runs inside a submission's sandbox: one call of a student's JavaScript module.
//
//     node node_runner.mjs MODULE FUNCTION REQUEST_JSON RESULT_JSON
//
// grader/runner.py forks a child per call; for a JavaScript module that child becomes
// this script (exec), with its output files, settings and limits already in place.
// It imports the module, calls the exported function with the request's arguments,
// awaits the value and writes the outcome, as data, to RESULT_JSON (never to stdout,
// where the student's own printing goes). Then it leaves at once, as the Python runner
// does: whatever the code left buffered or scheduled is not waited for.
//
// Values keep their types across the boundary with the same tags as grader/codec.py:
// {"$datetime": iso} is a Date, {"$bigint": "123"} a BigInt (an integer JSON cannot
// carry exactly), {"$float": "nan"} a NaN or an infinity.

import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [modulePath, functionName, requestPath, resultPath] = process.argv.slice(2);
const FLOATS = { nan: NaN, inf: Infinity, "-inf": -Infinity };
let stage = "import";
let finished = false;

function decode(value) {
  if (Array.isArray(value)) return value.map(decode);
  if (value === null || typeof value !== "object") return value;
  const keys = Object.keys(value);
  if (keys.length === 1 && keys[0] === "$datetime") return new Date(value.$datetime);
  if (keys.length === 1 && keys[0] === "$bigint") return BigInt(value.$bigint);
  if (keys.length === 1 && keys[0] === "$float") return FLOATS[value.$float] ?? NaN;
  return Object.fromEntries(keys.map((key) => [key, decode(value[key])]));
}

function encode(value, depth = 0) {
  if (depth > 100) throw new RangeError("the value is nested too deeply to send to the grader");
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case "boolean":
    case "string":
      return value;
    case "number":
      if (Number.isFinite(value)) return value;
      return { $float: Number.isNaN(value) ? "nan" : value > 0 ? "inf" : "-inf" };
    case "bigint":
      return { $bigint: value.toString() };
    case "object":
      if (value instanceof Date) {
        if (Number.isNaN(value.getTime())) throw new RangeError("an invalid Date cannot be sent");
        return { $datetime: value.toISOString() };
      }
      if (Array.isArray(value)) return value.map((item) => encode(item, depth + 1));
      if (value instanceof Map) return encode(Object.fromEntries(value), depth + 1);
      if (value instanceof Set) return encode([...value], depth + 1);
      return Object.fromEntries(
        Object.entries(value).map(([key, item]) => [key, encode(item, depth + 1)]),
      );
    default:
      throw new TypeError(`cannot send a value of type ${typeof value} to the grader`);
  }
}

function describe(error) {
  // A student may throw anything, not only an Error: a string, a number, null.
  const isObject = error !== null && typeof error === "object";
  let message;
  try {
    message = String(isObject && "message" in error ? error.message : error);
  } catch {
    message = "<an error whose message cannot be shown>";
  }
  const attrs = {};
  if (isObject) {
    for (const key of ["code", "statusCode", "statusMessage", "body"]) {
      try {
        if (error[key] !== undefined) attrs[key] = encode(error[key]);
      } catch {
        attrs[key] = String(error[key]).slice(0, 1000);
      }
    }
  }
  const folder = path.dirname(modulePath);
  const stack = isObject && typeof error.stack === "string" ? error.stack : "";
  const frames = stack
    .split("\n")
    .filter((line) => line.includes(folder) && !line.includes("node_modules"))
    .map((line) => line.trim().replace(`file://${folder}/`, "").replace(`${folder}/`, ""));
  let type = isObject && error.constructor ? error.constructor.name : typeof error;
  if (isObject && typeof error.name === "string" && error.name) type = error.name;
  return { type, message: message.slice(0, 4000), attrs, frames: frames.slice(0, 5) };
}

function finish(outcome) {
  if (finished) return;
  finished = true;
  let text;
  try {
    text = JSON.stringify(outcome);
  } catch (error) {
    text = JSON.stringify({ ok: false, stage: "result", error: describe(error) });
  }
  fs.writeFileSync(`${resultPath}.tmp`, text);
  fs.renameSync(`${resultPath}.tmp`, resultPath);
}

function fail(error) {
  finish({ ok: false, stage, error: describe(error) });
  process.exit(0);
}

process.on("uncaughtException", fail);
process.on("unhandledRejection", fail);
process.on("exit", () => {
  // process.exit() called by the student's code, or an event loop run dry while the
  // function's promise was still pending (only synchronous work is possible here).
  const why = "ended the process before it returned (process.exit(), or a promise left waiting on nothing)";
  finish({ ok: false, stage, error: describe(new Error(`${functionName}() ${why}`)) });
});

try {
  const request = JSON.parse(fs.readFileSync(requestPath, "utf8"));
  fs.unlinkSync(requestPath);
  const module = await import(pathToFileURL(modulePath).href);
  stage = "lookup";
  const target = module[functionName];
  if (typeof target !== "function") {
    finish({
      ok: false,
      stage,
      error: {
        type: "MissingExport",
        message: `${path.basename(modulePath)} exports no function ${functionName}()`,
        attrs: {},
        frames: [],
      },
    });
    process.exit(0);
  }
  stage = "call";
  const value = await target(...decode(request.args ?? []));
  stage = "result";
  finish({ ok: true, value: encode(value) });
  process.exit(0);
} catch (error) {
  fail(error);
}
