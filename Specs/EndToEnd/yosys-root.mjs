// Writes what @yowasp/yosys ships as a root directory (with an empty tmp/) for a container or Node's WASI: GEN/yosys.core.wasm (the
// WASI preview-1 module) as OUT/yosys.wasm and the share/ tree, which the package keeps in resources-yosys.js (small
// files as strings, big ones as URLs of files beside it), as plain files under OUT/share.
//   node yosys-root.mjs GEN OUT
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const [gen, out] = process.argv.slice(2);
const { filesystem } = await import(pathToFileURL(join(gen, "resources-yosys.js")).href);
const write = (tree, dir) => {
  mkdirSync(dir, { recursive: true });
  for (const [name, entry] of Object.entries(tree)) {
    const path = join(dir, name);
    if (typeof entry === "string") writeFileSync(path, entry);
    else if (entry instanceof URL) copyFileSync(fileURLToPath(entry), path);
    else write(entry, path);
  }
};
write(filesystem, out);
copyFileSync(join(gen, "yosys.core.wasm"), join(out, "yosys.wasm"));
// Yosys's passes (abc, abc9) write their scratch files under /tmp.
mkdirSync(join(out, "tmp"), { recursive: true });
