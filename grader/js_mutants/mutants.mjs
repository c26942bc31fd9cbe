// Every mutant StrykerJS's instrumenter makes of one JavaScript file, printed as JSON:
// [{operator, code}], code being the whole file with that one change. The changes are
// spliced here, in JavaScript, because Babel's columns count UTF-16 units as JS strings do.
//
//   node mutants.mjs client.mjs
import { readFileSync } from "node:fs";
import { Instrumenter } from "@stryker-mutator/instrumenter";

const silent = () => false;
const logger = new Proxy({}, { get: (_, name) => (name.startsWith("is") ? silent : () => {}) });

const name = process.argv[2];
const content = readFileSync(name, "utf8");
const { mutants } = await new Instrumenter(logger).instrument([{ name, content, mutate: true }], {
  plugins: null,
  excludedMutations: [],
  ignorers: [],
  noHeader: true,
});

const starts = [0];
for (const line of content.split("\n")) starts.push(starts.at(-1) + line.length + 1);
const offset = ({ line, column }) => starts[line] + column; // Stryker counts lines from 0

const out = mutants.map(({ mutatorName, replacement, location }) => ({
  operator: mutatorName,
  code: content.slice(0, offset(location.start)) + replacement + content.slice(offset(location.end)),
}));
process.stdout.write(JSON.stringify(out));
