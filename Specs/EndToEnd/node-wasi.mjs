// Runs a WASI preview-1 command module under Node's WASI, as WasmKata runs it: ROOT preopened as "/", the
// arguments after ROOT, an exit status as the process's. Prints to stderr how long compiling and running took.
//   node node-wasi.mjs MODULE ROOT [ARG...]
import { readFile } from "node:fs/promises";
import { WASI } from "node:wasi";
const [module, root, ...args] = process.argv.slice(2);
const started = process.hrtime.bigint();
const ms = (from) => Number(process.hrtime.bigint() - from) / 1e6;
const compiled = await WebAssembly.compile(await readFile(module));
const compiledMs = ms(started);
const wasi = new WASI({ version: "preview1", args: [module, ...args], env: {}, preopens: { "/": root }, returnOnExit: true });
const instance = await WebAssembly.instantiate(compiled, wasi.getImportObject());
const running = process.hrtime.bigint();
const status = wasi.start(instance);
process.stderr.write(`node-wasi: compile ${compiledMs.toFixed(1)} ms, run ${ms(running).toFixed(1)} ms, status ${status}\n`);
process.exitCode = status;
